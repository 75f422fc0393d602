// Choosing what to remove when pruning: the least important groups of weights (single weights for
// magnitude pruning, neurons or kernels for norm pruning) until a sparsity budget is met.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

namespace nnz {

// How many of n items must go so that at least the fraction `sparsity` (in [0, 1]) is removed:
// ceil(sparsity * n), without the off-by-one that rounding of the product would give (0.9 * 100
// is 90.00000000000001 in double).
uint64_t required_removed(double sparsity, uint64_t n);

// Groups of one tensor: one score per group, each group holding group_size parameters.
// Scores are importances: larger is more important. Their sign is ignored; NaN counts as larger
// than any number, so a NaN group is removed last.
struct ScoredGroups {
  const float* scores;
  size_t count;
  uint64_t group_size;
};

// Removal flags (1 = remove) for every group of every set: groups in increasing score, across all
// sets together, until the removed parameters reach required_removed(sparsity, all parameters).
// Equal scores go in order (earlier set, then lower index), so the result is deterministic.
// With one set per call this is per-layer pruning; with all sets in one call, global pruning.
std::vector<std::vector<uint8_t>> select_smallest_groups(const std::vector<ScoredGroups>& sets, double sparsity);

// The L2 norm of each of `groups` consecutive runs of `group_size` values (accumulated in double).
std::vector<double> group_l2_norms(const float* values, size_t groups, size_t group_size);

}  // namespace nnz
