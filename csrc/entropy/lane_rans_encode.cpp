#include "entropy/lane_rans_encode.hpp"

#include <cmath>

#include "common/error.hpp"

namespace nnz {

void lane_rans_encode(const uint8_t* symbols, const uint8_t* contexts, size_t n,
                      const std::vector<std::vector<uint32_t>>& freq, int scale_bits, std::vector<uint8_t>& out) {
  NNZ_CHECK(scale_bits >= 1 && scale_bits <= 16, internal, "lane rANS: bad precision");
  // Per context and symbol: its frequency and the start of its slots.
  std::vector<std::vector<uint32_t>> start(freq.size());
  for (size_t c = 0; c < freq.size(); ++c) {
    uint32_t at = 0;
    for (uint32_t f : freq[c]) {
      start[c].push_back(at);
      at += f;
    }
    NNZ_CHECK(at == uint32_t{1} << scale_bits, internal, "lane rANS: a table does not fill its slots");
  }
  uint32_t state[kLaneRansLanes];
  for (uint32_t& x : state) x = kLaneRansLowerBound;
  std::vector<uint16_t> words;  // in reverse order of reading
  words.reserve(n / 4 + 16);
  for (size_t i = n; i-- > 0;) {
    const size_t c = contexts[i], s = symbols[i];
    NNZ_CHECK(c < freq.size() && s < freq[c].size() && freq[c][s] != 0, internal, "lane rANS: a symbol without a slot");
    const uint32_t f = freq[c][s];
    uint32_t& x = state[i % kLaneRansLanes];
    // After coding, x = (x / f) 2^P + ... stays below 2^32 exactly when x < f 2^(32 - P).
    if (static_cast<uint64_t>(x) >= static_cast<uint64_t>(f) << (32 - scale_bits)) {
      words.push_back(static_cast<uint16_t>(x & 0xFFFF));
      x >>= 16;
    }
    x = ((x / f) << scale_bits) + x % f + start[c][s];
  }
  const size_t at = out.size();
  out.resize(at + kLaneRansStateBytes + 2 * words.size());
  uint8_t* p = out.data() + at;
  for (uint32_t x : state)
    for (int b = 0; b < 4; ++b) *p++ = static_cast<uint8_t>(x >> (8 * b));
  for (size_t k = words.size(); k-- > 0;) {
    *p++ = static_cast<uint8_t>(words[k]);
    *p++ = static_cast<uint8_t>(words[k] >> 8);
  }
}

uint64_t lane_rans_stream_bytes(double bits) {
  // Whole words, and about half a word per lane left in the final states beyond the ideal.
  return kLaneRansStateBytes + 2 * static_cast<uint64_t>(std::ceil(bits / 16));
}

}  // namespace nnz
