// Uniform scalar quantization with a guaranteed maximum absolute error E (the `eb` transform).
//
// q = round(w / 2E); the decoder rebuilds w' = dtype(double(q) * 2E) (one double product, then
// round-to-nearest-even into the dtype). The encoder performs that very computation and keeps
// q only where |w' - w| <= E holds exactly; every other element (NaN, +-Inf, |q| >= 2^31, or a
// value the dtype's rounding would move past the bound) becomes an exception stored verbatim.
// Quantizing: bounded_quant_encode.hpp.
#pragma once
#include <cstdint>

namespace nnz {

constexpr int64_t kBoundedQuantMaxSymbol = (int64_t{1} << 31) - 1;

// The quantization step 2E (exact: a power-of-two multiple).
inline double bounded_step(double max_error) { return 2.0 * max_error; }

}  // namespace nnz
