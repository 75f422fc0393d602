// The framing shared by chunked codecs (lossless, eb, delta): a u32 byte size per chunk, then the chunks.
#pragma once
#include <string>
#include <vector>

#include "common/byte_io.hpp"
#include "common/error.hpp"
#include "codecs/codec.hpp"

namespace nnz {

// Appends the chunk table to the payload of `result` and moves the chunks after it, not copied
// (the counterpart of read_chunk_table).
inline void write_chunk_table(std::vector<std::vector<uint8_t>>& chunks, EncodedTensor& result, const char* what) {
  NNZ_CHECK(result.chunks.empty(), internal, std::string(what) + ": a second chunk table");
  ByteWriter out(result.payload);
  for (const std::vector<uint8_t>& chunk : chunks) {
    NNZ_CHECK(chunk.size() <= UINT32_MAX, internal, std::string(what) + ": chunk larger than 4 GiB");
    out.u32(static_cast<uint32_t>(chunk.size()));
  }
  result.chunks = std::move(chunks);
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
