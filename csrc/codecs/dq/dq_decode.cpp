#include <cmath>
#include <cstring>

#include "codecs/chunk_table.hpp"
#include "codecs/dq/dq.hpp"
#include "codecs/quantized_chunk_decode.hpp"
#include "common/error.hpp"
#include "common/scratch.hpp"
#include "entropy/token_decode.hpp"

namespace nnz {
namespace {

// One lane of a chunk as the decoder follows it.
struct Lane {
  int state = 0;
  uint32_t level = 0, previous = 0;
};

// The token of `lane`'s next level from token(ctx); records the token and its quantizer as
// token | q << 8 (not as bytes: byte stores may alias the decoder's state, which the compiler
// would then reload after each of them).
template <typename Token>
inline void follow_token(const TokenStreamDecoder& tokens, Lane& lane, int shift, Token token, uint16_t* out) {
  const int q = dq_quantizer(lane.state);
  const uint32_t t = token(dq_context(q, lane.level, lane.previous, shift));
  *out = static_cast<uint16_t>(t | static_cast<uint32_t>(q) << 8);
  const uint32_t magnitude = tokens.meaning(t).high;  // dq_context_magnitude of the level
  lane.state = kDqNextState[lane.state][magnitude & 1];
  lane.previous = magnitude;
  lane.level = magnitude_next_level(lane.level, magnitude);
}

// Decodes the levels of one chunk; store(i, r) writes element i from its value r in units of D.
// First the tokens (the lanes' states and contexts follow them), then the values from the raw bits.
template <typename Store>
void decode_levels(ByteReader& in, size_t n, int shift, Store store) {
  TokenStreamDecoder tokens(in, kDqContexts, TokenScheme::parity);
  const std::unique_ptr<uint16_t[]> token = scratch_array<uint16_t>(n);
  Lane lanes[kMagnitudeLanes];
  const size_t m = magnitude_lane_length(n);
  const size_t full = n >= (kMagnitudeLanes - 1) * m ? n - (kMagnitudeLanes - 1) * m : 0;
  // While every lane has elements, value j of a round sits at a stream position = j mod 4.
  size_t pos = 0;
  for (size_t k = 0; k < full; ++k, pos += 4) {
    follow_token(tokens, lanes[0], shift, [&](int c) { return tokens.token_at<0>(c); }, &token[pos]);
    follow_token(tokens, lanes[1], shift, [&](int c) { return tokens.token_at<1>(c); }, &token[pos + 1]);
    follow_token(tokens, lanes[2], shift, [&](int c) { return tokens.token_at<2>(c); }, &token[pos + 2]);
    follow_token(tokens, lanes[3], shift, [&](int c) { return tokens.token_at<3>(c); }, &token[pos + 3]);
  }
  for (size_t k = full; k < m; ++k)
    for (size_t j = 0; j < kMagnitudeLanes && j * m + k < n; ++j, ++pos)
      follow_token(tokens, lanes[j], shift, [&](int c) { return tokens.token(c); }, &token[pos]);
  pos = 0;
  for_each_in_lane_order(n, [&](size_t i, size_t) {
    store(i, dq_reconstruction(token[pos] >> 8, tokens.signed_value(token[pos] & 0xFF)));
    ++pos;
  });
  tokens.finish();
}

struct DqParams {
  double step;
  double rmse_bound;
  double rmse;
  double max_error;
  uint32_t chunk_elems;
};

double get_f64(ByteReader& in) {
  const uint64_t bits = in.u64();
  double v;
  std::memcpy(&v, &bits, 8);
  return v;
}

DqParams read_params(ByteSpan bytes) {
  ByteReader params(bytes, "dq parameters");
  DqParams p{};
  p.step = get_f64(params);
  p.rmse_bound = get_f64(params);
  p.rmse = get_f64(params);
  p.max_error = get_f64(params);
  p.chunk_elems = params.u32();
  params.expect_end();
  // Levels reach 2^30, values 2^31 steps: the product must stay finite.
  NNZ_CHECK(std::isfinite(p.step) && p.step > 0 && std::isfinite(p.step * 4294967296.0), corrupt, "dq: bad step");
  for (double v : {p.rmse_bound, p.rmse, p.max_error})
    NNZ_CHECK(std::isfinite(v) && v >= 0, corrupt, "dq: bad error figures");
  NNZ_CHECK(p.chunk_elems >= 1 && p.chunk_elems <= kDqMaxChunkElems, corrupt, "dq: bad chunk size");
  return p;
}

}  // namespace

void DqCodec::decode(const DecodeRequest& req, uint8_t* out, int threads) {
  NNZ_CHECK(dtype_info(req.dtype).kind == DTypeKind::floating, corrupt, "dq: tensor is not a float dtype");
  const DqParams params = read_params(req.params);
  const uint32_t chunk_elems = params.chunk_elems;
  const size_t esize = static_cast<size_t>(dtype_bytes(req.dtype));
  decode_chunks(req.payload, req.count, chunk_elems, threads, "dq payload", [&](ByteSpan chunk, uint64_t first, size_t n) {
    decode_quantized_chunk("dq", "dq chunk", req.dtype, chunk, n, params.step, out + first * esize,
                           [&](ByteReader& in, int shift, auto store) { decode_levels(in, n, shift, store); });
  });
}

CodecDescription DqCodec::describe(ByteSpan params) {
  const DqParams p = read_params(params);
  return CodecDescription{p.max_error, p.max_error, p.rmse_bound, p.rmse};
}

}  // namespace nnz
