// The framing shared by chunked codecs (lossless, pl, eb): a u32 byte size per chunk, then the chunks.
#pragma once
#include <string>
#include <vector>

#include "common/byte_io.hpp"
#include "common/error.hpp"

namespace nnz {

// Splits a payload into `count` chunks; the sizes must account for every byte.
inline std::vector<ByteSpan> read_chunk_table(ByteSpan payload, uint64_t count, const char* what) {
  ByteReader in(payload, what);
  NNZ_CHECK(count <= in.remaining() / 4, corrupt, std::string(what) + ": chunk table larger than the payload");
  std::vector<uint32_t> sizes(static_cast<size_t>(count));
  for (uint32_t& s : sizes) s = in.u32();
  std::vector<ByteSpan> chunks(sizes.size());
  for (size_t c = 0; c < chunks.size(); ++c) chunks[c] = in.bytes(sizes[c]);
  in.expect_end();
  return chunks;
}

}  // namespace nnz
