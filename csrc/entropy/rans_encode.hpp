// rANS encoder: four interleaved 32-bit states sharing one byte stream (after F. Giesen's
// rans_byte), so that the decoder has four independent dependency chains in flight. Symbols are
// put in reverse order (last symbol first); finish() returns the stream the decoder reads forward:
// states 0..3 (u32 little-endian each), then the renormalisation bytes. Symbol i uses state i % 4,
// so the encoder is told each symbol's position.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "entropy/rans_table.hpp"

namespace nnz {

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
  // Puts a symbol with frequency > 0 (a symbol of frequency 0 cannot be coded: callers build
  // their tables from the very symbols they code).
  inline void put(const RansEncSymbol& sym, size_t position) {
    uint32_t& state = state_[position % kRansStates];
    uint32_t x = state;
    while (x >= sym.x_max) {
      rev_.push_back(static_cast<uint8_t>(x & 0xFF));
      x >>= 8;
    }
    const uint32_t q = static_cast<uint32_t>((static_cast<uint64_t>(x) * sym.rcp_freq) >> 32) >> sym.rcp_shift;
    state = x + sym.bias + q * sym.cmpl_freq;
  }
  std::vector<uint8_t> finish() {
    for (int j = kRansStates - 1; j >= 0; --j)
      for (int b = 3; b >= 0; --b) rev_.push_back(static_cast<uint8_t>(state_[j] >> (8 * b)));
    std::reverse(rev_.begin(), rev_.end());
    return std::move(rev_);
  }

 private:
  uint32_t state_[kRansStates] = {kRansLowerBound, kRansLowerBound, kRansLowerBound, kRansLowerBound};
  std::vector<uint8_t> rev_;  // bytes in emission order (reversed at the end)
};

}  // namespace nnz
