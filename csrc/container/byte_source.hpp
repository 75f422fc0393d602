// Where a reader gets bytes from: a file (positioned reads, safe from several threads at once)
// or a caller's memory buffer (borrowed, or owned when copied in).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/byte_io.hpp"

namespace nnz {

// Memory a source may copy bytes into: allocated to size, never zero-filled first.
// Where a file's bytes are read into, kept across reads by a caller that reads many (a restore
// reads payload after payload: a fresh buffer for each was faulted in page by page, measured at
// more than half of a restore's CPU time on a VM).
class ReadScratch {
 public:
  uint8_t* reserve(size_t n) {
    if (n > capacity_) {
      bytes_.reset();  // the old one goes first: never both at once
      bytes_.reset(new uint8_t[n]);
      capacity_ = n;
    }
    return bytes_.get();
  }

 private:
  std::unique_ptr<uint8_t[]> bytes_;
  size_t capacity_ = 0;
};

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual uint64_t size() const = 0;
  // Bytes [offset, offset + n): either a view into memory the source owns (no copy) or a copy
  // placed in `scratch`, read by up to `threads` threads when large. Throws ErrorCode::corrupt
  // if the range is outside the source.
  virtual ByteSpan read(uint64_t offset, uint64_t n, ReadScratch& scratch, int threads = 1) const = 0;
};

std::unique_ptr<ByteSource> open_file_source(const std::string& path);
// Borrows `data`: it must outlive the source.
std::unique_ptr<ByteSource> memory_source(const uint8_t* data, size_t size);
std::unique_ptr<ByteSource> owned_memory_source(std::vector<uint8_t> bytes);

}  // namespace nnz
