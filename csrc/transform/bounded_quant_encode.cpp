#include "transform/bounded_quant_encode.hpp"

#include <cmath>
#include <cstring>

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

namespace {

// The symbol for w: the nearest of round(w / 2E) and its neighbours whose reconstruction, exactly
// as the decoder computes it, is within the bound; false if none is (an exception).
template <typename Reconstruct>
inline bool symbol_for(double w, double inv_step, double step, double max_error, Reconstruct reconstruct, int32_t& q) {
  if (!std::isfinite(w)) return false;
  // Round to nearest by the 1.5 x 2^52 trick (std::nearbyint is a libm call on baseline x86-64);
  // only a guess: the check below is what guarantees the bound.
  const double r = (w * inv_step + 0x1.8p52) - 0x1.8p52;
  if (!(std::fabs(r) <= static_cast<double>(kBoundedQuantMaxSymbol) - 1)) return false;  // NaN fails too
  for (double candidate : {r, r - 1, r + 1}) {
    if (within(reconstruct(candidate * step), w, max_error)) {
      q = static_cast<int32_t>(candidate);
      return true;
    }
  }
  return false;
}

}  // namespace

void bounded_quantize(DType dtype, const uint8_t* src, size_t n, double max_error, int32_t* q,
                      std::vector<uint32_t>& exceptions) {
  check_max_error(max_error);
  NNZ_CHECK(dtype_info(dtype).kind == DTypeKind::floating, invalid_argument, "eb: only float tensors are quantized");
  const size_t esize = static_cast<size_t>(dtype_bytes(dtype));
  const double step = bounded_step(max_error), inv_step = 1.0 / step;
  auto reject = [&](size_t i) {
    q[i] = 0;
    exceptions.push_back(static_cast<uint32_t>(i));
  };
  if (dtype == DType::float32) {  // the common case, without per-element dispatch
    auto reconstruct = [](double x) { return static_cast<double>(to_float32(x)); };
    for (size_t i = 0; i < n; ++i) {
      float f;
      std::memcpy(&f, src + 4 * i, 4);
      if (!symbol_for(f, inv_step, step, max_error, reconstruct, q[i])) reject(i);
    }
    return;
  }
  uint8_t scratch[8];
  auto reconstruct = [&](double x) { return store_float(dtype, x, scratch); };
  for (size_t i = 0; i < n; ++i)
    if (!symbol_for(load_float(dtype, src + i * esize), inv_step, step, max_error, reconstruct, q[i])) reject(i);
}

}  // namespace nnz
