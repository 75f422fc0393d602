// Bounded little-endian byte reading and writing. Every read of untrusted bytes in the core goes
// through ByteReader: it never reads outside its span and fails with ErrorCode::corrupt instead.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace nnz {

struct ByteSpan {
  const uint8_t* data = nullptr;
  size_t size = 0;
};

inline uint64_t load_le(const uint8_t* p, int nbytes) {
  uint64_t v = 0;
  for (int i = 0; i < nbytes; ++i) v |= static_cast<uint64_t>(p[i]) << (8 * i);
  return v;
}

class ByteReader {
 public:
  ByteReader(ByteSpan span, const char* what) : p_(span.data), n_(span.size), what_(what) {}
  ByteReader(const uint8_t* p, size_t n, const char* what) : p_(p), n_(n), what_(what) {}

  size_t remaining() const { return n_ - pos_; }
  size_t position() const { return pos_; }
  bool at_end() const { return pos_ == n_; }

  uint8_t u8() { return static_cast<uint8_t>(take(1)); }
  uint16_t u16() { return static_cast<uint16_t>(take(2)); }
  uint32_t u32() { return static_cast<uint32_t>(take(4)); }
  uint64_t u64() { return take(8); }

  // A view of the next n bytes; the reader advances past them.
  ByteSpan bytes(uint64_t n) {
    require(n);
    ByteSpan s{p_ + pos_, static_cast<size_t>(n)};
    pos_ += static_cast<size_t>(n);
    return s;
  }
  std::string str(uint64_t n) {
    ByteSpan s = bytes(n);
    return std::string(reinterpret_cast<const char*>(s.data), s.size);
  }
  void expect_end() {
    NNZ_CHECK(pos_ == n_, corrupt, std::string(what_) + ": unexpected trailing bytes");
  }

 private:
  void require(uint64_t n) const {
    NNZ_CHECK(n <= n_ - pos_, corrupt, std::string(what_) + ": truncated");
  }
  uint64_t take(int nbytes) {
    require(static_cast<uint64_t>(nbytes));
    uint64_t v = load_le(p_ + pos_, nbytes);
    pos_ += static_cast<size_t>(nbytes);
    return v;
  }

  const uint8_t* p_;
  size_t n_;
  size_t pos_ = 0;
  const char* what_;
};

class ByteWriter {
 public:
  explicit ByteWriter(std::vector<uint8_t>& out) : out_(out) {}
  void u8(uint8_t v) { out_.push_back(v); }
  void u16(uint16_t v) { put(v, 2); }
  void u32(uint32_t v) { put(v, 4); }
  void u64(uint64_t v) { put(v, 8); }
  void bytes(const void* p, size_t n) {
    const uint8_t* b = static_cast<const uint8_t*>(p);
    out_.insert(out_.end(), b, b + n);
  }
  void bytes(const std::vector<uint8_t>& v) { bytes(v.data(), v.size()); }
  size_t size() const { return out_.size(); }

 private:
  void put(uint64_t v, int nbytes) {
    for (int i = 0; i < nbytes; ++i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
  }
  std::vector<uint8_t>& out_;
};

}  // namespace nnz
