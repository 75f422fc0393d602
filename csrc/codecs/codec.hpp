// What every codec sees: a tensor as little-endian element bytes, and what it produces: a codec id
// (frozen string written into files), a small parameter blob kept in the container index (readable
// without touching the payload), and the payload.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "common/byte_io.hpp"
#include "common/dtype.hpp"

namespace nnz {

struct TensorRef {
  DType dtype;
  uint64_t count;       // number of elements
  const uint8_t* data;  // count * dtype_bytes(dtype) bytes, little-endian elements
};

struct EncodedTensor {
  std::string codec;
  std::vector<uint8_t> params;
  std::vector<uint8_t> payload;
};

struct DecodeRequest {
  const std::string& codec;
  DType dtype;
  uint64_t count;
  ByteSpan params;
  ByteSpan payload;
};

// Decodes into out (count * dtype_bytes bytes). Unknown codec ids fail with ErrorCode::unsupported;
// damaged payloads with ErrorCode::corrupt. `threads` > 1 lets a codec decode chunks in parallel.
void decode_tensor(const DecodeRequest& req, uint8_t* out, int threads = 1);

// True if this build can decode the codec id.
bool codec_is_known(const std::string& codec);

}  // namespace nnz
