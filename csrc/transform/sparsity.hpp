// The sparsity split: a tensor = a 0/1 mask of its non-zero elements + the non-zero elements in
// order. "Zero" means all bytes zero (+0.0 for floats: -0.0 is a value, so lossless coding
// keeps it), the same rule for every dtype. Splitting: sparsity_encode.hpp.
#pragma once
#include <cstddef>
#include <cstdint>

namespace nnz {

// Writes the packed values where mask is 1 and zeros elsewhere.
void scatter_nonzero(const uint8_t* values, const uint8_t* mask, size_t n, size_t esize, uint8_t* out);

}  // namespace nnz
