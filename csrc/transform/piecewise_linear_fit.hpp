// Piecewise linearization of a block of float32 weights (the lossy stage of the `pl` codec; see
// docs/piecewise-linearization.md for the method and the measurements behind its choices).
//
// The block's values, sorted, form a monotone curve. It is covered by lines; every weight is then
// stored as (line id, position on the line) and rebuilt as intercept + slope * position, within
// `p` of its original value. Two ways to choose lines and positions:
//
//   exact (the thesis reading)   lines fitted greedily to the sorted curve, every point within p;
//                                a weight's position is its rank on its line (about log2(block)
//                                bits per weight); lines shorter than pm points give exceptions;
//                                lines whose slopes differ by at most pd (relative) share a slope.
//   quantized (default)          a position only needs the precision that keeps the weight within
//                                p: every line gets the step 2p (so all lines are parallel, one
//                                slope) and 2^m positions; the lines are chosen by dynamic
//                                programming to minimise the coded size; lines with fewer than pm
//                                weights are not used.
//
// NaN and +-Inf never sit on a line: they are exceptions, stored with their exact bits, as is any
// weight that no line can rebuild within p after float rounding.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "transform/pl_line.hpp"

namespace nnz {

struct PlBlockModel {
  std::vector<float> slopes;        // slope table (parallel-line groups)
  std::vector<PlLine> lines;        // at most kPlMaxLines, the exception line (if any) last
  std::vector<uint16_t> line_of;    // per weight, in block order
  std::vector<uint32_t> position;   // per weight: position on its line, or float32 bits
  double max_error = 0;             // largest |rebuilt - original| over finite weights
  uint64_t exceptions = 0;
};

// Fits n float32 values (little-endian element bytes). Deterministic.
PlBlockModel pl_fit_block(const uint8_t* data, size_t n, const PlFitOptions& options);

}  // namespace nnz
