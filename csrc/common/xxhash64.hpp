// XXH64 (Yann Collet's xxHash, 64-bit variant, seed 0): the checksum of .nnz files. Chosen over
// CRC32 because it runs at memory speed, so verifying every payload costs almost nothing on decode.
#pragma once
#include <cstddef>
#include <cstdint>

namespace nnz {

// XXH64 of bytes given in pieces (files hashed as they are read); equal to xxhash64() of their
// concatenation.
class Xxh64 {
 public:
  explicit Xxh64(uint64_t seed = 0);
  void update(const void* data, size_t size);
  uint64_t digest() const;

 private:
  uint64_t acc_[4];
  uint64_t seed_;
  uint64_t total_ = 0;
  uint8_t pending_[32];
  size_t pending_size_ = 0;
};

uint64_t xxhash64(const void* data, size_t size, uint64_t seed = 0);

}  // namespace nnz
