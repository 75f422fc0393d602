// A restore sink that writes the files under a folder the caller owns (a fresh staging folder):
// sub-folders are created as needed, every component is opened without following symlinks, files
// are created exclusively and fsync'd when closed. Moving them into place is the caller's part.
#pragma once
#include <functional>
#include <memory>
#include <string>

#include "common/direct_file.hpp"
#include "container/restore.hpp"

namespace nnz {

class FileTreeSink : public RestoreSink {
 public:
  // `first_as`: the name the first file is written under instead of its stored one (the output
  // name a user chose: a plain file name); empty to keep it.
  // `progress` (optional) is told the size of every piece written.
  explicit FileTreeSink(std::string root, std::string first_as = "", std::function<void(uint64_t)> progress = {})
      : root_(std::move(root)), first_as_(std::move(first_as)), progress_(std::move(progress)) {}
  ~FileTreeSink() override;
  FileTreeSink(const FileTreeSink&) = delete;
  FileTreeSink& operator=(const FileTreeSink&) = delete;

  void open(const std::string& name, uint64_t size) override;
  void write(const uint8_t* data, size_t size) override;
  void close() override;

 private:
  std::string root_, first_as_, name_;
  std::function<void(uint64_t)> progress_;
  bool first_ = true;
  int fd_ = -1;
  uint64_t expected_ = 0, written_ = 0;
  std::unique_ptr<DirectFileAppender> out_;
};

}  // namespace nnz
