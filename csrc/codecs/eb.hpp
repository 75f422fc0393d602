// `eb`: error-bounded lossy coding of float tensors: every decoded element is within E of the
// original (|w' - w| <= E), NaN and infinities are kept exactly (transform/bounded_quant.hpp).
//
// Each tensor is cut into chunks of `chunk_elems` elements, coded independently. In a chunk the
// quantized symbols are coded as a signed token stream (entropy/token_stream.hpp) whose context
// is the local magnitude: an exponential moving average of the preceding |q| in the chunk, on a
// log scale. Rows of a weight matrix differ in scale (one output channel is all small, the next
// all large); the context follows them, and contexts with alike statistics share a table.
#pragma once
#include <cstdint>

#include "codecs/codec.hpp"

namespace nnz {

constexpr const char* kEbCodecId = "eb";
constexpr uint32_t kEbDefaultChunkElems = uint32_t{1} << 18;
constexpr uint32_t kEbMaxChunkElems = uint32_t{1} << 28;
constexpr int kEbContexts = 16;
constexpr int kEbMaxContextShift = 20;

struct EbOptions {
  double max_error = 0;  // E > 0
  uint32_t chunk_elems = kEbDefaultChunkElems;
  int threads = 1;
};

EncodedTensor eb_encode(const TensorRef& tensor, const EbOptions& options);
void eb_decode(const DecodeRequest& req, uint8_t* out, int threads);

// The context model, shared by encoder and decoder. `level` is a moving average of |q| with 4
// fraction bits: level' = level - level/8 + min(|q|, 65535) * 16 / 8 (integer divisions).
inline uint32_t eb_next_level(uint32_t level, uint32_t magnitude) {
  const uint32_t a = (magnitude < 65535 ? magnitude : 65535) << 4;
  return level - (level >> 3) + (a >> 3);
}
// Context of the next symbol: about 2 log2(level >> shift), in 0..15.
inline int eb_context(uint32_t level, int shift) {
  const uint32_t x = level >> shift;
  if (x == 0) return 0;
  const int len = 32 - __builtin_clz(x);
  const int half = len >= 2 ? static_cast<int>((x >> (len - 2)) & 1) : 0;
  const int c = 2 * len - 1 + half;
  return c < kEbContexts ? c : kEbContexts - 1;
}

}  // namespace nnz
