#include "codecs/raw/raw.hpp"
#include "common/checked_math.hpp"

namespace nnz {

EncodedTensor RawCodec::encode(const TensorRef& tensor, const RawSettings&) {
  EncodedTensor result;
  result.codec = kRawCodecId;
  const size_t bytes = to_size(checked_mul(tensor.count, dtype_bytes(tensor.dtype), "raw tensor"), "raw tensor");
  result.payload.assign(tensor.data, tensor.data + bytes);
  return result;
}

}  // namespace nnz
