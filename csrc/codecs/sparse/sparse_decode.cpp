#include "codecs/codec_table.hpp"
#include "codecs/sparse/sparse.hpp"
#include "common/checked_math.hpp"
#include "common/error.hpp"
#include "entropy/positions_decode.hpp"
#include "transform/sparsity.hpp"

namespace nnz {

namespace {

struct InnerCoding {
  std::string codec;
  ByteSpan params;
};

InnerCoding read_params(ByteSpan bytes) {
  ByteReader params(bytes, "sparse parameters");
  InnerCoding inner;
  inner.codec = params.str(params.u8());
  inner.params = params.bytes(params.u32());
  params.expect_end();
  NNZ_CHECK(inner.codec != kSparseCodecId, corrupt, "sparse: nested sparse coding");
  return inner;
}

}  // namespace

void SparseCodec::decode(const DecodeRequest& req, uint8_t* out, int threads) {
  const InnerCoding inner = read_params(req.params);

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
  decode_tensor(DecodeRequest{inner.codec, req.dtype, nnz, inner.params, inner_payload}, values.data(), threads);
  scatter_nonzero(values.data(), mask.data(), n, esize, out);
}

CodecDescription SparseCodec::describe(ByteSpan params) {
  const InnerCoding inner = read_params(params);
  const Codec* codec = find_codec(inner.codec);
  NNZ_CHECK(codec != nullptr, unsupported, "sparse: unknown inner codec '" + inner.codec + "'");
  return codec->describe(inner.params);
}

}  // namespace nnz
