#include "container/byte_source.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/checked_math.hpp"
#include "common/error.hpp"

namespace nnz {
namespace {

void check_range(uint64_t offset, uint64_t n, uint64_t size) {
  NNZ_CHECK(offset <= size && n <= size - offset, corrupt, "file is truncated (a section points past its end)");
}

class FileSource : public ByteSource {
 public:
  explicit FileSource(const std::string& path) : path_(path) {
    fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    NNZ_CHECK(fd_ >= 0, io, "cannot open '" + path + "': " + std::strerror(errno));
    struct stat st;
    if (::fstat(fd_, &st) != 0 || !S_ISREG(st.st_mode)) {
      ::close(fd_);
      fail(ErrorCode::io, "'" + path + "' is not a regular file");
    }
    size_ = static_cast<uint64_t>(st.st_size);
  }
  ~FileSource() override { ::close(fd_); }
  uint64_t size() const override { return size_; }
  ByteSpan read(uint64_t offset, uint64_t n, std::vector<uint8_t>& scratch) const override {
    check_range(offset, n, size_);
    scratch.resize(to_size(n, "read"));
    size_t done = 0;
    while (done < scratch.size()) {
      ssize_t got = ::pread(fd_, scratch.data() + done, scratch.size() - done, static_cast<off_t>(offset + done));
      if (got < 0 && errno == EINTR) continue;
      NNZ_CHECK(got > 0, io, "cannot read '" + path_ + "'" + (got < 0 ? std::string(": ") + std::strerror(errno) : " (file shrank)"));
      done += static_cast<size_t>(got);
    }
    return ByteSpan{scratch.data(), scratch.size()};
  }

 private:
  std::string path_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

class MemorySource : public ByteSource {
 public:
  MemorySource(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  explicit MemorySource(std::vector<uint8_t> owned) : owned_(std::move(owned)) {
    data_ = owned_.data();
    size_ = owned_.size();
  }
  uint64_t size() const override { return size_; }
  ByteSpan read(uint64_t offset, uint64_t n, std::vector<uint8_t>&) const override {
    check_range(offset, n, size_);
    return ByteSpan{data_ + offset, static_cast<size_t>(n)};
  }

 private:
  std::vector<uint8_t> owned_;
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace

std::unique_ptr<ByteSource> open_file_source(const std::string& path) { return std::make_unique<FileSource>(path); }
std::unique_ptr<ByteSource> memory_source(const uint8_t* data, size_t size) {
  return std::make_unique<MemorySource>(data, size);
}
std::unique_ptr<ByteSource> owned_memory_source(std::vector<uint8_t> bytes) {
  return std::make_unique<MemorySource>(std::move(bytes));
}

}  // namespace nnz
