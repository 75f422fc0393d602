// Token streams: sequences of unsigned integers (optionally with signs) coded as rANS tokens plus
// raw bits, with up to 64 contexts (sharing at most 16 tables) chosen by the caller (the decoder
// must be able to compute each value's context from the values before it).
//
// A value v < 2^32 becomes a token and raw bits (a "hybrid integer", as in JPEG XL), in one of
// two schemes (the stream does not say which: its reader knows):
//   plain:   v < 16: token v, no raw bits; else e = floor(log2 v), token
//            16 + 4 (e - 4) + (the 2 bits of v below its leading one), raw bits: the e - 2 bits
//            below those, LSB-first. Tokens are < 128.
//   parity:  the same, but a token >= 16 also carries the lowest bit of v:
//            16 + 8 (e - 4) + 2 (the 2 bits below the leading one) + (v & 1), raw bits: the
//            e - 3 bits between, LSB-first. Tokens are < 240. (For readers whose contexts
//            depend on the parity of each value, dq: they need no raw bits to follow them.)
// The raw bits of large values are nearly uniform anyway.
//
// Stream layout (see docs/FORMAT.md, "Token stream"):
//   u8  scale_bits               rANS precision (kRansMinScaleBits..kRansMaxScaleBits: 8..12)
//   u8  ntables                  1..16 (<= nctx)
//   u8  ctx_table[ceil(nctx/2)]  table of each context, a nibble each, low nibble first
//   table[ntables]               rANS tables (rans_table.hpp) over the scheme's tokens
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
constexpr size_t kParityTokenAlphabet = 240;
constexpr int kTokenMaxContexts = 64;
constexpr int kTokenMaxTables = 16;  // contexts share tables: a table index is a nibble

enum class TokenScheme : uint8_t { plain, parity };

inline size_t token_alphabet(TokenScheme scheme) {
  return scheme == TokenScheme::plain ? kTokenAlphabet : kParityTokenAlphabet;
}

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

inline Token value_to_token(uint32_t v, TokenScheme scheme) {
  if (scheme == TokenScheme::plain || v < (uint32_t{1} << kTokenSplitBits)) return value_to_token(v);
  const int e = 31 - __builtin_clz(v);
  const int raw_len = e - kTokenMsbBits - 1;
  const uint32_t top = (v >> (raw_len + 1)) & ((uint32_t{1} << kTokenMsbBits) - 1);
  return Token{(uint32_t{1} << kTokenSplitBits) + (static_cast<uint32_t>(e - kTokenSplitBits) << (kTokenMsbBits + 1)) +
                   (top << 1) + (v & 1),
               raw_len, (v >> 1) & ((uint32_t{1} << raw_len) - 1)};
}

// What a token means: value = high | (raw bits << raw_shift), with raw_len raw bits.
struct TokenMeaning {
  uint32_t high;
  uint8_t raw_len;
  uint8_t raw_shift;
};

inline TokenMeaning token_meaning(uint32_t t, TokenScheme scheme) {
  if (t < (uint32_t{1} << kTokenSplitBits)) return TokenMeaning{t, 0, 0};
  const uint32_t u = t - (uint32_t{1} << kTokenSplitBits);
  if (scheme == TokenScheme::plain) {
    const int e = static_cast<int>(u >> kTokenMsbBits) + kTokenSplitBits;
    const uint32_t top = (uint32_t{1} << kTokenMsbBits) | (u & ((uint32_t{1} << kTokenMsbBits) - 1));
    return TokenMeaning{top << (e - kTokenMsbBits), static_cast<uint8_t>(e - kTokenMsbBits), 0};
  }
  const int e = static_cast<int>(u >> (kTokenMsbBits + 1)) + kTokenSplitBits;
  const uint32_t top = (uint32_t{1} << kTokenMsbBits) | ((u >> 1) & ((uint32_t{1} << kTokenMsbBits) - 1));
  return TokenMeaning{(top << (e - kTokenMsbBits)) | (u & 1), static_cast<uint8_t>(e - kTokenMsbBits - 1), 1};
}

}  // namespace nnz
