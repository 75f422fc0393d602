// `raw`: the element bytes as they are (little-endian), no parameters. The baseline, and the
// choice for tensors that must stay memory-mappable.
#pragma once
#include "codecs/codec.hpp"

namespace nnz {

constexpr const char* kRawCodecId = "raw";

EncodedTensor raw_encode(const TensorRef& tensor);
void raw_decode(const DecodeRequest& req, uint8_t* out);

}  // namespace nnz
