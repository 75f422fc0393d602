// `raw`: the element bytes as they are (little-endian), no parameters. The baseline, and the
// choice for tensors that must stay memory-mappable.
#pragma once
#include "codecs/codec.hpp"

namespace nnz {

constexpr const char* kRawCodecId = "raw";

struct RawSettings {};

struct RawCodec {
  static constexpr const char* kId = kRawCodecId;
  using Settings = RawSettings;
  static EncodedTensor encode(const TensorRef& tensor, const RawSettings& settings);
  static void decode(const DecodeRequest& req, uint8_t* out, int threads);
  static CodecDescription describe(ByteSpan params);
};

}  // namespace nnz
