// Coding the positions of non-zero elements (layout: positions.hpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "entropy/positions.hpp"

namespace nnz {

// Appends the mask mask[0..n) (0/1) in the smallest mode.
void encode_positions(const uint8_t* mask, size_t n, std::vector<uint8_t>& out);

}  // namespace nnz
