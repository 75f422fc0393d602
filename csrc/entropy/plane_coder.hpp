// A plane is a sequence of n symbols of a fixed bit width (1..64): one field of every element
// (say, the exponent of each float). Each plane is stored in the cheapest of four modes:
//
//   u8 mode = 0 (constant)  u64 value                       every symbol equals value
//   u8 mode = 1 (packed)    ceil(n * width / 8) bytes        symbols bit-packed LSB-first
//   u8 mode = 2 (Huffman)   u32 block_bytes, Huffman block   width <= 12 only
//   u8 mode = 3 (rANS)      u8 scale_bits, rANS table, u32 stream_bytes, rANS stream
//                                                            width <= 8 only (see plane_encode.cpp)
// Encoding: plane_encode.hpp; decoding: plane_decode.hpp.
#pragma once
#include <cstdint>

namespace nnz {

enum class PlaneMode : uint8_t { constant = 0, packed = 1, huffman = 2, rans = 3 };

}  // namespace nnz
