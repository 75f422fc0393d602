#include "container/restore_dir.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <set>
#include <vector>

#include "common/error.hpp"
#include "container/file_tree_sink.hpp"
#include "container/restore.hpp"

namespace nnz {
namespace {

constexpr long kStaleSeconds = 24 * 3600;
constexpr int kMaxRemoveDepth = 64;
constexpr int kDirFlags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC;

[[noreturn]] void io_fail(const std::string& what) { fail(ErrorCode::io, what + ": " + std::strerror(errno)); }

// A file descriptor closed on scope exit.
class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }

 private:
  int fd_;
};

// Removes `name` in `parent` and everything under it (the staging folder, or a stale one).
void remove_tree(int parent, const std::string& name, int depth) {
  if (::unlinkat(parent, name.c_str(), 0) == 0 || depth > kMaxRemoveDepth) return;
  Fd fd(::openat(parent, name.c_str(), kDirFlags));
  if (fd.get() < 0) return;
  if (DIR* d = ::fdopendir(::dup(fd.get()))) {
    std::vector<std::string> entries;
    for (const dirent* e; (e = ::readdir(d)) != nullptr;)
      if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0) entries.emplace_back(e->d_name);
    ::closedir(d);
    for (const std::string& e : entries) remove_tree(fd.get(), e, depth + 1);
  }
  ::unlinkat(parent, name.c_str(), AT_REMOVEDIR);
}

// Removes the staging folders of runs that died (killed, out of memory) over a day ago.
void remove_stale_staging(int dir_fd) {
  DIR* d = ::fdopendir(::dup(dir_fd));
  if (d == nullptr) return;
  std::vector<std::string> stale;
  const size_t prefix = std::strlen(kStagingPrefix);
  for (const dirent* e; (e = ::readdir(d)) != nullptr;) {
    struct stat st;
    if (std::strncmp(e->d_name, kStagingPrefix, prefix) == 0 &&
        ::fstatat(dir_fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode) &&
        st.st_uid == ::getuid() && std::time(nullptr) - st.st_mtime > kStaleSeconds)
      stale.emplace_back(e->d_name);
  }
  ::closedir(d);
  for (const std::string& name : stale) remove_tree(dir_fd, name, 0);
}

// Moves the staged files into the output folder (check phase first, then move phase).
class Mover {
 public:
  Mover(const RestorePlan& plan, const std::string& dir, bool force) : dir_(dir), force_(force) {
    for (const RestoreFile& f : plan.files) {
      names_.insert(f.name);
      for (size_t slash = f.name.find('/'); slash != std::string::npos; slash = f.name.find('/', slash + 1))
        folders_.insert(f.name.substr(0, slash));
    }
  }

  void place(int dest_fd, int staging_fd, const std::string& rel, bool move) {
    std::vector<Fd> opened;
    int folder = dest_fd, source = staging_fd;
    size_t start = 0;
    for (size_t slash; (slash = rel.find('/', start)) != std::string::npos; start = slash + 1) {
      const std::string part = rel.substr(start, slash - start), prefix = rel.substr(0, slash);
      if (move) ::mkdirat(folder, part.c_str(), 0777);  // EEXIST is fine: the open below checks it
      Fd next(::openat(folder, part.c_str(), kDirFlags));
      if (next.get() < 0 && errno == ENOENT && !move) return;  // a new folder: nothing there to collide with
      if (next.get() < 0 && (errno == ELOOP || errno == ENOTDIR))
        fail(ErrorCode::unsafe, "refusing to write into " + dir_ + "/" + prefix + ": it is a symlink or not a folder");
      if (next.get() < 0) io_fail("cannot open " + dir_ + "/" + prefix);
      if (!move && !holds_only_model_files(next.get(), prefix))
        fail(ErrorCode::unsafe, "refusing to write " + rel + " into " + dir_ + "/" + prefix +
                                    ": that folder holds files that are not this model's");
      Fd src(::openat(source, part.c_str(), kDirFlags));
      if (src.get() < 0) io_fail("cannot open the staged folder " + prefix);
      folder = next.get();
      source = src.get();
      opened.push_back(std::move(next));
      opened.push_back(std::move(src));
    }
    const std::string base = rel.substr(start);
    check_target(folder, base, rel);
    if (!move) return;
    if (::renameat(source, base.c_str(), folder, base.c_str()) != 0) io_fail("cannot move " + rel + " into place");
    ::fsync(folder);
  }

 private:
  void check_target(int folder, const std::string& base, const std::string& rel) const {
    struct stat st;
    if (::fstatat(folder, base.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) return;
    const std::string shown = dir_ + "/" + rel;
    if (S_ISLNK(st.st_mode)) fail(ErrorCode::unsafe, "refusing to replace " + shown + ": it is a symlink");
    if (!S_ISREG(st.st_mode)) fail(ErrorCode::unsafe, "refusing to replace " + shown + ": it is not a regular file");
    NNZ_CHECK(force_, invalid_argument, "'" + shown + "' already exists (use --force to overwrite)");
  }

  // Whether an existing sub-folder holds nothing but files (and folders) this model writes.
  bool holds_only_model_files(int fd, const std::string& rel) {
    const auto cached = owned_.find(rel);
    if (cached != owned_.end()) return cached->second;
    bool only = true;
    if (DIR* d = ::fdopendir(::dup(fd))) {
      for (const dirent* e; only && (e = ::readdir(d)) != nullptr;) {
        if (std::strcmp(e->d_name, ".") == 0 || std::strcmp(e->d_name, "..") == 0) continue;
        const std::string path = rel + "/" + e->d_name;
        struct stat st;
        if (::fstatat(fd, e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
          only = false;
        } else if (S_ISDIR(st.st_mode) && folders_.count(path)) {
          Fd sub(::openat(fd, e->d_name, kDirFlags));
          only = sub.get() >= 0 && holds_only_model_files(sub.get(), path);
        } else {
          only = S_ISREG(st.st_mode) && names_.count(path);
        }
      }
      ::closedir(d);
    } else {
      only = false;
    }
    return owned_[rel] = only;
  }

  std::string dir_;
  bool force_;
  std::set<std::string> names_, folders_;
  std::map<std::string, bool> owned_;
};

void make_dirs(const std::string& dir) {
  for (size_t slash = dir.find('/', 1); ; slash = dir.find('/', slash + 1)) {
    const std::string prefix = dir.substr(0, slash);
    if (!prefix.empty() && ::mkdir(prefix.c_str(), 0777) != 0 && errno != EEXIST) io_fail("cannot create " + prefix);
    if (slash == std::string::npos) return;
  }
}

}  // namespace

void restore_to_dir(const NnzReader& reader, const std::string& dir, bool force, int threads) {
  const RestorePlan plan = restore_plan(reader);
  make_dirs(dir);
  Fd dest(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dest.get() < 0) io_fail("cannot open the output folder " + dir);
  remove_stale_staging(dest.get());
  std::string staging = dir + "/" + kStagingPrefix + "XXXXXX";
  if (::mkdtemp(&staging[0]) == nullptr) io_fail("cannot create a staging folder in " + dir);
  const std::string staging_name = staging.substr(dir.size() + 1);
  try {
    FileTreeSink sink(staging);
    restore(reader, sink, threads);
    Fd staged(::openat(dest.get(), staging_name.c_str(), kDirFlags));
    if (staged.get() < 0) io_fail("cannot open the staging folder");
    Mover mover(plan, dir, force);
    for (bool move : {false, true})  // every check passes before the first file moves
      for (const RestoreFile& f : plan.files) mover.place(dest.get(), staged.get(), f.name, move);
  } catch (...) {
    remove_tree(dest.get(), staging_name, 0);
    throw;
  }
  remove_tree(dest.get(), staging_name, 0);
}

}  // namespace nnz
