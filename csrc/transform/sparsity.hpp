// The sparsity split: a tensor = a 0/1 mask of its non-zero elements + the non-zero elements in
// order. "Zero" means all bytes zero (+0.0 for floats: -0.0 is a value, so lossless coding
// keeps it), the same rule for every dtype.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace nnz {

// Fills mask[0..n) (1 = non-zero) and returns the number of non-zero elements.
size_t nonzero_mask(const uint8_t* data, size_t n, size_t esize, uint8_t* mask);

// The non-zero elements, packed.
std::vector<uint8_t> gather_nonzero(const uint8_t* data, const uint8_t* mask, size_t n, size_t esize);

// Writes the packed values where mask is 1 and zeros elsewhere.
void scatter_nonzero(const uint8_t* values, const uint8_t* mask, size_t n, size_t esize, uint8_t* out);

}  // namespace nnz
