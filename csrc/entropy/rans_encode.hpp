// rANS encoder: four interleaved 32-bit states sharing one byte stream (after F. Giesen's
// rans_byte), so that the decoder has four independent dependency chains in flight. Symbols are
// put in reverse order (last symbol first); finish() returns the stream the decoder reads forward:
// states 0..3 (u32 little-endian each), then the renormalisation bytes. Symbol i uses state i % 4,
// so the encoder is told each symbol's position.
#pragma once
#include <algorithm>
#include <memory>
#include <cstdint>
#include <vector>

#include "common/byte_io.hpp"
#include "common/scratch.hpp"
#include "entropy/rans_table.hpp"

namespace nnz {

// Compact weights (as serialised) for symbol counts; an all-zero count vector gets weight 1 on
// symbol 0 so that every table is valid.
std::vector<uint32_t> rans_weights_from_counts(const uint64_t* counts, size_t alphabet);
void rans_write_table(ByteWriter& out, const std::vector<uint32_t>& weights);
size_t rans_table_bytes(const std::vector<uint32_t>& weights);

struct RansEncSymbol {
  uint32_t x_max;     // renormalise while the state is at or above this
  uint32_t rcp_freq;  // fixed-point reciprocal of freq (division-free encoding)
  uint32_t bias;
  uint16_t cmpl_freq;
  uint16_t rcp_shift;
};

// Encoder view of one table (frequencies summing to 2^scale_bits).
class RansEncTable {
 public:
  RansEncTable(const std::vector<uint32_t>& freq, int scale_bits) : syms_(freq.size()) {
    uint32_t start = 0;
    for (size_t s = 0; s < freq.size(); ++s) {
      const uint32_t f = freq[s];
      RansEncSymbol& e = syms_[s];
      e.x_max = ((kRansLowerBound >> scale_bits) << 8) * f;
      e.cmpl_freq = static_cast<uint16_t>((uint32_t{1} << scale_bits) - f);
      if (f < 2) {
        e.rcp_freq = ~0u;
        e.rcp_shift = 0;
        e.bias = start + (uint32_t{1} << scale_bits) - 1;
      } else {
        uint32_t shift = 0;
        while (f > (uint32_t{1} << shift)) ++shift;
        e.rcp_freq = static_cast<uint32_t>(((uint64_t{1} << (shift + 31)) + f - 1) / f);
        e.rcp_shift = static_cast<uint16_t>(shift - 1);
        e.bias = start;
      }
      start += f;
    }
  }
  const RansEncSymbol& operator[](size_t s) const { return syms_[s]; }

 private:
  std::vector<RansEncSymbol> syms_;
};

class RansEncoder {
 public:
  // Room for `symbols` symbols: one renormalisation emits at most 2 bytes (scale_bits <= 15);
  // one spare byte in front for the branch-free write of a byte that is not kept.
  explicit RansEncoder(size_t symbols)
      : size_(2 * symbols + 4 * kRansStates + 1), buf_(scratch_array<uint8_t>(size_)), ptr_(buf_.get() + size_) {}

  // Puts a symbol with frequency > 0 with state `state`, writing bytes below `cursor` (a symbol of
  // frequency 0 cannot be coded: callers build their tables from the very symbols they code).
  // Hot loops keep state and cursor in locals (see states(), cursor()).
  static inline void put(uint32_t& state, uint8_t*& cursor, const RansEncSymbol& sym) {
    uint32_t x = state;
    // At most two bytes move out (x < 2^31, x_max >= 2^(23 - 15 + 8)); branch-free, since the
    // branch would be unpredictable: the byte is always written, the cursor moves only if needed.
    for (int k = 0; k < 2; ++k) {
      const bool out = x >= sym.x_max;
      cursor[-1] = static_cast<uint8_t>(x & 0xFF);
      cursor -= out;
      x = out ? x >> 8 : x;
    }
    const uint32_t q = static_cast<uint32_t>((static_cast<uint64_t>(x) * sym.rcp_freq) >> 32) >> sym.rcp_shift;
    state = x + sym.bias + q * sym.cmpl_freq;
  }
  // The symbol at `position` (its state is position % 4).
  inline void put(const RansEncSymbol& sym, size_t position) { put(state_[position % kRansStates], ptr_, sym); }
  uint32_t* states() { return state_; }
  uint8_t*& cursor() { return ptr_; }

  // The stream (valid while the encoder lives).
  ByteSpan finish() {
    for (int j = kRansStates - 1; j >= 0; --j) {
      ptr_ -= 4;
      for (int b = 0; b < 4; ++b) ptr_[b] = static_cast<uint8_t>(state_[j] >> (8 * b));
    }
    return ByteSpan{ptr_, static_cast<size_t>(buf_.get() + size_ - ptr_)};
  }

 private:
  size_t size_;
  std::unique_ptr<uint8_t[]> buf_;  // filled from the end
  uint8_t* ptr_;
  uint32_t state_[kRansStates] = {kRansLowerBound, kRansLowerBound, kRansLowerBound, kRansLowerBound};
};

}  // namespace nnz
