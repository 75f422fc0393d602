// Appends to a new file without the page cache where the file system allows it. Restoring or
// encoding a checkpoint writes gigabytes once; through the page cache, each byte is copied into
// freshly allocated cache pages, which was most of a restore's CPU time and one thread's work
// however many threads decode (measured: 1.6 to 5.5 s of kernel time per 2 GiB written, against
// 0.04 s with O_DIRECT; the disk took 1.1 s either way). Bytes are gathered in an aligned buffer
// and written from it a buffer at a time with O_DIRECT; what is left at the end (less than a
// block) is written through the page cache. Where O_DIRECT is refused (tmpfs, some network file
// systems) every write goes through the page cache, as before. Full buffers are written in order
// by a thread of their own while the caller fills the next ones (up to kBuffers - 1 of them in
// flight: a restore hands over a decoded batch of 64 MiB or more at once), so that decoding or
// coding and the disk overlap.
#pragma once
#include <cstddef>
#include <cstdint>
#include <deque>
#include <future>
#include <string>

namespace nnz {

// Direct I/O's unit: offsets, lengths and buffer addresses are multiples of it (the largest
// logical block size of common devices).
constexpr size_t kDirectIoBlock = 4096;

class DirectFileAppender {
 public:
  // `fd`: a new, empty file open for writing; the caller closes it (after finish()). `name` is
  // for messages.
  DirectFileAppender(int fd, std::string name);
  ~DirectFileAppender();
  DirectFileAppender(const DirectFileAppender&) = delete;
  DirectFileAppender& operator=(const DirectFileAppender&) = delete;

  void append(const uint8_t* data, size_t size);
  // Writes what is gathered; the file then holds every byte appended (not yet fsync'd).
  void finish();

 private:
  void write_out(const uint8_t* data, size_t size);  // at written_, then advances it
  void stop_direct();
  void wait_for_oldest();  // the oldest write in flight (its error, if it failed)

  static constexpr size_t kBuffers = 8;
  int fd_;
  std::string name_;
  bool direct_ = false;        // these two are the writing threads' while writes are in flight
  uint64_t written_ = 0;
  uint8_t* buffers_[kBuffers] = {};  // kBufferBytes each, aligned to kDirectIoBlock
  size_t filling_ = 0;         // the buffer append() fills; the others may be in flight
  size_t staged_ = 0;
  std::deque<std::shared_future<void>> in_flight_;  // oldest first; each waits for the one before
};

}  // namespace nnz
