// Row-and-column pruning of one weight matrix (a conv kernel viewed as out x in*k*k).
//
// Problem: given W (m x n), remove a set R of rows and a set C of columns so that the part kept,
// (m - |R|) x (n - |C|), is still a dense matrix with kept area (m - |R|)(n - |C|) <= kept_limit
// (= m*n minus required_removed(s, m*n) for a sparsity s), and the removed magnitude
//   L(R, C) = sum of |w_ij| over entries with i in R or j in C
// is as small as possible. The problem is NP-hard; docs/pruning.md proves that both algorithms
// below return L <= 2 * optimum, and simulated annealing improves on their result.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace nnz {

// A row-major matrix of weights; only magnitudes matter. Must be finite.
struct RowColMatrix {
  const float* weights;
  size_t rows;
  size_t cols;
};

struct RowColSelection {
  std::vector<uint8_t> removed_rows;  // one flag per row, 1 = removed
  std::vector<uint8_t> removed_cols;  // one flag per column
  double removed_magnitude = 0.0;     // L(R, C), summed exactly over the matrix
};

// The largest kept area a selection may leave at this sparsity.
uint64_t rowcol_kept_limit(size_t rows, size_t cols, double sparsity);

// L(R, C) computed directly.
double rowcol_removed_magnitude(const RowColMatrix& w, const std::vector<uint8_t>& removed_rows,
                                const std::vector<uint8_t>& removed_cols);

// Algorithm 1, "line sums": for every row count p, the p rows and the fewest columns the budget
// allows (q(p)) with the smallest total magnitudes, each axis chosen on its own; the best p wins.
RowColSelection rowcol_line_sums(const RowColMatrix& w, double sparsity);

// Algorithm 2, "conditional": for every p, the p rows of smallest total magnitude, then the q(p)
// columns of smallest magnitude over the rows that remain (the best columns for those rows);
// also the same with the roles of rows and columns exchanged; the best of all.
RowColSelection rowcol_conditional(const RowColMatrix& w, double sparsity);

struct AnnealOptions {
  uint64_t iterations = 20000;
  uint64_t seed = 0;
};

// Simulated annealing from `start` (a feasible selection, e.g. from the algorithms above): swap a
// removed row or column with a kept one, or trade a row for the columns the budget then allows
// (and the other way). Returns the best selection visited; never one with a larger removed
// magnitude than `start`. The same seed gives the same result (the generator and every choice are
// platform-independent; only libm's exp() could differ in its last bit).
RowColSelection rowcol_anneal(const RowColMatrix& w, double sparsity, const RowColSelection& start,
                              const AnnealOptions& options);

}  // namespace nnz
