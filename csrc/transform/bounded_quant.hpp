// Uniform scalar quantization with a guaranteed maximum absolute error E (the `eb` transform).
//
// q = round(w / 2E); the decoder rebuilds w' = dtype(double(q) * 2E) (one double product, then
// round-to-nearest-even into the dtype). The encoder performs that very computation and keeps
// q only where |w' - w| <= E holds exactly; every other element (NaN, +-Inf, |q| >= 2^31, or a
// value the dtype's rounding would move past the bound) becomes an exception stored verbatim.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/dtype.hpp"

namespace nnz {

constexpr int64_t kBoundedQuantMaxSymbol = (int64_t{1} << 31) - 1;

// Throws ErrorCode::invalid_argument unless E is finite, > 0 and 2E is finite.
void check_max_error(double max_error);

// Quantizes n elements of a float dtype: q[i] for every element, 0 at exceptions, whose indices
// are appended to `exceptions` in increasing order.
void bounded_quantize(DType dtype, const uint8_t* src, size_t n, double max_error, int32_t* q,
                      std::vector<uint32_t>& exceptions);

// The quantization step 2E (exact: a power-of-two multiple).
inline double bounded_step(double max_error) { return 2.0 * max_error; }

}  // namespace nnz
