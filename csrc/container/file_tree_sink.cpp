#include "container/file_tree_sink.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.hpp"
#include "container/member_name.hpp"

namespace nnz {
namespace {

[[noreturn]] void io_fail(const std::string& what, const std::string& name) {
  fail(ErrorCode::io, "cannot " + what + " '" + name + "': " + std::strerror(errno));
}

// A descriptor of the folder that will hold `name` (its parent), made below `root` one component
// at a time with O_NOFOLLOW.
int open_parent(const std::string& root, const std::string& name) {
  int fd = ::open(root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) io_fail("open the folder", root);
  for (size_t start = 0, slash; (slash = name.find('/', start)) != std::string::npos; start = slash + 1) {
    const std::string part = name.substr(start, slash - start);
    if (::mkdirat(fd, part.c_str(), 0777) != 0 && errno != EEXIST) {
      ::close(fd);
      io_fail("create the folder", name.substr(0, slash));
    }
    const int next = ::openat(fd, part.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    ::close(fd);
    if (next < 0) io_fail("open the folder", name.substr(0, slash));
    fd = next;
  }
  return fd;
}

}  // namespace

FileTreeSink::~FileTreeSink() {
  if (fd_ >= 0) ::close(fd_);
}

void FileTreeSink::open(const std::string& stored_name, uint64_t size) {
  check_member_name(stored_name);  // the restore checked it already; a sink never trusts its caller
  NNZ_CHECK(fd_ < 0, internal, "FileTreeSink: open before close");
  const std::string name = first_ && !first_as_.empty() ? first_as_ : stored_name;
  first_ = false;
  NNZ_CHECK(name.find('/') == std::string::npos || name == stored_name, invalid_argument,
            "FileTreeSink: the first file's new name must be a plain file name");
  const int parent = open_parent(root_, name);
  const std::string base = name.substr(name.find_last_of('/') + 1);
  fd_ = ::openat(parent, base.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0666);
  const int saved = errno;
  ::close(parent);
  errno = saved;
  if (fd_ < 0) io_fail("create", name);
  name_ = name;
  expected_ = size;
  written_ = 0;
  out_ = std::make_unique<DirectFileAppender>(fd_, name_);
}

void FileTreeSink::write(const uint8_t* data, size_t size) {
  NNZ_CHECK(fd_ >= 0 && size <= expected_ - written_, internal, "FileTreeSink: write outside a file");
  if (progress_) progress_(size);
  out_->append(data, size);
  written_ += size;
}

void FileTreeSink::close() {
  NNZ_CHECK(fd_ >= 0 && written_ == expected_, internal, "FileTreeSink: file closed before its end");
  out_->finish();
  out_.reset();
  const int fd = fd_;
  fd_ = -1;
  const bool synced = ::fsync(fd) == 0;
  if (::close(fd) != 0 || !synced) io_fail("write", name_);
}

}  // namespace nnz
