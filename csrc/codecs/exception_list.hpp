// The exceptions of the quantizing codecs (eb, dq): elements stored verbatim (NaN, infinities,
// values the quantizer cannot reach). Layout: u32 count, then per exception, in increasing index
// order, varint(index - (previous index + 1)) and the element's bytes.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/byte_io.hpp"
#include "common/error.hpp"

namespace nnz {

inline void write_exception_list(ByteWriter& w, const std::vector<uint32_t>& indices, const uint8_t* src, size_t esize) {
  w.u32(static_cast<uint32_t>(indices.size()));
  uint32_t next = 0;
  for (uint32_t i : indices) {
    for (uint32_t gap = i - next; ; gap >>= 7) {
      if (gap < 0x80) {
        w.u8(static_cast<uint8_t>(gap));
        break;
      }
      w.u8(static_cast<uint8_t>(gap | 0x80));
    }
    w.bytes(src + static_cast<size_t>(i) * esize, esize);
    next = i + 1;
  }
}

// The exceptions of a chunk of n elements: (index, element bytes) in increasing index order.
inline std::vector<std::pair<uint32_t, ByteSpan>> read_exception_list(ByteReader& in, size_t n, size_t esize,
                                                                      const char* codec) {
  const uint32_t count = in.u32();
  NNZ_CHECK(count <= n && count <= in.remaining() / (1 + esize), corrupt,
            std::string(codec) + ": more exceptions than elements or bytes");
  std::vector<std::pair<uint32_t, ByteSpan>> exceptions(count);
  uint64_t next = 0;
  for (auto& e : exceptions) {
    uint64_t gap = 0;
    for (int shift = 0;; shift += 7) {
      NNZ_CHECK(shift < 35, corrupt, std::string(codec) + ": malformed exception index");
      const uint8_t b = in.u8();
      gap |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) break;
    }
    NNZ_CHECK(gap < n && next + gap < n, corrupt, std::string(codec) + ": exception index outside the chunk");
    e = {static_cast<uint32_t>(next + gap), in.bytes(esize)};
    next += gap + 1;
  }
  return exceptions;
}

}  // namespace nnz
