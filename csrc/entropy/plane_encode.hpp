// Writing planes (layout: plane_coder.hpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "entropy/plane_coder.hpp"

namespace nnz {

// Appends the plane in the smallest mode, weighed against decode time: Huffman must save at least
// 3% over packed and rANS 5% over Huffman (see plane_encode.cpp). Symbols fit in `width` bits.
template <typename T>
void encode_plane(const T* syms, size_t n, int width, std::vector<uint8_t>& out);

// Bytes the plane would take in the mode encode_plane picks, given the symbol histogram
// (width <= 12).
uint64_t plane_bytes_from_histogram(const uint64_t* freq, int width, size_t n);

}  // namespace nnz
