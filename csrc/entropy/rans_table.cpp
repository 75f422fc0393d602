#include "entropy/rans_table.hpp"

#include <algorithm>
#include <string>

#include "common/bit_io.hpp"
#include "common/error.hpp"

namespace nnz {

std::vector<uint32_t> rans_normalize(const std::vector<uint32_t>& weights, int scale_bits) {
  NNZ_CHECK(scale_bits >= kRansMinScaleBits && scale_bits <= kRansMaxScaleBits, corrupt, "rANS: bad precision");
  const uint64_t target = uint64_t{1} << scale_bits;
  uint64_t total = 0, used = 0;
  for (uint32_t w : weights) {
    total += w;
    used += w != 0;
  }
  NNZ_CHECK(used >= 1 && used <= target, corrupt, "rANS: table has no symbol or too many for its precision");
  std::vector<uint32_t> freq(weights.size(), 0);
  uint64_t sum = 0;
  size_t largest = 0;
  for (size_t s = 0; s < weights.size(); ++s) {
    if (weights[s] == 0) continue;
    freq[s] = static_cast<uint32_t>(std::max<uint64_t>(1, weights[s] * target / total));
    sum += freq[s];
    if (freq[s] > freq[largest]) largest = s;
  }
  if (sum < target) freq[largest] += static_cast<uint32_t>(target - sum);
  // Rounding up to 1 can overshoot by fewer than `used` units: take them from the largest.
  while (sum > target) {
    size_t top = 0;
    for (size_t s = 1; s < freq.size(); ++s)
      if (freq[s] > freq[top]) top = s;
    const uint64_t take = std::min<uint64_t>(sum - target, std::max<uint64_t>(1, freq[top] / 16));
    freq[top] -= static_cast<uint32_t>(take);
    sum -= take;
  }
  return freq;
}

std::vector<uint32_t> rans_read_table(ByteReader& in, size_t alphabet) {
  const size_t end = size_t{in.u8()} + 1;
  NNZ_CHECK(end <= alphabet, corrupt, "rANS: table describes symbols outside the alphabet");
  const ByteSpan field = in.bytes(in.u8());
  BitReader bits(field.data, field.size);
  std::vector<uint32_t> weights(alphabet, 0);
  for (size_t s = 0; s < end; ++s) {
    const int len = static_cast<int>(bits.read(4));
    NNZ_CHECK(len <= kRansWeightMaxBits, corrupt, "rANS: table weight too wide");
    if (len == 0) continue;
    const int k = std::min(len - 1, kRansWeightMantissaBits);
    const uint32_t m = static_cast<uint32_t>(k ? bits.read(k) : 0);
    weights[s] = ((uint32_t{1} << k) | m) << (len - 1 - k);
  }
  NNZ_CHECK(bits.finished_exactly(), corrupt, "rANS: table size does not match its fields");
  return weights;
}

}  // namespace nnz
