#include <cstring>
#include <string>

#include "common/error.hpp"
#include "entropy/positions_decode.hpp"
#include "entropy/token_decode.hpp"

namespace nnz {

uint64_t decode_positions(ByteReader& in, size_t n, uint8_t* mask) {
  const uint8_t mode = in.u8();
  uint64_t ones = 0;
  switch (static_cast<PositionMode>(mode)) {
    case PositionMode::bitmap: {
      TokenStreamDecoder bits(in, 16);
      uint32_t history = 0;
      for (size_t i = 0; i < n; ++i) {
        const uint32_t b = bits.next(static_cast<int>(history));
        NNZ_CHECK(b <= 1, corrupt, "positions: bitmap symbol is not a bit");
        mask[i] = static_cast<uint8_t>(b);
        ones += b;
        history = ((history << 1) | b) & 15;
      }
      bits.finish();
      return ones;
    }
    case PositionMode::gaps: {
      ones = in.u64();
      NNZ_CHECK(ones <= n, corrupt, "positions: more non-zeros than elements");
      TokenStreamDecoder gaps(in, 16);
      if (n) std::memset(mask, 0, n);
      uint64_t pos = 0, previous = 0;
      for (uint64_t k = 0; k < ones; ++k) {
        const uint32_t gap = gaps.next(gap_context(previous));
        NNZ_CHECK(gap < n - pos, corrupt, "positions: gap past the end of the tensor");
        pos += gap;
        mask[pos++] = 1;
        previous = gap;
      }
      gaps.finish();
      return ones;
    }
    case PositionMode::runs: {
      const uint64_t count = in.u64();
      NNZ_CHECK(count <= static_cast<uint64_t>(n) + 1, corrupt, "positions: more runs than elements");
      TokenStreamDecoder runs(in, 16);
      uint64_t pos = 0, previous[2] = {0, 0};
      bool kind = false;
      for (uint64_t k = 0; k < count; ++k) {
        const uint32_t len = runs.next(run_context(kind, previous[kind]));
        NNZ_CHECK(len <= n - pos && (len > 0 || k == 0), corrupt, "positions: bad run length");
        if (len) std::memset(mask + pos, kind ? 1 : 0, len);
        pos += len;
        if (kind) ones += len;
        previous[kind] = len;
        kind = !kind;
      }
      NNZ_CHECK(pos == n, corrupt, "positions: runs do not cover the tensor");
      runs.finish();
      return ones;
    }
  }
  fail(ErrorCode::corrupt, "positions: unknown mode " + std::to_string(mode));
}

}  // namespace nnz
