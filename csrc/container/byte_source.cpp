#include "container/byte_source.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/checked_math.hpp"
#include "common/error.hpp"
#include "common/parallel.hpp"

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
  ByteSpan read(uint64_t offset, uint64_t n, ReadScratch& scratch, int threads) const override {
    check_range(offset, n, size_);
    const size_t size = to_size(n, "read");
    uint8_t* const dst = scratch.reserve(size);
    // Copying out of the page cache is a large part of decoding a big tensor: slices of at least
    // 4 MiB are read in parallel.
    constexpr size_t kSlice = size_t{4} << 20;
    const size_t slices = std::min(static_cast<size_t>(std::max(threads, 1)), static_cast<size_t>(ceil_div(size, kSlice)));
    const size_t per = slices ? static_cast<size_t>(ceil_div(size, slices)) : 0;
    parallel_for(slices, threads, [&](size_t s) {
      const size_t begin = s * per, end = std::min(size, begin + per);
      read_exactly(dst + begin, end - begin, offset + begin);
    });
    return ByteSpan{dst, size};
  }

 private:
  void read_exactly(uint8_t* dst, size_t n, uint64_t offset) const {
    size_t done = 0;
    while (done < n) {
      ssize_t got = ::pread(fd_, dst + done, n - done, static_cast<off_t>(offset + done));
      if (got < 0 && errno == EINTR) continue;
      NNZ_CHECK(got > 0, io, "cannot read '" + path_ + "'" + (got < 0 ? std::string(": ") + std::strerror(errno) : " (file shrank)"));
      done += static_cast<size_t>(got);
    }
  }

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
  ByteSpan read(uint64_t offset, uint64_t n, ReadScratch&, int) const override {
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
