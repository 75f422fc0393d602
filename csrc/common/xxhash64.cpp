#include "common/xxhash64.hpp"

#include <cstring>

#include "common/bit_io.hpp"

namespace nnz {
namespace {

constexpr uint64_t P1 = 0x9E3779B185EBCA87ULL;
constexpr uint64_t P2 = 0xC2B2AE3D27D4EB4FULL;
constexpr uint64_t P3 = 0x165667B19E3779F9ULL;
constexpr uint64_t P4 = 0x85EBCA77C2B2AE63ULL;
constexpr uint64_t P5 = 0x27D4EB2F165667C5ULL;

inline uint64_t rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

// Unaligned little-endian loads: one instruction each (a byte-by-byte loop kept the hash at
// 1.5 GB/s, a fifth of what its four independent lanes allow).
inline uint64_t read64(const uint8_t* p) { return load64_le(p); }
inline uint64_t read32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  v = __builtin_bswap32(v);
#endif
  return v;
}

inline uint64_t round(uint64_t acc, uint64_t input) {
  acc += input * P2;
  acc = rotl(acc, 31);
  return acc * P1;
}
inline uint64_t merge_round(uint64_t acc, uint64_t val) {
  acc ^= round(0, val);
  return acc * P1 + P4;
}

}  // namespace

Xxh64::Xxh64(uint64_t seed) : acc_{seed + P1 + P2, seed + P2, seed, seed - P1}, seed_(seed) {}

void Xxh64::update(const void* data, size_t size) {
  const uint8_t* p = static_cast<const uint8_t*>(data);
  const uint8_t* const end = p + size;
  total_ += size;
  if (pending_size_ + size < 32) {
    if (size) std::memcpy(pending_ + pending_size_, p, size);
    pending_size_ += size;
    return;
  }
  uint64_t v1 = acc_[0], v2 = acc_[1], v3 = acc_[2], v4 = acc_[3];
  if (pending_size_) {  // complete the stripe left over from the last piece
    const size_t fill = 32 - pending_size_;
    std::memcpy(pending_ + pending_size_, p, fill);
    p += fill;
    v1 = round(v1, read64(pending_));
    v2 = round(v2, read64(pending_ + 8));
    v3 = round(v3, read64(pending_ + 16));
    v4 = round(v4, read64(pending_ + 24));
    pending_size_ = 0;
  }
  for (; end - p >= 32; p += 32) {
    v1 = round(v1, read64(p));
    v2 = round(v2, read64(p + 8));
    v3 = round(v3, read64(p + 16));
    v4 = round(v4, read64(p + 24));
  }
  acc_[0] = v1, acc_[1] = v2, acc_[2] = v3, acc_[3] = v4;
  pending_size_ = static_cast<size_t>(end - p);
  if (pending_size_) std::memcpy(pending_, p, pending_size_);
}

uint64_t Xxh64::digest() const {
  uint64_t h;
  if (total_ >= 32) {
    h = rotl(acc_[0], 1) + rotl(acc_[1], 7) + rotl(acc_[2], 12) + rotl(acc_[3], 18);
    for (uint64_t v : acc_) h = merge_round(h, v);
  } else {
    h = seed_ + P5;
  }
  h += total_;
  const uint8_t* p = pending_;
  const uint8_t* const end = pending_ + pending_size_;
  while (end - p >= 8) {
    h ^= round(0, read64(p));
    h = rotl(h, 27) * P1 + P4;
    p += 8;
  }
  if (end - p >= 4) {
    h ^= read32(p) * P1;
    h = rotl(h, 23) * P2 + P3;
    p += 4;
  }
  while (p < end) {
    h ^= static_cast<uint64_t>(*p) * P5;
    h = rotl(h, 11) * P1;
    ++p;
  }
  h ^= h >> 33;
  h *= P2;
  h ^= h >> 29;
  h *= P3;
  h ^= h >> 32;
  return h;
}

uint64_t xxhash64(const void* data, size_t size, uint64_t seed) {
  Xxh64 h(seed);
  h.update(data, size);
  return h.digest();
}

}  // namespace nnz
