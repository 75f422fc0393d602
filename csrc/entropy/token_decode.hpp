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
  // Reads the stream's header, tables and spans from `in` (which then stands after the stream).
  TokenStreamDecoder(ByteReader& in, int nctx);

  inline uint32_t next(int ctx) {
    const uint32_t t = rans_.get(ctx_slots_[ctx], scale_bits_, position_++);
    const int len = token_raw_len(t);
    if (!len) return t;
    return (token_high_bits(t) << len) | static_cast<uint32_t>(raw_.read(len));
  }
  // A value of a signed stream: magnitude and sign.
  inline int64_t next_signed(int ctx) {
    const uint32_t m = next(ctx);
    if (m == 0) return 0;
    return raw_.read(1) ? -static_cast<int64_t>(m) : static_cast<int64_t>(m);
  }
  // Checks that both the rANS stream and the raw bits were used exactly.
  void finish() const;

 private:
  std::vector<uint32_t> slots_;  // the tables, side by side
  const uint32_t* ctx_slots_[kTokenMaxContexts] = {};  // table of each context
  int scale_bits_ = 0;
  RansDecoder rans_;
  BitReader raw_;
  size_t position_ = 0;
};

}  // namespace nnz
