// The local-magnitude context of the quantizing codecs (eb, dq): the context of the next symbol is
// an exponential moving average of the preceding |q|, on a log scale. Rows of a weight matrix
// differ in scale (one output channel is all small, the next all large); the context follows
// them, and contexts with alike statistics share a table of the token stream.
//
// A chunk of n elements is read as 4 lanes, lane j = elements [j*m, min(n, (j+1)*m)) with
// m = ceil(n / 4), each with its own moving average; the stream holds them interleaved (element
// k of lanes 0..3, then element k+1, ...; lanes that have ended are skipped), so the decoder
// follows four independent chains at once.
#pragma once
#include <cstddef>
#include <cstdint>

namespace nnz {

constexpr int kMagnitudeContexts = 16;
constexpr int kMagnitudeMaxShift = 20;
constexpr size_t kMagnitudeLanes = 4;

// `level` is a moving average of |q| with 4 fraction bits:
// level' = level - level/8 + min(|q|, 65535) * 16 / 8 (integer divisions).
inline uint32_t magnitude_next_level(uint32_t level, uint32_t magnitude) {
  const uint32_t a = (magnitude < 65535 ? magnitude : 65535) << 4;
  return level - (level >> 3) + (a >> 3);
}

// Context of the next symbol: about 2 log2(level >> shift), in 0..15.
// (Without branches: decoders follow it one symbol after the other, and x == 0 is frequent.)
inline int magnitude_context(uint32_t level, int shift) {
  const uint32_t x = level >> shift;
  const int len = 32 - __builtin_clz(x | 1);                       // 1 for x = 0 and 1
  const int half = static_cast<int>(((x << 1) >> (len - 1)) & 1);   // the bit below the leading one; 0 if len = 1
  const int c = x ? 2 * len - 1 + half : 0;
  return c < kMagnitudeContexts ? c : kMagnitudeContexts - 1;
}

// The shift that centres the context scale on a chunk whose symbols have magnitudes summing to
// `sum` (each capped at 65535) over n elements: the mean level lands near context 9.
inline int magnitude_shift(uint64_t sum, size_t n) {
  const uint64_t mean_level = n ? (sum << 4) / n : 0;
  int shift = 0;
  while (shift < kMagnitudeMaxShift && (mean_level >> shift) >= 32) ++shift;
  return shift;
}

// The length of each lane of a chunk of n elements (the last may be shorter or empty).
inline size_t magnitude_lane_length(size_t n) { return (n + kMagnitudeLanes - 1) / kMagnitudeLanes; }

// Calls visit(i, lane) for the elements of a chunk of n in stream order.
template <typename Visit>
inline void for_each_in_lane_order(size_t n, Visit visit) {
  const size_t m = magnitude_lane_length(n);
  size_t k = 0;
  const size_t full = n - (kMagnitudeLanes - 1) * m <= n ? n - (kMagnitudeLanes - 1) * m : 0;  // length of the last lane
  for (; k < full; ++k)
    for (size_t j = 0; j < kMagnitudeLanes; ++j) visit(j * m + k, j);
  for (; k < m; ++k)
    for (size_t j = 0; j < kMagnitudeLanes && j * m + k < n; ++j) visit(j * m + k, j);
}

}  // namespace nnz
