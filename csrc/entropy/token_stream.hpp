// Token streams: sequences of unsigned integers (optionally with signs) coded as rANS tokens plus
// raw bits, with up to 16 contexts chosen by the caller (the decoder must be able to compute
// each value's context from the values before it).
//
// A value v < 2^32 becomes a token and raw bits (a "hybrid integer", as in JPEG XL):
//   v < 16:  token v, no raw bits
//   else:    e = floor(log2 v), token 16 + 4 (e - 4) + (the 2 bits of v below its leading one),
//            raw bits: the e - 2 bits below those, LSB-first
// so tokens are < 128 and the raw bits of large values are nearly uniform anyway.
//
// Stream layout (see docs/FORMAT.md, "Token stream"):
//   u8  scale_bits               rANS precision (kRansMinScaleBits..kRansMaxScaleBits: 8..12)
//   u8  ntables                  1..16
//   u8  ctx_table[ceil(nctx/2)]  table of each context, a nibble each, low nibble first
//   table[ntables]               rANS tables (rans_table.hpp) over the 128 tokens
//   u64 rans_bytes, rANS stream  token i uses state i % 4 and the table of its context
//   u64 raw_bytes, raw bits      per value in order: its raw bits, then (signed streams) a sign
//                                bit (1 = negative) if the value is not zero; LSB-first
#pragma once
#include <cstddef>
#include <cstdint>

namespace nnz {

constexpr int kTokenSplitBits = 4;
constexpr int kTokenMsbBits = 2;
constexpr size_t kTokenAlphabet = 128;
constexpr int kTokenMaxContexts = 16;

struct Token {
  uint32_t token;
  int raw_len;
  uint32_t raw;
};

inline Token value_to_token(uint32_t v) {
  if (v < (uint32_t{1} << kTokenSplitBits)) return Token{v, 0, 0};
  const int e = 31 - __builtin_clz(v);
  const int raw_len = e - kTokenMsbBits;
  const uint32_t top = (v >> raw_len) & ((uint32_t{1} << kTokenMsbBits) - 1);
  return Token{(uint32_t{1} << kTokenSplitBits) + (static_cast<uint32_t>(e - kTokenSplitBits) << kTokenMsbBits) + top,
               raw_len, v & ((uint32_t{1} << raw_len) - 1)};
}

// For token t >= 16: the number of raw bits and the value bits the token carries.
inline int token_raw_len(uint32_t t) {
  return t < (uint32_t{1} << kTokenSplitBits)
             ? 0
             : static_cast<int>((t - (uint32_t{1} << kTokenSplitBits)) >> kTokenMsbBits) + kTokenSplitBits - kTokenMsbBits;
}
inline uint32_t token_high_bits(uint32_t t) {
  if (t < (uint32_t{1} << kTokenSplitBits)) return t;
  return (uint32_t{1} << kTokenMsbBits) | (t & ((uint32_t{1} << kTokenMsbBits) - 1));
}

}  // namespace nnz
