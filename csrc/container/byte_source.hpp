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
using ReadScratch = std::unique_ptr<uint8_t[]>;

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
