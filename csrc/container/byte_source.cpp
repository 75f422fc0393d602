#include "container/byte_source.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/checked_math.hpp"
#include "common/direct_file.hpp"
#include "common/error.hpp"
#include "common/parallel.hpp"

namespace nnz {

void ReadScratch::Free::operator()(uint8_t* p) const { std::free(p); }

uint8_t* ReadScratch::reserve(size_t n) {
  if (n > capacity_) {
    bytes_.reset();  // the old one goes first: never both at once
    capacity_ = 0;
    void* p = nullptr;
    NNZ_CHECK(::posix_memalign(&p, kDirectIoBlock, std::max<size_t>(n, 1)) == 0, out_of_memory,
              "cannot allocate " + std::to_string(n) + " bytes to read into");
    bytes_.reset(static_cast<uint8_t*>(p));
    capacity_ = n;
  }
  return bytes_.get();
}

namespace {

// Direct reads only for ranges this large.
constexpr uint64_t kDirectMinBytes = uint64_t{1} << 20;

// A second descriptor of the file open at `fd`, with O_DIRECT, or -1 where that is refused. Opened
// through /proc/self/fd, so it is the same file even if the path was replaced meanwhile (checked).
int open_direct(int fd) {
#if defined(__linux__) && defined(O_DIRECT)
  const int direct = ::open(("/proc/self/fd/" + std::to_string(fd)).c_str(), O_RDONLY | O_CLOEXEC | O_DIRECT);
  struct stat a, b;
  if (direct >= 0 && ::fstat(fd, &a) == 0 && ::fstat(direct, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino)
    return direct;
  if (direct >= 0) ::close(direct);
#else
  (void)fd;
#endif
  return -1;
}

// Whether most of bytes [begin, end) of the file (block-aligned) are in the page cache: those are
// read from it (a copy), the others from the disk straight into the buffer.
bool mostly_cached(int fd, uint64_t begin, uint64_t end) {
#if defined(__linux__)
  const size_t length = static_cast<size_t>(end - begin);
  void* map = ::mmap(nullptr, length, PROT_READ, MAP_SHARED, fd, static_cast<off_t>(begin));
  if (map == MAP_FAILED) return true;
  const long page = ::sysconf(_SC_PAGESIZE);
  std::vector<unsigned char> resident(static_cast<size_t>(ceil_div(length, static_cast<uint64_t>(page > 0 ? page : 4096))));
  const bool known = ::mincore(map, length, resident.data()) == 0;
  ::munmap(map, length);
  if (!known) return true;
  size_t in_cache = 0;
  for (unsigned char r : resident) in_cache += r & 1;
  return 2 * in_cache >= resident.size();
#else
  (void)fd, (void)begin, (void)end;
  return true;
#endif
}

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
    direct_fd_ = open_direct(fd_);
    direct_.store(direct_fd_ >= 0);
  }
  ~FileSource() override {
    ::close(fd_);
    if (direct_fd_ >= 0) ::close(direct_fd_);
  }
  uint64_t size() const override { return size_; }
  ByteSpan read(uint64_t offset, uint64_t n, ReadScratch& scratch, int threads) const override {
    check_range(offset, n, size_);
    if (scratch.read_once() && n >= kDirectMinBytes && direct_.load(std::memory_order_relaxed)) {
      const uint64_t begin = offset / kDirectIoBlock * kDirectIoBlock, end = ceil_div(offset + n, kDirectIoBlock) * kDirectIoBlock;
      if (!mostly_cached(fd_, begin, end)) {
        uint8_t* const dst = scratch.reserve(to_size(end - begin, "read"));
        if (read_slices(direct_fd_, dst, end - begin, offset + n - begin, begin, threads))
          return ByteSpan{dst + (offset - begin), static_cast<size_t>(n)};
        direct_.store(false, std::memory_order_relaxed);  // refused: through the page cache from now on
      }
    }
    const size_t size = to_size(n, "read");
    uint8_t* const dst = scratch.reserve(size);
    read_slices(fd_, dst, size, size, offset, threads);
    return ByteSpan{dst, size};
  }

 private:
  // Bytes [offset, offset + want) into dst, of which the first `need` must be there (a direct
  // read of the last block stops at the end of the file). Copying out of the page cache is a
  // large part of decoding a big tensor: slices of at least 4 MiB are read in parallel, in whole
  // blocks. False if the descriptor refused a direct read (EINVAL).
  bool read_slices(int fd, uint8_t* dst, uint64_t want, uint64_t need, uint64_t offset, int threads) const {
    constexpr uint64_t kSlice = uint64_t{4} << 20;
    const uint64_t slices = std::min<uint64_t>(static_cast<uint64_t>(std::max(threads, 1)), ceil_div(want, kSlice));
    const uint64_t per = slices ? ceil_div(ceil_div(want, slices), kDirectIoBlock) * kDirectIoBlock : 0;
    std::atomic<bool> refused{false};
    parallel_for(static_cast<size_t>(slices), threads, [&](size_t s) {
      const uint64_t begin = s * per, end = std::min(want, begin + per);
      if (begin < end && !read_exactly(fd, dst + begin, end - begin, std::min(end, need) - std::min(begin, need),
                                       offset + begin))
        refused.store(true);
    });
    return !refused.load();
  }

  bool read_exactly(int fd, uint8_t* dst, uint64_t want, uint64_t need, uint64_t offset) const {
    uint64_t done = 0;
    while (done < need) {
      const ssize_t got = ::pread(fd, dst + done, to_size(want - done, "read"), static_cast<off_t>(offset + done));
      if (got < 0 && errno == EINTR) continue;
      if (got < 0 && errno == EINVAL && fd == direct_fd_) return false;
      NNZ_CHECK(got > 0, io, "cannot read '" + path_ + "'" + (got < 0 ? std::string(": ") + std::strerror(errno) : " (file shrank)"));
      done += static_cast<uint64_t>(got);
    }
    return true;
  }

  std::string path_;
  int fd_ = -1, direct_fd_ = -1;
  mutable std::atomic<bool> direct_{false};  // direct reads possible (until one is refused)
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
