#include "codecs/sparse/sparse.hpp"
#include "common/checked_math.hpp"
#include "common/error.hpp"
#include "entropy/positions_encode.hpp"
#include "transform/sparsity_encode.hpp"

namespace nnz {

std::vector<uint8_t> sparse_values(const TensorRef& tensor) {
  const size_t n = to_size(tensor.count, "sparse tensor"), esize = static_cast<size_t>(dtype_bytes(tensor.dtype));
  std::vector<uint8_t> mask(n);
  nonzero_mask(tensor.data, n, esize, mask.data());
  return gather_nonzero(tensor.data, mask.data(), n, esize);
}

EncodedTensor SparseCodec::encode(const TensorRef& tensor, const SparseSettings& settings) {
  const EncodedTensor& inner = settings.inner;
  NNZ_CHECK(inner.codec != kSparseCodecId && !inner.codec.empty() && inner.codec.size() <= 255, invalid_argument,
            "sparse: bad inner codec");
  NNZ_CHECK(inner.params.size() <= UINT32_MAX, invalid_argument, "sparse: inner parameters too large");
  const size_t n = to_size(tensor.count, "sparse tensor"), esize = static_cast<size_t>(dtype_bytes(tensor.dtype));
  std::vector<uint8_t> mask(n);
  const size_t nnz = nonzero_mask(tensor.data, n, esize, mask.data());
  std::vector<uint8_t> positions;
  encode_positions(mask.data(), n, positions);

  EncodedTensor result;
  result.codec = kSparseCodecId;
  ByteWriter params(result.params);
  params.u8(static_cast<uint8_t>(inner.codec.size()));
  params.bytes(inner.codec.data(), inner.codec.size());
  params.u32(static_cast<uint32_t>(inner.params.size()));
  params.bytes(inner.params);
  ByteWriter payload(result.payload);
  payload.u64(nnz);
  payload.u64(positions.size());
  payload.bytes(positions);
  payload.bytes(inner.payload);
  result.chunks = inner.chunks;
  return result;
}

}  // namespace nnz
