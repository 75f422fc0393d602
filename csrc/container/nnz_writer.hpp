// Streams a .nnz file: header placeholder, payloads as they come, then the index, then the final
// header. The caller makes the write atomic (temp file + rename) and removes the file on failure.
#pragma once
#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "codecs/codec.hpp"
#include "common/direct_file.hpp"
#include "container/nnz_format.hpp"

namespace nnz {

class NnzWriter {
 public:
  explicit NnzWriter(const std::string& path, int alignment_log2 = 3);
  ~NnzWriter();
  NnzWriter(const NnzWriter&) = delete;
  NnzWriter& operator=(const NnzWriter&) = delete;

  void add_tensor(const std::string& name, DType dtype, const std::vector<uint64_t>& shape,
                  const EncodedTensor& encoded);
  void add_blob(const std::string& name, BlobEncoding encoding, const uint8_t* data, size_t size);
  // Bytes written so far (header, payloads, blobs).
  uint64_t size() const { return end_; }
  // The index as it stands (every tensor and blob added so far).
  std::vector<uint8_t> index() const;
  // Writes index and header and closes the file. Returns the total file size. `zlib_index`: the
  // index as a zlib stream (the caller's deflate; checked here by inflating it), or empty to store it.
  uint64_t finish(const std::vector<uint8_t>& zlib_index = {});

 private:
  uint64_t write_aligned(const uint8_t* data, size_t size);
  void write_at_end(const uint8_t* data, size_t size);
  static void check_name(std::set<std::string>& names, const std::string& name, const char* what);

  int fd_ = -1;
  std::unique_ptr<DirectFileAppender> out_;
  std::string path_;
  int alignment_log2_;
  uint64_t end_ = 0;
  std::vector<uint8_t> tensor_index_, blob_index_;
  uint32_t tensor_count_ = 0, blob_count_ = 0;
  std::set<std::string> tensor_names_, blob_names_;
};

}  // namespace nnz
