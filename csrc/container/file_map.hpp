// A model file mapped read-only into memory, for the format readers: no file descriptor stays
// open (a model may have thousands of external-data files), and ranges already coded can be
// given back to the kernel (release) so that reading a checkpoint larger than memory keeps the
// resident set small.
#pragma once
#include <cstdint>
#include <string>

namespace nnz {

class FileMap {
 public:
  explicit FileMap(const std::string& path);
  ~FileMap();
  FileMap(const FileMap&) = delete;
  FileMap& operator=(const FileMap&) = delete;

  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  // Drops the pages of [offset, offset + length) from memory (they are read again if touched).
  void release(uint64_t offset, uint64_t length) const;

 private:
  uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

}  // namespace nnz
