// rANS decoder for streams from RansEncoder (see rans_encode.hpp). Safe on any bytes: reads past
// the end yield zeros and are counted, states are checked on entry, and finish() verifies that
// the stream was consumed exactly and both states returned to their initial value.
#pragma once
#include <cstdint>
#include <vector>

#include "common/byte_io.hpp"
#include "common/error.hpp"
#include "entropy/rans_table.hpp"

namespace nnz {

// Decoder view of one table: slot -> symbol, and each symbol's frequency and start.
class RansDecTable {
 public:
  RansDecTable() = default;
  RansDecTable(const std::vector<uint32_t>& freq, int scale_bits)
      : scale_bits_(scale_bits), slot_sym_(size_t{1} << scale_bits), freq_(freq.size()), start_(freq.size()) {
    uint32_t start = 0;
    for (size_t s = 0; s < freq.size(); ++s) {
      NNZ_CHECK(freq[s] <= slot_sym_.size() - start, corrupt, "rANS: frequencies overflow the table");
      freq_[s] = freq[s];
      start_[s] = start;
      for (uint32_t k = 0; k < freq[s]; ++k) slot_sym_[start + k] = static_cast<uint8_t>(s);
      start += freq[s];
    }
    NNZ_CHECK(start == (uint32_t{1} << scale_bits), corrupt, "rANS: frequencies do not fill the table");
  }
  int scale_bits_ = 0;
  std::vector<uint8_t> slot_sym_;
  std::vector<uint32_t> freq_, start_;
};

class RansDecoder {
 public:
  RansDecoder() = default;
  explicit RansDecoder(ByteSpan stream) : p_(stream.data), n_(stream.size) {
    NNZ_CHECK(n_ >= 8, corrupt, "rANS: stream shorter than its states");
    for (int j = 0; j < 2; ++j) {
      state_[j] = static_cast<uint32_t>(load_le(p_ + pos_, 4));
      pos_ += 4;
      NNZ_CHECK(state_[j] >= kRansLowerBound && state_[j] < (uint32_t{1} << 31), corrupt, "rANS: bad initial state");
    }
  }
  inline uint32_t get(const RansDecTable& t, size_t parity) {
    uint32_t x = state_[parity];
    const uint32_t mask = (uint32_t{1} << t.scale_bits_) - 1;
    const uint32_t slot = x & mask;
    const uint32_t s = t.slot_sym_[slot];
    x = t.freq_[s] * (x >> t.scale_bits_) + slot - t.start_[s];
    while (x < kRansLowerBound) x = (x << 8) | next_byte();
    state_[parity] = x;
    return s;
  }
  void finish() const {
    NNZ_CHECK(pos_ == n_ && state_[0] == kRansLowerBound && state_[1] == kRansLowerBound, corrupt,
              "rANS: stream does not end where its symbols do");
  }

 private:
  inline uint32_t next_byte() {
    if (pos_ < n_) return p_[pos_++];
    pos_ = n_ + 1;  // overrun: finish() fails
    return 0;
  }
  const uint8_t* p_ = nullptr;
  size_t n_ = 0, pos_ = 0;
  uint32_t state_[2] = {0, 0};
};

}  // namespace nnz
