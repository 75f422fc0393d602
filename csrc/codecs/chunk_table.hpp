// The framing shared by chunked codecs (lossless, pl, eb, dq, delta): a u32 byte size per chunk,
// then the chunks.
#pragma once
#include <algorithm>
#include <string>
#include <vector>

#include "common/byte_io.hpp"
#include "common/checked_math.hpp"
#include "common/error.hpp"
#include "common/parallel.hpp"
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

// Decodes a payload of `count` elements cut into chunks of chunk_elems, on up to `threads` threads:
// decode(chunk, first, n) for each chunk, which holds the elements [first, first + n).
template <typename Decode>
inline void decode_chunks(ByteSpan payload, uint64_t count, uint64_t chunk_elems, int threads, const char* what,
                          Decode decode) {
  const std::vector<ByteSpan> chunks = read_chunk_table(payload, ceil_div(count, chunk_elems), what);
  parallel_for(chunks.size(), threads, [&](size_t c) {
    const uint64_t first = static_cast<uint64_t>(c) * chunk_elems;
    decode(chunks[c], first, static_cast<size_t>(std::min<uint64_t>(chunk_elems, count - first)));
  });
}

}  // namespace nnz
