#include <algorithm>
#include <string>

#include "common/bit_io.hpp"
#include "common/bit_width.hpp"
#include "common/error.hpp"
#include "entropy/rans_encode.hpp"

namespace nnz {
namespace {

// Rounds w (< 2^15) down to its top 1 + kRansWeightMantissaBits significant bits.
uint32_t round_weight(uint64_t w) {
  const int len = bit_width(w);
  const int k = std::min(len - 1, kRansWeightMantissaBits);
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
    const int len = bit_width(w);
    put(static_cast<uint64_t>(len), 4);
    if (len >= 2) {
      const int k = std::min(len - 1, kRansWeightMantissaBits);
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
  const int shift = std::max(0, bit_width(max_count) - kRansWeightMaxBits);
  for (size_t s = 0; s < alphabet; ++s) {
    if (counts[s] == 0) continue;
    weights[s] = round_weight(std::max<uint64_t>(1, counts[s] >> shift));
  }
  return weights;
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

}  // namespace nnz
