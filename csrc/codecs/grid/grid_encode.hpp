#pragma once
#include <cstdint>

#include "codecs/grid/grid.hpp"

namespace nnz {

// The share of the nonzero elements of up to `sample_blocks` blocks, spread over the tensor, that
// lie on their block's grid (1 if all are zero; 0 for dtypes other than floats): whether encoding
// with lossless-grid could pay. Each sampled block is judged by its first 1024 elements, and stops
// counting after 16 nonzero elements with fewer than 8 on the grid.
double grid_exact_share(const TensorRef& tensor, GridLayout layout, uint32_t block, uint32_t sample_blocks);

}  // namespace nnz
