#include "container/file_map.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/error.hpp"

namespace nnz {

FileMap::FileMap(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(ErrorCode::io, "cannot open '" + path + "': " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail(ErrorCode::io, "cannot map '" + path + "': not a regular file");
  }
  size_ = static_cast<uint64_t>(st.st_size);
  if (size_ > 0) {
    void* p = ::mmap(nullptr, static_cast<size_t>(size_), PROT_READ, MAP_PRIVATE, fd, 0);
    const int saved = errno;
    ::close(fd);  // the mapping keeps the file; no descriptor is held
    if (p == MAP_FAILED) fail(ErrorCode::io, "cannot map '" + path + "': " + std::strerror(saved));
    data_ = static_cast<uint8_t*>(p);
  } else {
    ::close(fd);
  }
}

FileMap::~FileMap() {
  if (data_) ::munmap(data_, static_cast<size_t>(size_));
}

void FileMap::release(uint64_t offset, uint64_t length) const {
  if (!data_ || offset >= size_) return;
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t end = offset + length > size_ ? size_ : offset + length;
  const uint64_t first = (offset + page - 1) / page * page, last = end / page * page;  // whole pages inside
  if (last > first) ::madvise(data_ + first, static_cast<size_t>(last - first), MADV_DONTNEED);
}

}  // namespace nnz
