// `eb`: error-bounded lossy coding of float tensors: every decoded element is within E of the
// original (|w' - w| <= E), NaN and infinities are kept exactly (transform/bounded_quant.hpp).
//
// Each tensor is cut into chunks of `chunk_elems` elements, coded independently. In a chunk the
// quantized symbols are coded as a signed token stream (entropy/token_stream.hpp) whose context
// is the local magnitude, read in 4 lanes (entropy/magnitude_context.hpp).
#pragma once
#include <cstdint>

#include "codecs/codec.hpp"

namespace nnz {

constexpr const char* kEbCodecId = "eb";
constexpr uint32_t kEbDefaultChunkElems = uint32_t{1} << 18;
constexpr uint32_t kEbMaxChunkElems = uint32_t{1} << 28;

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

}  // namespace nnz
