// The encoder's half of bounded quantization (bounded_quant.hpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/dtype.hpp"
#include "transform/bounded_quant.hpp"

namespace nnz {

// Throws ErrorCode::invalid_argument unless E is finite, > 0 and 2E is finite.
void check_max_error(double max_error);

// Quantizes n elements of a float dtype: q[i] for every element, 0 at exceptions, whose indices
// are appended to `exceptions` in increasing order.
void bounded_quantize(DType dtype, const uint8_t* src, size_t n, double max_error, int32_t* q,
                      std::vector<uint32_t>& exceptions);

}  // namespace nnz
