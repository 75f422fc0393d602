#include "extras/rowcol_prune.hpp"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

#include "common/checked_math.hpp"
#include "common/error.hpp"
#include "common/rng.hpp"
#include "extras/prune_select.hpp"

namespace nnz {
namespace {

// |w| at (line, other): axis 0 takes lines as rows, axis 1 as columns. Lets one routine serve
// rows-first and columns-first.
double magnitude_at(const RowColMatrix& w, int axis, size_t line, size_t other) {
  const float v = axis == 0 ? w.weights[line * w.cols + other] : w.weights[other * w.cols + line];
  return std::fabs(static_cast<double>(v));
}

struct Oriented {
  const RowColMatrix& w;
  int axis;
  size_t lines() const { return axis == 0 ? w.rows : w.cols; }
  size_t others() const { return axis == 0 ? w.cols : w.rows; }
  double at(size_t line, size_t other) const { return magnitude_at(w, axis, line, other); }
};

void check_matrix(const RowColMatrix& w) {
  checked_mul(w.rows, w.cols, "row-and-column pruning");
  const size_t n = w.rows * w.cols;
  for (size_t k = 0; k < n; ++k)
    NNZ_CHECK(std::isfinite(w.weights[k]), invalid_argument,
              "row-and-column pruning needs finite weights (the matrix holds NaN or Inf)");
}

// The fewest others to remove once `removed_lines` lines are gone, so the kept area fits.
size_t min_others_removed(size_t lines, size_t others, uint64_t kept_limit, size_t removed_lines) {
  const size_t kept_lines = lines - removed_lines;
  if (kept_lines == 0) return 0;
  const uint64_t max_kept_others = kept_limit / kept_lines;
  return others - static_cast<size_t>(std::min<uint64_t>(others, max_kept_others));
}

std::vector<double> line_sums(const Oriented& v) {
  std::vector<double> sums(v.lines(), 0.0);
  for (size_t i = 0; i < v.lines(); ++i)
    for (size_t j = 0; j < v.others(); ++j) sums[i] += v.at(i, j);
  return sums;
}

// Indices in increasing value; equal values in index order (so results never depend on the sort).
std::vector<size_t> increasing_order(const std::vector<double>& values) {
  std::vector<size_t> order(values.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return values[a] < values[b]; });
  return order;
}

// Flags of the k entries of `values` with the smallest values (ties to the lower index).
std::vector<uint8_t> smallest_k_flags(const std::vector<double>& values, size_t k) {
  std::vector<std::pair<double, size_t>> keyed(values.size());
  for (size_t j = 0; j < values.size(); ++j) keyed[j] = {values[j], j};
  std::vector<uint8_t> flags(values.size(), 0);
  if (k == 0) return flags;
  std::nth_element(keyed.begin(), keyed.begin() + static_cast<std::ptrdiff_t>(k - 1), keyed.end());
  for (size_t j = 0; j < k; ++j) flags[keyed[j].second] = 1;
  return flags;
}

double sum_of_smallest(std::vector<std::pair<double, size_t>>& keyed, size_t k) {
  if (k == 0) return 0.0;
  std::nth_element(keyed.begin(), keyed.begin() + static_cast<std::ptrdiff_t>(k - 1), keyed.end());
  double s = 0.0;
  for (size_t j = 0; j < k; ++j) s += keyed[j].first;
  return s;
}

RowColSelection finish(const RowColMatrix& w, std::vector<uint8_t> rows, std::vector<uint8_t> cols) {
  RowColSelection s;
  s.removed_rows = std::move(rows);
  s.removed_cols = std::move(cols);
  s.removed_magnitude = rowcol_removed_magnitude(w, s.removed_rows, s.removed_cols);
  return s;
}

RowColSelection as_rows_cols(const RowColMatrix& w, int axis, std::vector<uint8_t> lines,
                             std::vector<uint8_t> others) {
  return axis == 0 ? finish(w, std::move(lines), std::move(others)) : finish(w, std::move(others), std::move(lines));
}

// Algorithm 2 along one axis: p lightest lines, then the best others for the lines kept.
RowColSelection conditional_along(const RowColMatrix& w, int axis, uint64_t kept_limit) {
  const Oriented v{w, axis};
  const size_t m = v.lines(), n = v.others();
  const std::vector<double> sums = line_sums(v);
  const std::vector<size_t> order = increasing_order(sums);
  std::vector<double> other_mass(n, 0.0);  // mass of each other over the lines kept so far
  for (size_t i = 0; i < m; ++i)
    for (size_t j = 0; j < n; ++j) other_mass[j] += v.at(i, j);
  std::vector<std::pair<double, size_t>> keyed(n);
  double removed_lines_mass = 0.0;
  double best_loss = 0.0;
  size_t best_p = 0;
  for (size_t p = 0; p <= m; ++p) {
    for (size_t j = 0; j < n; ++j) keyed[j] = {other_mass[j], j};
    const double loss = removed_lines_mass + sum_of_smallest(keyed, min_others_removed(m, n, kept_limit, p));
    if (p == 0 || loss < best_loss) {
      best_loss = loss;
      best_p = p;
    }
    if (p == m) break;
    removed_lines_mass += sums[order[p]];
    for (size_t j = 0; j < n; ++j) other_mass[j] -= v.at(order[p], j);
  }
  std::vector<uint8_t> lines(m, 0);
  for (size_t p = 0; p < best_p; ++p) lines[order[p]] = 1;
  std::fill(other_mass.begin(), other_mass.end(), 0.0);
  for (size_t i = 0; i < m; ++i)
    if (!lines[i])
      for (size_t j = 0; j < n; ++j) other_mass[j] += v.at(i, j);
  return as_rows_cols(w, axis, std::move(lines),
                      smallest_k_flags(other_mass, min_others_removed(m, n, kept_limit, best_p)));
}

// One side (rows or columns) of an annealing state: order[0, removed) holds the removed lines,
// where[line] its position in order; mass[line] is its magnitude over the kept lines of the
// other side.
struct Side {
  std::vector<size_t> order, where;
  size_t removed = 0;
  std::vector<double> mass;

  explicit Side(const std::vector<uint8_t>& flags) : order(flags.size()), where(flags.size()), mass(flags.size()) {
    for (size_t i = 0; i < flags.size(); ++i)
      if (flags[i]) order[removed++] = i;
    size_t k = removed;
    for (size_t i = 0; i < flags.size(); ++i)
      if (!flags[i]) order[k++] = i;
    for (size_t p = 0; p < order.size(); ++p) where[order[p]] = p;
  }
  size_t size() const { return order.size(); }
  bool is_removed(size_t line) const { return where[line] < removed; }
  void place(size_t line, size_t pos) {
    const size_t other = order[pos], from = where[line];
    std::swap(order[pos], order[from]);
    where[other] = from;
    where[line] = pos;
  }
  void mark_removed(size_t line) { place(line, removed++); }
  void mark_kept(size_t line) { place(line, --removed); }
  std::vector<uint8_t> flags() const {
    std::vector<uint8_t> f(size(), 0);
    for (size_t p = 0; p < removed; ++p) f[order[p]] = 1;
    return f;
  }
};

class Annealer {
 public:
  Annealer(const RowColMatrix& w, uint64_t kept_limit, const RowColSelection& start)
      : w_(w), kept_limit_(kept_limit), sides_{Side(start.removed_rows), Side(start.removed_cols)} {
    for (size_t i = 0; i < w.rows; ++i)
      for (size_t j = 0; j < w.cols; ++j) total_ += magnitude(0, i, j);
    refresh();
  }

  double loss() const { return total_ - kept_; }
  std::vector<uint8_t> flags(int axis) const { return sides_[axis].flags(); }

  // Recomputes masses and the kept magnitude from scratch (incremental sums drift).
  void refresh() {
    Side &rows = sides_[0], &cols = sides_[1];
    std::fill(rows.mass.begin(), rows.mass.end(), 0.0);
    std::fill(cols.mass.begin(), cols.mass.end(), 0.0);
    kept_ = 0.0;
    for (size_t i = 0; i < w_.rows; ++i)
      for (size_t j = 0; j < w_.cols; ++j) {
        const double a = magnitude(0, i, j);
        if (!cols.is_removed(j)) rows.mass[i] += a;
        if (!rows.is_removed(i)) cols.mass[j] += a;
        if (!rows.is_removed(i) && !cols.is_removed(j)) kept_ += a;
      }
  }

  // A proposed move: the change of the loss and how to carry it out.
  struct Move {
    int axis = 0;
    size_t line = 0;        // the line of `axis` whose state flips
    size_t other_line = 0;  // swap: the kept line of `axis` removed in exchange
    bool swap = false;
    std::vector<size_t> others;  // resize: lines of the other axis that flip
    double delta = 0.0;
  };

  // Exchange a removed line with a kept one on the same axis; false if the axis has none of either.
  bool propose_swap(Rng& rng, int axis, Move& m) const {
    const Side& s = sides_[axis];
    if (s.removed == 0 || s.removed == s.size()) return false;
    m.axis = axis;
    m.swap = true;
    m.line = s.order[rng.below(s.removed)];
    m.other_line = s.order[s.removed + rng.below(s.size() - s.removed)];
    m.delta = s.mass[m.other_line] - s.mass[m.line];
    return true;
  }

  // Flip one random line of `axis` (remove one more, or restore one), then bring the other axis to
  // the fewest removed lines the budget allows, choosing them greedily.
  bool propose_resize(Rng& rng, int axis, bool grow, Move& m) const {
    const Side& s = sides_[axis];
    const Side& o = sides_[1 - axis];
    if (grow ? s.removed == s.size() : s.removed == 0) return false;
    m.axis = axis;
    m.swap = false;
    m.line = grow ? s.order[s.removed + rng.below(s.size() - s.removed)] : s.order[rng.below(s.removed)];
    const size_t target = min_others_removed(s.size(), o.size(), kept_limit_, grow ? s.removed + 1 : s.removed - 1);
    // Masses of the other axis's lines once `line` has flipped.
    const double sign = grow ? -1.0 : 1.0;
    std::vector<std::pair<double, size_t>> candidates;
    const bool remove_others = target > o.removed;
    const size_t count = remove_others ? target - o.removed : o.removed - target;
    for (size_t y = 0; y < o.size(); ++y)
      if (o.is_removed(y) != remove_others) {
        const double mass = o.mass[y] + sign * magnitude(axis, m.line, y);
        candidates.push_back({remove_others ? mass : -mass, y});  // restore the heaviest first
      }
    m.others.clear();
    double others_mass = 0.0;
    if (count > 0) {
      std::nth_element(candidates.begin(), candidates.begin() + static_cast<std::ptrdiff_t>(count - 1),
                       candidates.end());
      for (size_t k = 0; k < count; ++k) {
        m.others.push_back(candidates[k].second);
        others_mass += remove_others ? candidates[k].first : -candidates[k].first;
      }
    }
    const double kept_change = (grow ? -s.mass[m.line] : s.mass[m.line]) + (remove_others ? -others_mass : others_mass);
    m.delta = -kept_change;
    return true;
  }

  void apply(const Move& m) {
    if (m.swap) {
      flip(m.axis, m.line);
      flip(m.axis, m.other_line);
      return;
    }
    flip(m.axis, m.line);
    for (size_t y : m.others) flip(1 - m.axis, y);
  }

 private:
  double magnitude(int axis, size_t line, size_t other) const { return magnitude_at(w_, axis, line, other); }

  // Remove a kept line or restore a removed one, keeping masses and the kept magnitude current.
  void flip(int axis, size_t line) {
    Side& s = sides_[axis];
    Side& o = sides_[1 - axis];
    const bool restore = s.is_removed(line);
    const double sign = restore ? 1.0 : -1.0;
    kept_ += sign * s.mass[line];
    for (size_t y = 0; y < o.size(); ++y) o.mass[y] += sign * magnitude(axis, line, y);
    if (restore)
      s.mark_kept(line);
    else
      s.mark_removed(line);
  }

  const RowColMatrix& w_;
  uint64_t kept_limit_;
  Side sides_[2];
  double total_ = 0.0;
  double kept_ = 0.0;
};

void check_selection(const RowColMatrix& w, uint64_t kept_limit, const RowColSelection& s) {
  NNZ_CHECK(s.removed_rows.size() == w.rows && s.removed_cols.size() == w.cols, invalid_argument,
            "row/column selection does not match the matrix shape");
  uint64_t kept_rows = 0, kept_cols = 0;
  for (uint8_t f : s.removed_rows) kept_rows += f == 0;
  for (uint8_t f : s.removed_cols) kept_cols += f == 0;
  NNZ_CHECK(kept_rows * kept_cols <= kept_limit, invalid_argument, "row/column selection exceeds the sparsity budget");
}

}  // namespace

uint64_t rowcol_kept_limit(size_t rows, size_t cols, double sparsity) {
  const uint64_t area = checked_mul(rows, cols, "row-and-column pruning");
  return area - required_removed(sparsity, area);
}

double rowcol_removed_magnitude(const RowColMatrix& w, const std::vector<uint8_t>& removed_rows,
                                const std::vector<uint8_t>& removed_cols) {
  NNZ_CHECK(removed_rows.size() == w.rows && removed_cols.size() == w.cols, invalid_argument,
            "row/column selection does not match the matrix shape");
  double loss = 0.0;
  for (size_t i = 0; i < w.rows; ++i)
    for (size_t j = 0; j < w.cols; ++j)
      if (removed_rows[i] || removed_cols[j]) loss += std::fabs(static_cast<double>(w.weights[i * w.cols + j]));
  return loss;
}

RowColSelection rowcol_line_sums(const RowColMatrix& w, double sparsity) {
  check_matrix(w);
  const uint64_t limit = rowcol_kept_limit(w.rows, w.cols, sparsity);
  const Oriented by_rows{w, 0}, by_cols{w, 1};
  const size_t m = w.rows, n = w.cols;
  const std::vector<double> row_sums = line_sums(by_rows), col_sums = line_sums(by_cols);
  const std::vector<size_t> row_order = increasing_order(row_sums), col_order = increasing_order(col_sums);
  // Walk p = 0..m; q(p) only shrinks, so the kept magnitude changes by one row and a few restored
  // columns per step: O(m*n) for all p together.
  std::vector<uint8_t> row_kept(m, 1), col_kept(n, 1);
  size_t q = min_others_removed(m, n, limit, 0);
  double kept = 0.0;
  for (size_t k = 0; k < n; ++k)
    if (k < q)
      col_kept[col_order[k]] = 0;
    else
      kept += col_sums[col_order[k]];
  double total = 0.0;
  for (double r : row_sums) total += r;
  double best_loss = total - kept;
  size_t best_p = 0;
  for (size_t p = 0; p < m; ++p) {
    const size_t i = row_order[p];
    for (size_t j = 0; j < n; ++j)
      if (col_kept[j]) kept -= by_rows.at(i, j);
    row_kept[i] = 0;
    for (const size_t q_next = min_others_removed(m, n, limit, p + 1); q > q_next;) {
      const size_t j = col_order[--q];
      col_kept[j] = 1;
      for (size_t r = 0; r < m; ++r)
        if (row_kept[r]) kept += by_rows.at(r, j);
    }
    if (total - kept < best_loss) {
      best_loss = total - kept;
      best_p = p + 1;
    }
  }
  std::vector<uint8_t> rows(m, 0), cols(n, 0);
  for (size_t p = 0; p < best_p; ++p) rows[row_order[p]] = 1;
  const size_t best_q = min_others_removed(m, n, limit, best_p);
  for (size_t k = 0; k < best_q; ++k) cols[col_order[k]] = 1;
  return finish(w, std::move(rows), std::move(cols));
}

RowColSelection rowcol_conditional(const RowColMatrix& w, double sparsity) {
  check_matrix(w);
  const uint64_t limit = rowcol_kept_limit(w.rows, w.cols, sparsity);
  RowColSelection rows_first = conditional_along(w, 0, limit);
  RowColSelection cols_first = conditional_along(w, 1, limit);
  return cols_first.removed_magnitude < rows_first.removed_magnitude ? cols_first : rows_first;
}

RowColSelection rowcol_anneal(const RowColMatrix& w, double sparsity, const RowColSelection& start,
                              const AnnealOptions& options) {
  check_matrix(w);
  const uint64_t limit = rowcol_kept_limit(w.rows, w.cols, sparsity);
  check_selection(w, limit, start);
  const RowColSelection initial = finish(w, start.removed_rows, start.removed_cols);
  if (options.iterations == 0 || w.rows == 0 || w.cols == 0) return initial;

  Annealer state(w, limit, initial);
  Rng rng(options.seed);
  Annealer::Move move;
  // Starting temperature: an average uphill swap is accepted with probability 1/10 at first;
  // the schedule is geometric down to 1e-4 of that.
  double uphill = 0.0;
  int uphill_count = 0;
  for (int k = 0; k < 64; ++k)
    if (state.propose_swap(rng, static_cast<int>(rng.below(2)), move) && move.delta > 0) {
      uphill += move.delta;
      ++uphill_count;
    }
  const double t_start = uphill_count ? uphill / uphill_count / std::log(10.0) : 0.0;
  const double cooling = std::pow(1e-4, 1.0 / static_cast<double>(options.iterations));

  double best_loss = state.loss();
  std::vector<uint8_t> best_rows = initial.removed_rows, best_cols = initial.removed_cols;
  double temperature = t_start;
  uint64_t accepted = 0;
  for (uint64_t it = 0; it < options.iterations; ++it, temperature *= cooling) {
    const int axis = static_cast<int>(rng.below(2));
    const bool proposed = rng.below(10) == 0 ? state.propose_resize(rng, axis, rng.below(2) == 0, move)
                                             : state.propose_swap(rng, axis, move);
    if (!proposed) continue;
    const bool accept =
        move.delta <= 0.0 || (temperature > 0.0 && rng.uniform() < std::exp(-move.delta / temperature));
    if (!accept) continue;
    state.apply(move);
    if (++accepted % 4096 == 0) state.refresh();
    if (state.loss() < best_loss) {
      best_loss = state.loss();
      best_rows = state.flags(0);
      best_cols = state.flags(1);
    }
  }
  RowColSelection best = finish(w, std::move(best_rows), std::move(best_cols));
  return best.removed_magnitude <= initial.removed_magnitude ? best : initial;
}

}  // namespace nnz
