// What the piecewise-linear (`pl`) encoder and decoder share: a line, how a weight is rebuilt
// from it, and the fit's settings (plain data). Kept apart so the decoder does not include the
// fitting code.
//
// A weight on line k at position q is  float32( double(intercept_k) + double(slope_g) * q ),
// with g the line's slope group. Slopes are float32 and q < 2^24, so the product is exact in
// double: the sum is the only rounding before the final one to float32, whether or not the
// compiler fuses it into an FMA. Encoder and decoder therefore agree bit for bit on every platform.
#pragma once
#include <cstddef>
#include <cstdint>

namespace nnz {

constexpr int kPlMaxPositionBits = 24;
constexpr uint8_t kPlRawBits = 255;      // `bits` of the exception line: positions hold float32 bits
constexpr size_t kPlMaxLines = 4096;     // line ids are Huffman symbols (alphabet <= 4096)
constexpr uint32_t kPlMaxBlockElems = uint32_t{1} << 24;

struct PlLine {
  float intercept = 0;
  uint16_t group = 0;  // index into the block's slope table
  uint8_t bits = 0;    // position bits (0..24), or kPlRawBits for the exception line
};

// The fit's settings (transform/piecewise_linear_fit.hpp), part of the pl codec's settings.
struct PlFitOptions {
  double p = 0;               // absolute error bound, >= 0
  uint32_t pm = 1;            // minimum weights on a line
  double pd = 0;              // exact mode: relative slope difference that still counts as parallel
  bool exact_positions = false;
};

inline float pl_line_value(float intercept, float slope, uint32_t q) {
  return static_cast<float>(static_cast<double>(intercept) + static_cast<double>(slope) * static_cast<double>(q));
}

}  // namespace nnz
