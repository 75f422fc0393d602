// A plane is a sequence of n symbols of a fixed bit width (1..64): one field of every element
// (say, the exponent of each float). Each plane is stored in the cheapest of three modes:
//
//   u8 mode = 0 (constant)  u64 value                       every symbol equals value
//   u8 mode = 1 (packed)    ceil(n * width / 8) bytes        symbols bit-packed LSB-first
//   u8 mode = 2 (Huffman)   u32 block_bytes, Huffman block   width <= 12 only
//   u8 mode = 3 (rANS)      u8 scale_bits, rANS table, u32 stream_bytes, rANS stream
//                                                            width <= 8 only (see plane_encode.cpp)
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "common/byte_io.hpp"

namespace nnz {

enum class PlaneMode : uint8_t { constant = 0, packed = 1, huffman = 2, rans = 3 };

// Appends the plane in the smallest mode, weighed against decode time: Huffman must save at least
// 3% over packed and rANS 5% over Huffman (see plane_encode.cpp). Symbols fit in `width` bits.
template <typename T>
void encode_plane(const T* syms, size_t n, int width, std::vector<uint8_t>& out);

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

// Bytes the plane would take in the mode encode_plane picks, given the symbol histogram
// (width <= 12).
uint64_t plane_bytes_from_histogram(const uint64_t* freq, int width, size_t n);

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
