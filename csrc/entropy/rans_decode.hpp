// rANS decoder for streams from RansEncoder (see rans_encode.hpp). Safe on any bytes: reads past
// the end yield zeros and are counted, states are checked on entry, and finish() verifies that
// the stream was consumed exactly and both states returned to their initial value.
#pragma once
#include <algorithm>
#include <cstdint>
#include <vector>

#include "common/byte_io.hpp"
#include "common/error.hpp"
#include "entropy/rans_table.hpp"

namespace nnz {

// Decoder view of a table: per slot of 2^scale_bits, one packed entry
// (freq - 1) << 20 | (slot - start of its symbol) << 8 | symbol, so a symbol costs one load.
// Writes the 2^scale_bits entries of the table to `slots`.
inline void rans_fill_dec_table(const std::vector<uint32_t>& freq, int scale_bits, uint32_t* slots) {
  NNZ_CHECK(freq.size() <= kRansMaxAlphabet && scale_bits <= kRansMaxScaleBits, corrupt, "rANS: bad table");
  const size_t size = size_t{1} << scale_bits;
  uint32_t start = 0;
  for (size_t s = 0; s < freq.size(); ++s) {
    const uint32_t f = freq[s];  // a local: the stores below could alias freq, and the loop would reread it
    NNZ_CHECK(f <= size - start, corrupt, "rANS: frequencies overflow the table");
    const uint32_t entry = f == 0 ? 0 : ((f - 1) << 20) | static_cast<uint32_t>(s);
    uint32_t* at = slots + start;
    for (uint32_t k = 0; k < f; ++k) at[k] = entry | (k << 8);
    start += f;
  }
  NNZ_CHECK(start == size, corrupt, "rANS: frequencies do not fill the table");
}

// The same appended to `slots` (tables of a stream sit side by side).
inline void rans_append_dec_table(const std::vector<uint32_t>& freq, int scale_bits, std::vector<uint32_t>& slots) {
  const size_t at = slots.size();
  slots.resize(at + (size_t{1} << std::min(scale_bits, kRansMaxScaleBits)));
  rans_fill_dec_table(freq, scale_bits, slots.data() + at);
}

class RansDecoder {
 public:
  RansDecoder() = default;
  explicit RansDecoder(ByteSpan stream) : p_(stream.data), n_(stream.size) {
    NNZ_CHECK(n_ >= 4 * kRansStates, corrupt, "rANS: stream shorter than its states");
    for (int j = 0; j < kRansStates; ++j) {
      state_[j] = static_cast<uint32_t>(load_le(p_ + pos_, 4));
      pos_ += 4;
      NNZ_CHECK(state_[j] >= kRansLowerBound && state_[j] < (uint32_t{1} << 31), corrupt, "rANS: bad initial state");
    }
  }
  // Decodes the symbol at `position` (its state is position % 4).
  // `slots` is the table (rans_append_dec_table) for precision scale_bits.
  inline uint32_t get(const uint32_t* slots, int scale_bits, size_t position) {
    return get_lane(slots, scale_bits, position % kRansStates);
  }
  // The same with the state given directly: loops unrolled over the four lanes pass constants,
  // so the states stay in registers. kByteTests: renormalize by one test per byte, which
  // compilers make branches of; faster where the symbols take few bits each, so that bytes are
  // rarely due and the branch is predicted (token planes of fine-tunes: 0.7 against 0.59 GB/s of
  // a delta decode), slower where they take more (dq's tokens: 0.36 against 0.39 GB/s).
  template <bool kByteTests = false>
  inline uint32_t get_lane(const uint32_t* slots, int scale_bits, size_t lane) {
    uint32_t& state = state_[lane];
    uint32_t x = state;
    const uint32_t e = slots[x & ((uint32_t{1} << scale_bits) - 1)];
    x = ((e >> 20) + 1) * (x >> scale_bits) + ((e >> 8) & 0xFFF);
    const uint32_t s = e & 0xFF;
    // x >= 2^(23 - scale_bits) >= 2^8 here, so at most two bytes restore x >= 2^23: one if
    // x < 2^23, a second if x < 2^15. Away from the stream's end both are read at once, the count
    // computed without a test (x < 2^31, so x - bound wraps exactly when x < bound).
    if (!kByteTests && __builtin_expect(pos_ + 2 <= n_, 1)) {
      const uint32_t take = ((x - kRansLowerBound) >> 31) + ((x - (kRansLowerBound >> 8)) >> 31);
      const uint64_t window = (uint64_t{x} << 16) | (uint32_t{p_[pos_]} << 8) | p_[pos_ + 1];
      state = static_cast<uint32_t>(window >> ((2 - take) * 8));
      pos_ += take;
    } else {
      state = renorm_near_end(x);
    }
    return s;
  }
  void finish() const {
    bool initial = true;
    for (uint32_t x : state_) initial = initial && x == kRansLowerBound;
    NNZ_CHECK(pos_ == n_ && initial, corrupt, "rANS: stream does not end where its symbols do");
  }

 private:
  // The last bytes: one checked step at a time.
  uint32_t renorm_near_end(uint32_t x) { return renorm_step(renorm_step(x)); }
  inline uint32_t renorm_step(uint32_t x) {
    const bool need = x < kRansLowerBound;
    const bool have = pos_ < n_;
    const uint32_t byte = have ? p_[have ? pos_ : 0] : 0;
    // Past the end, pos_ still advances (to n_ + 1 at most), so finish() reports the overrun.
    pos_ += (need && (have || pos_ == n_)) ? 1 : 0;
    return need ? (x << 8) | byte : x;
  }
  const uint8_t* p_ = nullptr;
  size_t n_ = 0, pos_ = 0;
  uint32_t state_[kRansStates] = {0, 0, 0, 0};
};

}  // namespace nnz
