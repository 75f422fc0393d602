// A plane is a sequence of n symbols of a fixed bit width (1..64): one field of every element
// (say, the exponent of each float). Each plane is stored in the cheapest of three modes:
//
//   u8 mode = 0 (constant)  u64 value                       every symbol equals value
//   u8 mode = 1 (packed)    ceil(n * width / 8) bytes        symbols bit-packed LSB-first
//   u8 mode = 2 (Huffman)   u32 block_bytes, Huffman block   width <= 12 only
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/byte_io.hpp"

namespace nnz {

enum class PlaneMode : uint8_t { constant = 0, packed = 1, huffman = 2 };

// Appends the plane; picks the smallest mode. Symbols must fit in `width` bits.
template <typename T>
void encode_plane(const T* syms, size_t n, int width, std::vector<uint8_t>& out);

// Reads one plane of n symbols of `width` bits into out[0..n).
template <typename T>
void decode_plane(ByteReader& in, size_t n, int width, T* out);

// Bytes the plane would take in its cheapest mode, given the symbol histogram (width <= 12).
uint64_t plane_bytes_from_histogram(const uint64_t* freq, int width, size_t n);

}  // namespace nnz
