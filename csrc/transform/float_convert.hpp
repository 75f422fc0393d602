// Float elements of every .nnz float dtype as doubles and back, with round-to-nearest-even.
// Encoder and decoder of lossy codecs both round through these, so they agree bit for bit.
#pragma once
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstring>

#include "common/byte_io.hpp"
#include "common/dtype.hpp"

namespace nnz {

namespace detail {

// IEEE binary format with `ebits` exponent and `mbits` mantissa bits (<= 16 bits in all).
inline double minifloat_to_double(uint32_t bits, int ebits, int mbits) {
  const uint32_t emax = (uint32_t{1} << ebits) - 1, bias = emax >> 1;
  const uint32_t e = (bits >> mbits) & emax, m = bits & ((uint32_t{1} << mbits) - 1);
  const bool neg = (bits >> (ebits + mbits)) & 1;
  double v;
  if (e == emax) v = m ? std::nan("") : INFINITY;
  else if (e == 0) v = std::ldexp(static_cast<double>(m), 1 - static_cast<int>(bias) - mbits);
  else v = std::ldexp(static_cast<double>(m | (uint32_t{1} << mbits)), static_cast<int>(e) - static_cast<int>(bias) - mbits);
  return neg ? -v : v;
}

// Finite x to the nearest value of the format (ties to even); overflow gives infinity.
inline uint32_t double_to_minifloat(double x, int ebits, int mbits) {
  const uint32_t emax = (uint32_t{1} << ebits) - 1, bias = emax >> 1;
  const uint32_t sign = std::signbit(x) ? uint32_t{1} << (ebits + mbits) : 0;
  const double a = std::fabs(x);
  if (!std::isfinite(a)) return sign | (emax << mbits);
  const int emin = 1 - static_cast<int>(bias);
  int exp2;
  std::frexp(a, &exp2);  // a = f * 2^exp2, f in [0.5, 1)
  int e = exp2 - 1;
  if (a == 0 || e < emin) e = emin;  // subnormal range: fixed spacing 2^(emin - mbits)
  double r = std::nearbyint(std::ldexp(a, mbits - e));
  if (r >= std::ldexp(1.0, mbits + 1)) {  // rounded up into the next binade
    r /= 2;
    ++e;
  }
  const uint32_t mant = static_cast<uint32_t>(r);
  uint32_t biased = (mant >> mbits) ? static_cast<uint32_t>(e + static_cast<int>(bias)) : 0;
  if (biased >= emax) return sign | (emax << mbits);
  return sign | (biased << mbits) | (mant & ((uint32_t{1} << mbits) - 1));
}

}  // namespace detail

// Round-to-nearest-even into float32; beyond the float range (where a C++ cast would be
// undefined) the result is the infinity of that sign.
inline float to_float32(double x) {
  if (std::fabs(x) <= static_cast<double>(FLT_MAX) || !std::isfinite(x)) return static_cast<float>(x);
  return x < 0 ? -INFINITY : INFINITY;
}

inline double load_float(DType dtype, const uint8_t* p) {
  switch (dtype) {
    case DType::float32: {
      float f;
      std::memcpy(&f, p, 4);
      return f;
    }
    case DType::float64: {
      double d;
      std::memcpy(&d, p, 8);
      return d;
    }
    case DType::float16: return detail::minifloat_to_double(static_cast<uint32_t>(load_le(p, 2)), 5, 10);
    case DType::bfloat16: return detail::minifloat_to_double(static_cast<uint32_t>(load_le(p, 2)), 8, 7);
    default: return 0.0;
  }
}

// Rounds finite x to the dtype, stores the element at p and returns its value.
inline double store_float(DType dtype, double x, uint8_t* p) {
  switch (dtype) {
    case DType::float32: {
      const float f = to_float32(x);
      std::memcpy(p, &f, 4);
      return f;
    }
    case DType::float64: std::memcpy(p, &x, 8); return x;
    case DType::float16:
    case DType::bfloat16: {
      const bool half = dtype == DType::float16;
      const uint32_t bits = detail::double_to_minifloat(x, half ? 5 : 8, half ? 10 : 7);
      p[0] = static_cast<uint8_t>(bits);
      p[1] = static_cast<uint8_t>(bits >> 8);
      return detail::minifloat_to_double(bits, half ? 5 : 8, half ? 10 : 7);
    }
    default: return 0.0;
  }
}

}  // namespace nnz
