// Positions of the non-zero elements of a tensor (a 0/1 mask), coded three ways; the encoder
// keeps the smallest:
//   u8 mode = 0 (bitmap)  token stream of the n mask bits, context = the 4 bits before
//   u8 mode = 1 (gaps)    u64 ones; token stream of, for each one, the zeros before it since the
//                         previous one; context = bit length of the previous gap (max 15)
//   u8 mode = 2 (runs)    u64 runs; token stream of the lengths of alternating runs of zeros and
//                         ones, zeros first (only the first run may be empty); context =
//                         8 * (run of ones) + min(7, bit length of the previous run of that kind)
// Token streams: entropy/token_stream.hpp (unsigned). Coding: positions_encode.hpp; decoding:
// positions_decode.hpp.
#pragma once
#include <cstdint>

namespace nnz {

enum class PositionMode : uint8_t { bitmap = 0, gaps = 1, runs = 2 };

// Shared context rules.
inline int position_bit_length(uint64_t v) { return v ? 64 - __builtin_clzll(v) : 0; }
inline uint8_t gap_context(uint64_t previous_gap) {
  const int len = position_bit_length(previous_gap);
  return static_cast<uint8_t>(len < 15 ? len : 15);
}
inline uint8_t run_context(bool ones, uint64_t previous_same_kind) {
  const int len = position_bit_length(previous_same_kind);
  return static_cast<uint8_t>((ones ? 8 : 0) + (len < 7 ? len : 7));
}

}  // namespace nnz
