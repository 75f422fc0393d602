// Reading planes (layout: plane_coder.hpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "common/byte_io.hpp"
#include "entropy/plane_coder.hpp"

namespace nnz {

// A plane located but not yet expanded, for decoders that consume packed bits in place.
struct PlaneView {
  PlaneMode mode;
  uint64_t constant;  // mode constant
  ByteSpan bytes;     // packed: exactly ceil(n * width / 8) bytes; Huffman: the block; rANS: table + stream
};
// Reads the plane's header and validates its size; the reader advances past the plane.
PlaneView read_plane(ByteReader& in, size_t n, int width);

// Unpacks n symbols of `width` bits from a packed plane's bytes.
template <typename T>
void expand_packed(ByteSpan bytes, size_t n, int width, T* out);

// Expands a plane of any mode into out[0..n) (8- or 16-bit symbols, at least `width` bits wide).
template <typename T>
void expand_plane(const PlaneView& plane, size_t n, int width, T* out);

// Reads one plane of n symbols of `width` bits into out[0..n).
template <typename T>
void decode_plane(ByteReader& in, size_t n, int width, T* out);

// Symbol i of a packed plane (LSB-first, `width` <= 56 bits); `bytes` must hold 8 readable bytes
// from the symbol's first byte (callers use packed_fast_count to know where that holds).
inline uint64_t packed_symbol(const uint8_t* bytes, size_t i, int width);
// Number of leading symbols of a packed plane of `size` bytes that packed_symbol may read.
size_t packed_fast_count(size_t size, size_t n, int width);

inline uint64_t packed_symbol(const uint8_t* bytes, size_t i, int width) {
  const uint64_t bit = static_cast<uint64_t>(i) * static_cast<uint64_t>(width);
  uint64_t word;
  std::memcpy(&word, bytes + (bit >> 3), 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  word = __builtin_bswap64(word);
#endif
  return (word >> (bit & 7)) & ((uint64_t{1} << width) - 1);
}

}  // namespace nnz
