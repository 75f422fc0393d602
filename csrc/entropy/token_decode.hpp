// Incremental decoder of a token stream (token_stream.hpp): the caller asks for one value at a
// time with its context, so contexts may depend on the values decoded so far.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/bit_io.hpp"
#include "common/byte_io.hpp"
#include "entropy/rans_decode.hpp"
#include "entropy/token_stream.hpp"

namespace nnz {

class TokenStreamDecoder {
 public:
  static constexpr int kMaxRawBitsPerValue = 30;  // 29 raw bits and a sign

  // Reads the stream's header, tables and spans from `in` (which then stands after the stream).
  TokenStreamDecoder(ByteReader& in, int nctx, TokenScheme scheme = TokenScheme::plain);

  inline uint32_t next(int ctx) {
    const uint32_t t = rans_.get(ctx_slots_[ctx], scale_bits_, position_++);
    const TokenMeaning& m = meanings_[t];
    if (!m.raw_len) return m.high;
    return m.high | (static_cast<uint32_t>(raw_.read(m.raw_len)) << m.raw_shift);
  }
  // A value of a signed stream: magnitude and sign. (For one-pass readers, whose next context
  // follows the magnitude: with the sign applied by a conditional, compilers take |value| from the
  // magnitude itself, off the chain from one value to the next.)
  inline int64_t next_signed(int ctx) {
    uint32_t v;
    return read_signed(token(ctx), v) ? -static_cast<int64_t>(v) : static_cast<int64_t>(v);
  }
  // Decoding in two passes, for readers whose contexts follow the tokens alone (parity scheme):
  // the tokens first (token(), or token_at<p % 4>() for the value at position p), then, in the
  // same order, the values of a signed stream from their tokens (signed_value()).
  inline uint32_t token(int ctx) { return rans_.get(ctx_slots_[ctx], scale_bits_, position_++); }
  template <int kState>
  inline uint32_t token_at(int ctx) {
    ++position_;
    return rans_.get_lane(ctx_slots_[ctx], scale_bits_, kState);
  }
  const TokenMeaning& meaning(uint32_t t) const { return meanings_[t]; }
  // The sign applied by a mask: as a conditional, compilers made a branch of it, mispredicted on
  // about every other value (a quarter of dq's decode time).
  inline int64_t signed_value(uint32_t t) {
    uint32_t v;
    const int64_t negative = -static_cast<int64_t>(read_signed(t, v));
    return (static_cast<int64_t>(v) ^ negative) - negative;
  }
  // Checks that both the rANS stream and the raw bits were used exactly.
  void finish() const;

 private:
  // The magnitude of token t's value (into v) and whether it is negative, from the raw bits;
  // without branches on the value (zeros, signs and raw bits would be mispredicted).
  inline bool read_signed(uint32_t t, uint32_t& v) {
    const TokenMeaning& m = meanings_[t];
    raw_.ensure(kMaxRawBitsPerValue);
    v = m.high | (static_cast<uint32_t>(raw_.peek(m.raw_len)) << m.raw_shift);
    raw_.consume(m.raw_len);
    const int has_sign = v != 0;
    const bool negative = (raw_.peek(1) & static_cast<uint64_t>(has_sign)) != 0;
    raw_.consume(has_sign);
    return negative;
  }
  std::vector<uint32_t> slots_;  // the tables, side by side
  TokenMeaning meanings_[kParityTokenAlphabet] = {};  // of the scheme's tokens (tables hold no others)
  const uint32_t* ctx_slots_[kTokenMaxContexts] = {};  // table of each context
  int scale_bits_ = 0;
  RansDecoder rans_;
  BitReader raw_;
  size_t position_ = 0;
};

}  // namespace nnz
