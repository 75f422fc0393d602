#include "extras/prune_select.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "common/checked_math.hpp"
#include "common/error.hpp"

namespace nnz {
namespace {

// Scores ordered as unsigned integers: for non-negative floats the bit pattern is monotone.
// The sign is dropped; every NaN maps to one key just above +Inf.
constexpr uint32_t kNanKey = 0x7F800001u;

uint32_t score_key(float score) {
  uint32_t bits;
  std::memcpy(&bits, &score, sizeof bits);
  bits &= 0x7FFFFFFFu;
  return bits > 0x7F800000u ? kNanKey : bits;
}

}  // namespace

uint64_t required_removed(double sparsity, uint64_t n) {
  NNZ_CHECK(sparsity >= 0.0 && sparsity <= 1.0, invalid_argument, "sparsity must be between 0 and 1");
  const double target = sparsity * static_cast<double>(n);
  const double whole = std::floor(target);
  // A fractional part below this tolerance is rounding noise of the product, not a real demand.
  const double tolerance = 1e-9 * std::max(1.0, target);
  uint64_t k = static_cast<uint64_t>(whole);
  if (target - whole > tolerance) ++k;
  return std::min(k, n);
}

std::vector<std::vector<uint8_t>> select_smallest_groups(const std::vector<ScoredGroups>& sets, double sparsity) {
  uint64_t total = 0;
  for (const ScoredGroups& s : sets) {
    NNZ_CHECK(s.group_size > 0, invalid_argument, "group size must be positive");
    total = checked_add(total, checked_mul(s.count, s.group_size, "pruning"), "pruning");
  }
  const uint64_t budget = required_removed(sparsity, total);
  std::vector<std::vector<uint8_t>> removed(sets.size());
  for (size_t t = 0; t < sets.size(); ++t) removed[t].assign(sets[t].count, 0);
  if (budget == 0) return removed;

  // Radix selection of the threshold key T, 8 bits at a time: the smallest key with
  // weight(key <= T) >= budget. `below` is the weight of keys under the current prefix range.
  uint64_t below = 0;
  uint32_t prefix = 0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    const uint32_t high_mask = shift == 24 ? 0u : ~((1u << (shift + 8)) - 1u);
    uint64_t hist[256] = {};
    for (const ScoredGroups& s : sets)
      for (size_t i = 0; i < s.count; ++i) {
        const uint32_t key = score_key(s.scores[i]);
        if ((key & high_mask) == prefix) hist[(key >> shift) & 0xFFu] += s.group_size;
      }
    uint32_t bucket = 0;
    while (bucket < 255 && below + hist[bucket] < budget) below += hist[bucket++];
    prefix |= bucket << shift;
  }

  uint64_t taken = 0;
  for (size_t t = 0; t < sets.size(); ++t)
    for (size_t i = 0; i < sets[t].count; ++i)
      if (score_key(sets[t].scores[i]) < prefix) {
        removed[t][i] = 1;
        taken += sets[t].group_size;
      }
  for (size_t t = 0; t < sets.size() && taken < budget; ++t)
    for (size_t i = 0; i < sets[t].count && taken < budget; ++i)
      if (score_key(sets[t].scores[i]) == prefix) {
        removed[t][i] = 1;
        taken += sets[t].group_size;
      }
  NNZ_CHECK(taken >= budget, internal, "pruning selection fell short of its budget");
  return removed;
}

std::vector<double> group_l2_norms(const float* values, size_t groups, size_t group_size) {
  std::vector<double> norms(groups);
  for (size_t g = 0; g < groups; ++g) {
    double sum = 0.0;
    const float* v = values + g * group_size;
    for (size_t k = 0; k < group_size; ++k) sum += static_cast<double>(v[k]) * static_cast<double>(v[k]);
    norms[g] = std::sqrt(sum);
  }
  return norms;
}

}  // namespace nnz
