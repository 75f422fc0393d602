// `eb`: error-bounded lossy coding of float tensors: every decoded element is within E of the
// original (|w' - w| <= E), NaN and infinities are kept exactly (transform/bounded_quant.hpp).
//
// Each tensor is cut into chunks of `chunk_elems` elements, coded independently. In a chunk the
// quantized symbols are coded as a signed token stream (entropy/token_stream.hpp) whose context
// is the local magnitude: an exponential moving average of the preceding |q|, on a log scale.
// Rows of a weight matrix differ in scale (one output channel is all small, the next all large);
// the context follows them, and contexts with alike statistics share a table.
// A chunk of n elements is read as 4 lanes, lane j = elements [j*m, min(n, (j+1)*m)) with
// m = ceil(n / 4), each with its own moving average; the stream holds them interleaved (element
// k of lanes 0..3, then element k+1, ...; lanes that have ended are skipped), so the decoder
// follows four independent chains at once.
#pragma once
#include <cstdint>

#include "codecs/codec.hpp"

namespace nnz {

constexpr const char* kEbCodecId = "eb";
constexpr uint32_t kEbDefaultChunkElems = uint32_t{1} << 18;
constexpr uint32_t kEbMaxChunkElems = uint32_t{1} << 28;
constexpr int kEbContexts = 16;
constexpr int kEbMaxContextShift = 20;
constexpr size_t kEbLanes = 4;

struct EbOptions {
  double max_error = 0;  // E > 0
  uint32_t chunk_elems = kEbDefaultChunkElems;
  int threads = 1;
};

struct EbCodec {
  static constexpr const char* kId = kEbCodecId;
  using Settings = EbOptions;
  static EncodedTensor encode(const TensorRef& tensor, const EbOptions& options);
  static void decode(const DecodeRequest& req, uint8_t* out, int threads);
  static CodecDescription describe(ByteSpan params);  // the bound E, which is also the maximum error
};

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

// Calls visit(i, lane) for the elements of a chunk of n in stream order.
template <typename Visit>
inline void eb_for_each_in_stream_order(size_t n, Visit visit) {
  const size_t m = (n + kEbLanes - 1) / kEbLanes;
  size_t k = 0;
  const size_t full = n - (kEbLanes - 1) * m <= n ? n - (kEbLanes - 1) * m : 0;  // length of the last lane
  for (; k < full; ++k)
    for (size_t j = 0; j < kEbLanes; ++j) visit(j * m + k, j);
  for (; k < m; ++k)
    for (size_t j = 0; j < kEbLanes && j * m + k < n; ++j) visit(j * m + k, j);
}

}  // namespace nnz
