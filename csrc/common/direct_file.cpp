#include "common/direct_file.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "common/error.hpp"

namespace nnz {
namespace {

constexpr size_t kBufferBytes = size_t{8} << 20;

#if defined(O_DIRECT) && !defined(__EMSCRIPTEN__)
bool set_direct(int fd, bool on) {
  const int flags = ::fcntl(fd, F_GETFL);
  return flags >= 0 && ::fcntl(fd, F_SETFL, on ? (flags | O_DIRECT) : (flags & ~O_DIRECT)) == 0;
}
#else
bool set_direct(int, bool on) { return !on; }
#endif

}  // namespace

DirectFileAppender::DirectFileAppender(int fd, std::string name) : fd_(fd), name_(std::move(name)) {
  for (uint8_t*& buffer : buffers_) {
    void* p = nullptr;
    if (::posix_memalign(&p, kDirectIoBlock, kBufferBytes) != 0) {
      for (uint8_t* b : buffers_) std::free(b);
      fail(ErrorCode::out_of_memory, "cannot allocate a write buffer for '" + name_ + "'");
    }
    buffer = static_cast<uint8_t*>(p);
  }
  direct_ = set_direct(fd_, true);
}

DirectFileAppender::~DirectFileAppender() {
  for (const std::shared_future<void>& write : in_flight_) write.wait();  // errors dropped: finish() was not reached
  for (uint8_t* buffer : buffers_) std::free(buffer);
}

void DirectFileAppender::wait_for_oldest() {
  const std::shared_future<void> oldest = in_flight_.front();
  in_flight_.pop_front();
  oldest.get();
}

void DirectFileAppender::stop_direct() {
  if (direct_ && !set_direct(fd_, false)) fail(ErrorCode::io, "cannot write '" + name_ + "': fcntl: " + std::strerror(errno));
  direct_ = false;
}

void DirectFileAppender::write_out(const uint8_t* data, size_t size) {
  while (size > 0) {
    const ssize_t n = ::pwrite(fd_, data, size, static_cast<off_t>(written_));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EINVAL && direct_) {  // the file system took the flag but not the write
      stop_direct();
      continue;
    }
    if (n <= 0) fail(ErrorCode::io, "cannot write '" + name_ + "': " + std::strerror(n < 0 ? errno : EIO));
    data += n;
    size -= static_cast<size_t>(n);
    written_ += static_cast<uint64_t>(n);
    // A short direct write leaves the offset unaligned: the rest goes through the page cache.
    if (direct_ && (written_ % kDirectIoBlock != 0 || size % kDirectIoBlock != 0)) stop_direct();
  }
}

void DirectFileAppender::append(const uint8_t* data, size_t size) {
  while (size > 0) {
    const size_t take = std::min(size, kBufferBytes - staged_);
    std::memcpy(buffers_[filling_] + staged_, data, take);
    staged_ += take;
    data += take;
    size -= take;
    if (staged_ == kBufferBytes) {
      const uint8_t* full = buffers_[filling_];
      const std::shared_future<void> before = in_flight_.empty() ? std::shared_future<void>() : in_flight_.back();
      in_flight_.push_back(std::async(std::launch::async, [this, full, before] {
                             if (before.valid()) before.get();  // in order; and not after a failed one
                             write_out(full, kBufferBytes);
                           }).share());
      if (in_flight_.size() == kBuffers) wait_for_oldest();  // the next buffer to fill is its
      filling_ = (filling_ + 1) % kBuffers;
      staged_ = 0;
    }
  }
}

void DirectFileAppender::finish() {
  while (!in_flight_.empty()) wait_for_oldest();
  const uint8_t* last = buffers_[filling_];
  const size_t whole = staged_ - staged_ % kDirectIoBlock;
  write_out(last, whole);
  stop_direct();  // the tail is not a whole block
  write_out(last + whole, staged_ - whole);
  staged_ = 0;
}

}  // namespace nnz
