#include <cstring>

#include "codecs/raw/raw.hpp"
#include "common/checked_math.hpp"
#include "common/error.hpp"

namespace nnz {

void RawCodec::decode(const DecodeRequest& req, uint8_t* out, int) {
  describe(req.params);
  const uint64_t bytes = checked_mul(req.count, dtype_bytes(req.dtype), "raw tensor");
  NNZ_CHECK(req.payload.size == bytes, corrupt, "raw: payload size does not match the tensor shape");
  if (bytes) std::memcpy(out, req.payload.data, req.payload.size);
}

CodecDescription RawCodec::describe(ByteSpan params) {
  NNZ_CHECK(params.size == 0, corrupt, "raw: unexpected parameters");
  return kExactCodec;
}

}  // namespace nnz
