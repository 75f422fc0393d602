// The encoder's half of the sparsity split (sparsity.hpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace nnz {

// Fills mask[0..n) (1 = non-zero) and returns the number of non-zero elements.
size_t nonzero_mask(const uint8_t* data, size_t n, size_t esize, uint8_t* mask);

// The non-zero elements, packed.
std::vector<uint8_t> gather_nonzero(const uint8_t* data, const uint8_t* mask, size_t n, size_t esize);

}  // namespace nnz
