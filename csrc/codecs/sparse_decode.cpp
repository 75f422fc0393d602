#include "codecs/sparse.hpp"
#include "common/checked_math.hpp"
#include "common/error.hpp"
#include "entropy/positions.hpp"
#include "transform/sparsity.hpp"

namespace nnz {

void sparse_decode(const DecodeRequest& req, uint8_t* out, int threads) {
  ByteReader params(req.params, "sparse parameters");
  const std::string inner_codec = params.str(params.u8());
  const ByteSpan inner_params = params.bytes(params.u32());
  params.expect_end();
  NNZ_CHECK(inner_codec != kSparseCodecId, corrupt, "sparse: nested sparse coding");

  ByteReader payload(req.payload, "sparse payload");
  const uint64_t nnz = payload.u64();
  NNZ_CHECK(nnz <= req.count, corrupt, "sparse: more non-zeros than elements");
  ByteReader positions(payload.bytes(payload.u64()), "sparse positions");
  const size_t n = to_size(req.count, "sparse tensor");
  std::vector<uint8_t> mask(n);
  NNZ_CHECK(decode_positions(positions, n, mask.data()) == nnz, corrupt, "sparse: positions do not match the count");
  positions.expect_end();

  const size_t esize = static_cast<size_t>(dtype_bytes(req.dtype));
  std::vector<uint8_t> values(to_size(checked_mul(nnz, esize, "sparse values"), "sparse values"));
  const ByteSpan inner_payload = payload.bytes(payload.remaining());
  decode_tensor(DecodeRequest{inner_codec, req.dtype, nnz, inner_params, inner_payload}, values.data(), threads);
  scatter_nonzero(values.data(), mask.data(), n, esize, out);
}

}  // namespace nnz
