#include <cstring>

#include "codecs/raw.hpp"
#include "common/checked_math.hpp"
#include "common/error.hpp"

namespace nnz {

EncodedTensor raw_encode(const TensorRef& tensor) {
  EncodedTensor result;
  result.codec = kRawCodecId;
  const size_t bytes = to_size(checked_mul(tensor.count, dtype_bytes(tensor.dtype), "raw tensor"), "raw tensor");
  result.payload.assign(tensor.data, tensor.data + bytes);
  return result;
}

void raw_decode(const DecodeRequest& req, uint8_t* out) {
  NNZ_CHECK(req.params.size == 0, corrupt, "raw: unexpected parameters");
  const uint64_t bytes = checked_mul(req.count, dtype_bytes(req.dtype), "raw tensor");
  NNZ_CHECK(req.payload.size == bytes, corrupt, "raw: payload size does not match the tensor shape");
  if (bytes) std::memcpy(out, req.payload.data, req.payload.size);
}

}  // namespace nnz
