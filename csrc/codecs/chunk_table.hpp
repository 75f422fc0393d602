// The framing shared by chunked codecs (lossless, pl, eb): a u32 byte size per chunk, then the chunks.
#pragma once
#include <string>
#include <vector>

#include "common/byte_io.hpp"
#include "common/error.hpp"
#include "common/huge_pages.hpp"

namespace nnz {

// Writes the chunk table and the chunks (the counterpart of read_chunk_table).
inline void write_chunk_table(const std::vector<std::vector<uint8_t>>& chunks, std::vector<uint8_t>& payload,
                              const char* what) {
  size_t total = 4 * chunks.size();
  for (const std::vector<uint8_t>& chunk : chunks) total += chunk.size();
  payload.reserve(payload.size() + total);
  advise_huge_pages(payload.data(), payload.capacity());
  ByteWriter out(payload);
  for (const std::vector<uint8_t>& chunk : chunks) {
    NNZ_CHECK(chunk.size() <= UINT32_MAX, internal, std::string(what) + ": chunk larger than 4 GiB");
    out.u32(static_cast<uint32_t>(chunk.size()));
  }
  for (const std::vector<uint8_t>& chunk : chunks) out.bytes(chunk);
}

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
