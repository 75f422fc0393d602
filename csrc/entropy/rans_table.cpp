#include "entropy/rans_table.hpp"

#include <algorithm>
#include <string>

#include "common/bit_io.hpp"
#include "common/error.hpp"

namespace nnz {
namespace {

constexpr int kWeightMaxBits = 15;
constexpr int kWeightMantissaBits = 3;

int bit_length(uint64_t v) { return v ? 64 - __builtin_clzll(v) : 0; }

// Rounds w (< 2^15) down to its top 1 + kWeightMantissaBits significant bits.
uint32_t round_weight(uint64_t w) {
  const int len = bit_length(w);
  const int k = std::min(len - 1, kWeightMantissaBits);
  return static_cast<uint32_t>((w >> (len - 1 - k)) << (len - 1 - k));
}

size_t used_end(const std::vector<uint32_t>& weights) {
  size_t end = weights.size();
  while (end > 1 && weights[end - 1] == 0) --end;
  return end;
}

template <typename Put>
void for_each_field(const std::vector<uint32_t>& weights, size_t end, Put put) {
  for (size_t s = 0; s < end; ++s) {
    const uint32_t w = weights[s];
    const int len = bit_length(w);
    put(static_cast<uint64_t>(len), 4);
    if (len >= 2) {
      const int k = std::min(len - 1, kWeightMantissaBits);
      put((w >> (len - 1 - k)) & ((uint32_t{1} << k) - 1), k);
    }
  }
}

}  // namespace

std::vector<uint32_t> rans_weights_from_counts(const uint64_t* counts, size_t alphabet) {
  NNZ_CHECK(alphabet >= 1 && alphabet <= kRansMaxAlphabet, invalid_argument, "rANS: bad alphabet size");
  uint64_t max_count = 0;
  for (size_t s = 0; s < alphabet; ++s) max_count = std::max(max_count, counts[s]);
  std::vector<uint32_t> weights(alphabet, 0);
  if (max_count == 0) {
    weights[0] = 1;
    return weights;
  }
  const int shift = std::max(0, bit_length(max_count) - kWeightMaxBits);
  for (size_t s = 0; s < alphabet; ++s) {
    if (counts[s] == 0) continue;
    weights[s] = round_weight(std::max<uint64_t>(1, counts[s] >> shift));
  }
  return weights;
}

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

size_t rans_table_bytes(const std::vector<uint32_t>& weights) {
  uint64_t bits = 0;
  for_each_field(weights, used_end(weights), [&](uint64_t, int len) { bits += static_cast<uint64_t>(len); });
  return 2 + static_cast<size_t>((bits + 7) / 8);
}

void rans_write_table(ByteWriter& out, const std::vector<uint32_t>& weights) {
  const size_t end = used_end(weights);
  NNZ_CHECK(end >= 1 && end <= kRansMaxAlphabet, invalid_argument, "rANS: bad alphabet size");
  std::vector<uint8_t> field;
  BitWriter bits(field);
  for_each_field(weights, end, [&](uint64_t v, int len) { bits.put(v, len); });
  bits.finish();
  NNZ_CHECK(field.size() <= 255, internal, "rANS: table field too large");
  out.u8(static_cast<uint8_t>(end - 1));
  out.u8(static_cast<uint8_t>(field.size()));
  out.bytes(field);
}

std::vector<uint32_t> rans_read_table(ByteReader& in, size_t alphabet) {
  const size_t end = size_t{in.u8()} + 1;
  NNZ_CHECK(end <= alphabet, corrupt, "rANS: table describes symbols outside the alphabet");
  const ByteSpan field = in.bytes(in.u8());
  BitReader bits(field.data, field.size);
  std::vector<uint32_t> weights(alphabet, 0);
  for (size_t s = 0; s < end; ++s) {
    const int len = static_cast<int>(bits.read(4));
    NNZ_CHECK(len <= kWeightMaxBits, corrupt, "rANS: table weight too wide");
    if (len == 0) continue;
    const int k = std::min(len - 1, kWeightMantissaBits);
    const uint32_t m = static_cast<uint32_t>(k ? bits.read(k) : 0);
    weights[s] = ((uint32_t{1} << k) | m) << (len - 1 - k);
  }
  NNZ_CHECK(bits.finished_exactly(), corrupt, "rANS: table size does not match its fields");
  return weights;
}

}  // namespace nnz
