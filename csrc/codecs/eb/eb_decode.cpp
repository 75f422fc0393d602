#include <cstring>

#include "codecs/chunk_table.hpp"
#include "codecs/eb/eb.hpp"
#include "codecs/quantized_chunk_decode.hpp"
#include "common/error.hpp"
#include "entropy/token_decode.hpp"
#include "transform/bounded_quant.hpp"

namespace nnz {
namespace {

// Decodes the symbols of one chunk; store(i, q) writes element i.
template <typename Store>
void decode_symbols(ByteReader& in, size_t n, int shift, Store store) {
  TokenStreamDecoder tokens(in, kMagnitudeContexts);
  uint32_t level[kMagnitudeLanes] = {0, 0, 0, 0};
  for_each_in_lane_order(n, [&](size_t i, size_t lane) {
    const int64_t q = tokens.next_signed(magnitude_context(level[lane], shift));
    store(i, q);
    level[lane] = magnitude_next_level(level[lane], static_cast<uint32_t>(q < 0 ? -q : q));
  });
  tokens.finish();
}

struct EbParams {
  double max_error;
  uint32_t chunk_elems;
};

EbParams read_params(ByteSpan bytes) {
  ByteReader params(bytes, "eb parameters");
  const uint64_t error_bits = params.u64();
  EbParams p{0, params.u32()};
  params.expect_end();
  std::memcpy(&p.max_error, &error_bits, 8);
  NNZ_CHECK(std::isfinite(p.max_error) && p.max_error > 0 && std::isfinite(2 * p.max_error), corrupt,
            "eb: bad error bound");
  NNZ_CHECK(p.chunk_elems >= 1 && p.chunk_elems <= kEbMaxChunkElems, corrupt, "eb: bad chunk size");
  return p;
}

}  // namespace

void EbCodec::decode(const DecodeRequest& req, uint8_t* out, int threads) {
  NNZ_CHECK(dtype_info(req.dtype).kind == DTypeKind::floating, corrupt, "eb: tensor is not a float dtype");
  const EbParams params = read_params(req.params);
  const uint32_t chunk_elems = params.chunk_elems;
  const size_t esize = static_cast<size_t>(dtype_bytes(req.dtype));
  const double step = bounded_step(params.max_error);
  decode_chunks(req.payload, req.count, chunk_elems, threads, "eb payload", [&](ByteSpan chunk, uint64_t first, size_t n) {
    decode_quantized_chunk("eb", "eb chunk", req.dtype, chunk, n, step, out + first * esize,
                           [&](ByteReader& in, int shift, auto store) { decode_symbols(in, n, shift, store); });
  });
}

CodecDescription EbCodec::describe(ByteSpan params) {
  const double bound = read_params(params).max_error;
  return CodecDescription{bound, bound};
}

}  // namespace nnz
