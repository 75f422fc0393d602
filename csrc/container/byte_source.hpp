// Where a reader gets bytes from: a file (positioned reads, safe from several threads at once)
// or a caller's memory buffer (borrowed, or owned when copied in).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/byte_io.hpp"

namespace nnz {

// Where a file's bytes are read into, kept across reads by a caller that reads many (a restore
// reads payload after payload: a fresh buffer for each was faulted in page by page, measured at
// more than half of a restore's CPU time on a VM). Allocated to size, never zero-filled first,
// aligned for direct reads.
class ReadScratch {
 public:
  // `read_once`: the bytes are needed once (a restore), so a file source reads a large range that
  // is not in the page cache from the disk straight into this buffer (O_DIRECT) where the file
  // system allows it, not through the cache (whose fresh pages cost a restore most of its time);
  // a range mostly in the cache is copied from it. Files read again and again, as loaders read
  // them, go through the cache as before.
  explicit ReadScratch(bool read_once = false) : read_once_(read_once) {}
  uint8_t* reserve(size_t n);
  bool read_once() const { return read_once_; }

 private:
  struct Free {
    void operator()(uint8_t* p) const;
  };
  std::unique_ptr<uint8_t, Free> bytes_;
  size_t capacity_ = 0;
  bool read_once_;
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
