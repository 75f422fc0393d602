// LSB-first bit streams. The writer appends codes least-significant bit first; the reader keeps a
// 64-bit window refilled with unaligned little-endian loads (the fast path) and never reads past
// its span: beyond the end it supplies zero bits and counts them, so a caller can tell afterwards
// whether the stream was overrun (corrupt input) without any out-of-bounds access.
#pragma once
#include <cstdint>
#include <cstring>
#include <vector>

#include "common/error.hpp"

namespace nnz {

class BitWriter {
 public:
  explicit BitWriter(std::vector<uint8_t>& out) : out_(out) {}
  // Appends the low `len` bits of `v`; len <= 32.
  void put(uint64_t v, int len) {
    acc_ |= v << fill_;
    fill_ += len;
    if (fill_ >= 32) {
      for (int i = 0; i < 4; ++i) out_.push_back(static_cast<uint8_t>(acc_ >> (8 * i)));
      acc_ >>= 32;
      fill_ -= 32;
    }
  }
  // Appends the low `len` bits of `v`; len <= 64.
  void put_wide(uint64_t v, int len) {
    if (len > 32) {
      put(v & 0xFFFFFFFFu, 32);
      v >>= 32;
      len -= 32;
    }
    put(v, len);
  }
  // Pads the last byte with zero bits.
  void finish() {
    while (fill_ > 0) {
      out_.push_back(static_cast<uint8_t>(acc_));
      acc_ >>= 8;
      fill_ = fill_ > 8 ? fill_ - 8 : 0;
    }
    acc_ = 0;
  }

 private:
  std::vector<uint8_t>& out_;
  uint64_t acc_ = 0;
  int fill_ = 0;
};

inline uint64_t load64_le(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap64(v);
#endif
  return v;
}

// The branch-free refill both readers use: ORs the 8 bytes at p in above the `count` bits of the
// window (leaving at least 56), and returns how many whole bytes that consumed.
inline size_t refill_window(uint64_t& bits, unsigned& count, const uint8_t* p) {
  bits |= load64_le(p) << count;
  const size_t advance = (63 - count) >> 3;
  count |= 56;
  return advance;
}

// A reader's window and position for hot loops that bound their reads up front and so need no
// checks: BitReader::detach hands one out, BitReader::attach takes it back.
struct BitCursor {
  const uint8_t* ptr;
  uint64_t bits;
  unsigned count;
  // Reads 8 bytes at ptr: the caller has checked that they lie within the stream.
  inline void refill() { ptr += refill_window(bits, count, ptr); }
  inline uint64_t peek(int n) const { return bits & ((uint64_t{1} << n) - 1); }
  inline void consume(int n) {
    bits >>= n;
    count -= static_cast<unsigned>(n);
  }
};

class BitReader {
 public:
  BitReader() = default;
  BitReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  // After refill() at least 56 bits are available in the window.
  inline void refill() {
    if (pos_ + 8 <= size_) {
      pos_ += refill_window(bits_, count_, data_ + pos_);
    } else {
      refill_slow();
    }
  }
  // Makes n <= 56 bits available.
  inline void ensure(int n) {
    if (count_ < static_cast<unsigned>(n)) refill();
  }
  inline uint64_t peek(int n) const { return bits_ & ((uint64_t{1} << n) - 1); }
  inline void consume(int n) {
    bits_ >>= n;
    count_ -= static_cast<unsigned>(n);
  }
  // Reads n <= 56 bits (refilling as needed).
  inline uint64_t read(int n) {
    if (count_ < static_cast<unsigned>(n)) refill();
    uint64_t v = peek(n);
    consume(n);
    return v;
  }
  // Reads n <= 64 bits, in two reads past 32 (the counterpart of BitWriter::put_wide).
  inline uint64_t read_wide(int n) {
    if (n <= 32) return read(n);
    const uint64_t low = read(32);
    return low | (read(n - 32) << 32);
  }
  // Moves to bit `at` of the stream (at most its length): the bits before it count as consumed.
  void seek(uint64_t at) {
    NNZ_CHECK(at <= static_cast<uint64_t>(size_) * 8, internal, "bit stream: seek past the end");
    pos_ = static_cast<size_t>(at >> 3);
    bits_ = 0;
    count_ = 0;
    read(static_cast<int>(at & 7));
  }
  // Stream bytes from the reader's position on (0 once it has run past the end).
  size_t bytes_ahead() const { return pos_ < size_ ? size_ - pos_ : 0; }
  BitCursor detach() const { return BitCursor{data_ + pos_, bits_, count_}; }
  void attach(const BitCursor& c) {
    pos_ = static_cast<size_t>(c.ptr - data_);
    bits_ = c.bits;
    count_ = c.count;
  }
  // Bits consumed so far, including zero bits supplied beyond the end.
  uint64_t consumed_bits() const { return static_cast<uint64_t>(pos_) * 8 - count_; }
  // True if the stream was used exactly: nothing read past the end, and less than one byte of
  // padding left unread.
  bool finished_exactly() const {
    uint64_t used = consumed_bits(), total = static_cast<uint64_t>(size_) * 8;
    return used <= total && used + 8 > total;
  }
  bool overrun() const { return consumed_bits() > static_cast<uint64_t>(size_) * 8; }

 private:
  void refill_slow() {
    while (count_ <= 56) {
      uint64_t b = pos_ < size_ ? data_[pos_] : 0;
      bits_ |= b << count_;
      ++pos_;
      count_ += 8;
    }
  }

  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t pos_ = 0;  // may run past size_: those bytes read as zero
  uint64_t bits_ = 0;
  unsigned count_ = 0;
};

}  // namespace nnz
