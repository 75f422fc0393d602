#include <cstring>

#include "codecs/chunk_table.hpp"
#include "codecs/eb/eb.hpp"
#include "codecs/exception_list.hpp"
#include "common/checked_math.hpp"
#include "common/error.hpp"
#include "common/parallel.hpp"
#include "entropy/magnitude_context.hpp"
#include "entropy/token_decode.hpp"
#include "transform/bounded_quant.hpp"
#include "transform/float_convert.hpp"

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

void decode_chunk(DType dtype, ByteSpan chunk, size_t n, double step, uint8_t* dst) {
  ByteReader in(chunk, "eb chunk");
  const int shift = in.u8();
  NNZ_CHECK(shift <= kMagnitudeMaxShift, corrupt, "eb: bad context scale");
  const size_t esize = static_cast<size_t>(dtype_bytes(dtype));
  const auto exceptions = read_exception_list(in, n, esize, "eb");
  if (dtype == DType::float32) {
    // Stores through float* (not uint8_t*, which may alias the decoder's state and would force
    // the compiler to reload it after every element).
    std::vector<float> staging;
    float* values = reinterpret_cast<uintptr_t>(dst) % alignof(float) == 0 ? reinterpret_cast<float*>(dst)
                                                                           : (staging.resize(n), staging.data());
    decode_symbols(in, n, shift, [&](size_t i, int64_t q) { values[i] = to_float32(static_cast<double>(q) * step); });
    if (!staging.empty()) std::memcpy(dst, staging.data(), n * sizeof(float));
  } else {
    decode_symbols(in, n, shift, [&](size_t i, int64_t q) { store_float(dtype, static_cast<double>(q) * step, dst + esize * i); });
  }
  in.expect_end();
  for (const auto& e : exceptions) std::memcpy(dst + esize * e.first, e.second.data, esize);
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
  const std::vector<ByteSpan> chunks = read_chunk_table(req.payload, ceil_div(req.count, chunk_elems), "eb payload");
  const size_t esize = static_cast<size_t>(dtype_bytes(req.dtype));
  const double step = bounded_step(params.max_error);
  parallel_for(chunks.size(), threads, [&](size_t c) {
    const uint64_t first = static_cast<uint64_t>(c) * chunk_elems;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk_elems, req.count - first));
    decode_chunk(req.dtype, chunks[c], n, step, out + first * esize);
  });
}

CodecDescription EbCodec::describe(ByteSpan params) {
  const double bound = read_params(params).max_error;
  return CodecDescription{bound, bound};
}

}  // namespace nnz
