#include "transform/bounded_quant.hpp"

#include <cmath>

#include "common/error.hpp"
#include "transform/float_convert.hpp"

namespace nnz {
namespace {

// |a - b| <= e, decided on the exact difference (TwoSum recovers the rounding error of a - b).
bool within(double a, double b, double e) {
  const double s = a - b;
  const double bb = s - a;
  const double err = (a - (s - bb)) + (-b - bb);
  const double abs_s = std::fabs(s);
  if (abs_s != e) return abs_s < e;
  return err == 0 || std::signbit(err) != std::signbit(s);
}

}  // namespace

void check_max_error(double max_error) {
  NNZ_CHECK(std::isfinite(max_error) && max_error > 0 && std::isfinite(2.0 * max_error), invalid_argument,
            "eb: the error bound must be a finite number > 0");
}

void bounded_quantize(DType dtype, const uint8_t* src, size_t n, double max_error, int32_t* q,
                      std::vector<uint32_t>& exceptions) {
  check_max_error(max_error);
  NNZ_CHECK(dtype_info(dtype).kind == DTypeKind::floating, invalid_argument, "eb: only float tensors are quantized");
  const size_t esize = static_cast<size_t>(dtype_bytes(dtype));
  const double step = bounded_step(max_error);
  uint8_t scratch[8];
  for (size_t i = 0; i < n; ++i) {
    const double w = load_float(dtype, src + i * esize);
    const double r = std::nearbyint(w / step);
    bool ok = std::isfinite(w) && std::fabs(r) <= static_cast<double>(kBoundedQuantMaxSymbol);
    if (ok) {
      const double back = store_float(dtype, r * step, scratch);
      ok = within(back, w, max_error);
    }
    if (ok) {
      q[i] = static_cast<int32_t>(r);
    } else {
      q[i] = 0;
      exceptions.push_back(static_cast<uint32_t>(i));
    }
  }
}

}  // namespace nnz
