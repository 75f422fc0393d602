#include "transform/piecewise_linear_fit.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "common/byte_io.hpp"
#include "common/bit_width.hpp"
#include "common/error.hpp"

namespace nnz {
namespace {

// Part of p held back from the fit, so that rounding the line parameters to float32 and the
// rebuilt value to float32 rarely pushes a weight past p (the final check catches the rest).
constexpr double kFitMargin = 1.0 / 1024;
constexpr uint16_t kUnassigned = 0xFFFF;
// Estimated size of one line in the block (table entry + Huffman code length), for the DP.
constexpr double kLineOverheadBits = 7 * 8 + 4;
constexpr int kRawElementBits = 32;

float load_f32(const uint8_t* p) {
  const uint32_t bits = static_cast<uint32_t>(load_le(p, 4));
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

uint32_t f32_bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

// The nearest float32 within [-FLT_MAX, FLT_MAX].
float f32_clamped(double x) {
  const double m = std::numeric_limits<float>::max();
  return static_cast<float>(std::min(m, std::max(-m, x)));
}

// The largest float32 <= x (for x >= -FLT_MAX).
float f32_at_most(double x) {
  float f = f32_clamped(x);
  if (static_cast<double>(f) > x) f = std::nextafter(f, -std::numeric_limits<float>::infinity());
  return f;
}

// Collects lines and per-weight assignments; appends the exception line at the end.
class ModelBuilder {
 public:
  ModelBuilder(const std::vector<float>& values, double p) : values_(values), p_(p) {
    model_.line_of.assign(values.size(), kUnassigned);
    model_.position.assign(values.size(), 0);
  }
  PlBlockModel& model() { return model_; }

  // Places weight e on line k at the position nearest to `q_estimate` (trying its neighbours)
  // that rebuilds it within p; returns false (and leaves it unassigned) if none does.
  bool place(size_t e, uint16_t k, double q_estimate) {
    const PlLine& line = model_.lines[k];
    const float slope = model_.slopes[line.group];
    const double top = std::ldexp(1.0, line.bits) - 1;
    const double q0 = std::min(top, std::max(0.0, std::nearbyint(q_estimate)));
    for (double q : {q0, q0 - 1, q0 + 1}) {
      if (q < 0 || q > top) continue;
      const double err = std::fabs(static_cast<double>(pl_line_value(line.intercept, slope, static_cast<uint32_t>(q))) -
                                   static_cast<double>(values_[e]));
      if (err <= p_) {
        model_.line_of[e] = k;
        model_.position[e] = static_cast<uint32_t>(q);
        model_.max_error = std::max(model_.max_error, err);
        return true;
      }
    }
    return false;
  }

  // Every weight not placed on a line becomes an exception.
  PlBlockModel finish() {
    const uint16_t raw = static_cast<uint16_t>(model_.lines.size());
    for (size_t e = 0; e < values_.size(); ++e) {
      if (model_.line_of[e] != kUnassigned) continue;
      model_.line_of[e] = raw;
      model_.position[e] = f32_bits(values_[e]);
      ++model_.exceptions;
    }
    if (model_.exceptions) {
      PlLine line;
      line.bits = kPlRawBits;
      model_.lines.push_back(line);
    }
    NNZ_CHECK(model_.lines.size() <= kPlMaxLines, internal, "pl: too many lines in a block");
    return std::move(model_);
  }

 private:
  const std::vector<float>& values_;
  double p_;
  PlBlockModel model_;
};

// ---------------------------------------------------------------------------------------------
// Quantized positions: all lines share the step 2p. The value axis is cut into cells of one step
// from the block minimum; a line starting at cell c with m position bits covers cells
// [c, c + 2^m) and puts its positions at their centres, so every weight is within step/2 of its
// position. Lines are chosen by dynamic programming over the occupied cells, minimising the
// estimated coded size:
//   line:       overhead + count * (m + log2(n / count))     (position bits + ideal line-id code)
//   exception:  count * (32 + log2 n)

struct Segment {
  size_t begin, end;  // occupied-cell index range
  int bits;           // -1: exception
};

std::vector<Segment> choose_lines(const std::vector<int64_t>& cell, const std::vector<uint64_t>& prefix, int max_bits,
                                  uint32_t pm, double log2n, double overhead) {
  const size_t count = cell.size();
  // n * log2(n) for the counts that occur most (a line rarely holds more than 2^20 weights).
  std::vector<double> nlog2n(std::min<uint64_t>(prefix.back(), uint64_t{1} << 20) + 1, 0.0);
  for (size_t n = 2; n < nlog2n.size(); ++n) nlog2n[n] = static_cast<double>(n) * std::log2(static_cast<double>(n));
  auto entropy_term = [&](uint64_t n) {
    return n < nlog2n.size() ? nlog2n[n] : static_cast<double>(n) * std::log2(static_cast<double>(n));
  };
  std::vector<double> best(count + 1, std::numeric_limits<double>::infinity());
  std::vector<size_t> from(count + 1, 0);
  std::vector<int> how(count + 1, -1);
  std::vector<size_t> ptr(static_cast<size_t>(max_bits) + 1, 0);
  best[0] = 0;
  auto relax = [&](size_t to, size_t i, int bits, double cost) {
    if (cost < best[to]) {
      best[to] = cost;
      from[to] = i;
      how[to] = bits;
    }
  };
  for (size_t i = 0; i < count; ++i) {
    const double here = best[i];
    relax(i + 1, i, -1, here + static_cast<double>(prefix[i + 1] - prefix[i]) * (kRawElementBits + log2n));
    size_t prev_end = i;
    for (int m = 0; m <= max_bits; ++m) {
      size_t& end = ptr[static_cast<size_t>(m)];
      const int64_t limit = cell[i] + (int64_t{1} << m);
      while (end < count && cell[end] < limit) ++end;
      if (end == prev_end) continue;  // a wider line with no more weights only costs more
      prev_end = end;
      const uint64_t n = prefix[end] - prefix[i];
      if (n >= pm)
        relax(end, i, m, here + overhead + static_cast<double>(n) * (m + log2n) - entropy_term(n));
      if (end == count) break;
    }
  }
  std::vector<Segment> segments;
  for (size_t at = count; at > 0; at = from[at]) segments.push_back(Segment{from[at], at, how[at]});
  std::reverse(segments.begin(), segments.end());
  return segments;
}

PlBlockModel fit_quantized(const std::vector<float>& values, const PlFitOptions& options) {
  std::vector<double> sorted;
  sorted.reserve(values.size());
  for (float v : values)
    if (std::isfinite(v)) sorted.push_back(v);
  std::sort(sorted.begin(), sorted.end());
  std::vector<double> distinct;  // cells of the codebook case (step 0)
  double step = 0;
  if (!sorted.empty() && options.p > 0) {
    const double max_abs = std::max(std::fabs(sorted.front()), std::fabs(sorted.back()));
    const double float_max = std::numeric_limits<float>::max();
    step = f32_at_most(std::min(2 * options.p * (1 - kFitMargin), float_max));
    // A step near the float32 resolution of the values cannot rebuild them within p: keep every
    // distinct value on its own line (a codebook) instead.
    if (step < std::ldexp(max_abs, -20)) step = 0;
  }
  if (step == 0) {
    distinct = sorted;
    distinct.erase(std::unique(distinct.begin(), distinct.end()), distinct.end());
  }
  const double origin = sorted.empty() ? 0.0 : sorted.front();
  auto cell_of = [&](double w) -> int64_t {
    if (step > 0) return static_cast<int64_t>(std::floor((w - origin) / step));
    return std::lower_bound(distinct.begin(), distinct.end(), w) - distinct.begin();
  };
  std::vector<int64_t> cell;  // occupied cells, ascending
  std::vector<uint64_t> prefix{0};
  for (double w : sorted) {
    const int64_t c = cell_of(w);
    if (cell.empty() || c != cell.back()) {
      cell.push_back(c);
      prefix.push_back(prefix.back());
    }
    ++prefix.back();
  }

  const double log2n = std::log2(static_cast<double>(std::max<size_t>(values.size(), 2)));
  std::vector<Segment> segments;
  for (double overhead = kLineOverheadBits;; overhead *= 2) {
    segments = choose_lines(cell, prefix, step > 0 ? kPlMaxPositionBits : 0, options.pm, log2n, overhead);
    size_t lines = 1;  // room for the exception line
    for (const Segment& s : segments) lines += s.bits >= 0;
    if (lines <= kPlMaxLines) break;
  }

  ModelBuilder builder(values, options.p);
  PlBlockModel& model = builder.model();
  model.slopes.push_back(static_cast<float>(step));
  std::vector<uint16_t> line_of_cell(cell.size(), kUnassigned);
  std::vector<int64_t> first_cell;
  for (const Segment& s : segments) {
    if (s.bits < 0) continue;
    const int64_t c = cell[s.begin];
    PlLine line;
    line.intercept = step > 0 ? f32_at_most(origin + (static_cast<double>(c) + 0.5) * step)
                              : static_cast<float>(distinct[static_cast<size_t>(c)]);
    line.bits = static_cast<uint8_t>(s.bits);
    for (size_t i = s.begin; i < s.end; ++i) line_of_cell[i] = static_cast<uint16_t>(model.lines.size());
    first_cell.push_back(c);
    model.lines.push_back(line);
  }
  for (size_t e = 0; e < values.size(); ++e) {
    const float w = values[e];
    if (!std::isfinite(w)) continue;
    const int64_t c = cell_of(w);
    const uint16_t k = line_of_cell[static_cast<size_t>(std::lower_bound(cell.begin(), cell.end(), c) - cell.begin())];
    if (k != kUnassigned) builder.place(e, k, static_cast<double>(c - first_cell[k]));
  }
  return builder.finish();
}

// ---------------------------------------------------------------------------------------------
// Exact positions (the thesis reading): greedy lines over the sorted curve, rank as position.

struct FitSegment {
  size_t begin, end;  // sorted-rank range
  double slope;
};

// Greedy cover: each line starts at its first point and grows while some slope keeps every point
// within `tolerance` (the feasible slopes form an interval that only narrows).
std::vector<FitSegment> greedy_segments(const std::vector<double>& v, double tolerance) {
  std::vector<FitSegment> out;
  const size_t n = v.size();
  const size_t max_len = size_t{1} << kPlMaxPositionBits;
  for (size_t s = 0; s < n;) {
    double lo = -std::numeric_limits<double>::infinity(), hi = std::numeric_limits<double>::infinity();
    size_t e = s + 1;
    for (; e < n && e - s < max_len; ++e) {
      const double t = static_cast<double>(e - s);
      const double nlo = std::max(lo, (v[e] - tolerance - v[s]) / t);
      const double nhi = std::min(hi, (v[e] + tolerance - v[s]) / t);
      if (nlo > nhi) break;
      lo = nlo;
      hi = nhi;
    }
    out.push_back(FitSegment{s, e, e - s > 1 ? (lo + hi) / 2 : 0.0});
    s = e;
  }
  return out;
}

// Intercept that centres the points of [begin, end) around the line with this slope; returns
// false if they do not all fit within `tolerance`.
bool fit_intercept(const std::vector<double>& v, const FitSegment& s, float slope, double tolerance, float& intercept) {
  double lo = std::numeric_limits<double>::infinity(), hi = -lo;
  for (size_t r = s.begin; r < s.end; ++r) {
    const double resid = v[r] - static_cast<double>(slope) * static_cast<double>(r - s.begin);
    lo = std::min(lo, resid);
    hi = std::max(hi, resid);
  }
  intercept = f32_clamped((lo + hi) / 2);
  return (hi - lo) / 2 <= tolerance;
}

PlBlockModel fit_exact(const std::vector<float>& values, const PlFitOptions& options) {
  std::vector<uint32_t> order;
  order.reserve(values.size());
  for (size_t e = 0; e < values.size(); ++e)
    if (std::isfinite(values[e])) order.push_back(static_cast<uint32_t>(e));
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return values[a] < values[b]; });
  std::vector<double> v(order.size());
  for (size_t r = 0; r < order.size(); ++r) v[r] = values[order[r]];

  const double tolerance = options.p * (1 - kFitMargin);
  std::vector<FitSegment> segments = greedy_segments(v, tolerance);
  // pm: short lines become exceptions; and no more lines than line ids allow (longest kept).
  segments.erase(std::remove_if(segments.begin(), segments.end(),
                                [&](const FitSegment& s) { return s.end - s.begin < options.pm; }),
                 segments.end());
  if (segments.size() > kPlMaxLines - 1) {
    std::stable_sort(segments.begin(), segments.end(),
                     [](const FitSegment& a, const FitSegment& b) { return a.end - a.begin > b.end - b.begin; });
    segments.resize(kPlMaxLines - 1);
    std::sort(segments.begin(), segments.end(),
              [](const FitSegment& a, const FitSegment& b) { return a.begin < b.begin; });
  }

  ModelBuilder builder(values, options.p);
  PlBlockModel& model = builder.model();
  model.lines.resize(segments.size());
  // pd: parallel lines. Slopes are grouped in ascending order; a line joins the group when its
  // slope is within pd (relative) of the group's first slope and all its points still fit the
  // group's mean slope; otherwise it keeps a slope of its own.
  std::vector<size_t> by_slope(segments.size());
  std::iota(by_slope.begin(), by_slope.end(), size_t{0});
  std::stable_sort(by_slope.begin(), by_slope.end(),
                   [&](size_t a, size_t b) { return segments[a].slope < segments[b].slope; });
  for (size_t g = 0; g < by_slope.size();) {
    const double first = segments[by_slope[g]].slope;
    size_t h = g;
    double sum = 0;
    while (h < by_slope.size() &&
           std::fabs(segments[by_slope[h]].slope - first) <=
               options.pd * std::max(std::fabs(first), std::fabs(segments[by_slope[h]].slope))) {
      sum += segments[by_slope[h]].slope;
      ++h;
    }
    const float shared = f32_clamped(sum / static_cast<double>(h - g));
    const uint16_t shared_group = static_cast<uint16_t>(model.slopes.size());
    model.slopes.push_back(shared);
    for (size_t i = g; i < h; ++i) {
      const FitSegment& s = segments[by_slope[i]];
      PlLine& line = model.lines[by_slope[i]];
      line.bits = static_cast<uint8_t>(bit_width(s.end - s.begin - 1));
      if (fit_intercept(v, s, shared, tolerance, line.intercept)) {
        line.group = shared_group;
      } else {
        line.group = static_cast<uint16_t>(model.slopes.size());
        model.slopes.push_back(f32_clamped(s.slope));
        fit_intercept(v, s, model.slopes.back(), tolerance, line.intercept);
      }
    }
    g = h;
  }
  for (size_t k = 0; k < segments.size(); ++k)
    for (size_t r = segments[k].begin; r < segments[k].end; ++r)
      builder.place(order[r], static_cast<uint16_t>(k), static_cast<double>(r - segments[k].begin));
  return builder.finish();
}

}  // namespace

PlBlockModel pl_fit_block(const uint8_t* data, size_t n, const PlFitOptions& options) {
  NNZ_CHECK(std::isfinite(options.p) && options.p >= 0, invalid_argument, "pl: p must be a finite number >= 0");
  NNZ_CHECK(std::isfinite(options.pd) && options.pd >= 0, invalid_argument, "pl: pd must be a finite number >= 0");
  NNZ_CHECK(options.pm >= 1, invalid_argument, "pl: pm must be at least 1");
  NNZ_CHECK(n <= kPlMaxBlockElems, invalid_argument, "pl: block larger than 2^24 weights");
  std::vector<float> values(n);
  for (size_t i = 0; i < n; ++i) values[i] = load_f32(data + 4 * i);
  return options.exact_positions ? fit_exact(values, options) : fit_quantized(values, options);
}

}  // namespace nnz
