// nnz-decode: decodes a .nnz file with libnnz alone (no Python). Uses only the public API.
//
//   nnz-decode model.nnz                 one line per tensor: xxh64 of the decoded bytes, dtype,
//                                        shape, name
//   nnz-decode --list model.nnz          the index only (nothing decoded)
//   nnz-decode -o DIR model.nnz          each tensor's decoded bytes as DIR/<index>.bin, plus
//                                        DIR/manifest.json (name, dtype, shape, bytes, xxh64)
//   nnz-decode --restore -o DIR model.nnz  the model's own files (ONNX and its external data, a
//                                        PyTorch archive, safetensors shards) into DIR, byte for
//                                        byte; existing files are kept unless --force
//   nnz-decode --base BASE.nnz ...       a delta file with its base (a .nnz; repeat --base for a
//                                        chain, else each base's base is found beside it by the
//                                        name it records)
//
// Tensors are decoded in batches of at most --max-memory bytes (a tensor larger than that is a
// batch of its own), each batch in parallel on --threads threads. Output appears only when
// everything decoded: the listing is printed at the end, DIR is written under a temporary name
// and renamed into place.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "nnz/nnz.hpp"

namespace {

using nnz::decoder::Error;
using nnz::decoder::Reader;

// Decode batches of at most 4 GiB, or half the physical memory where that is less.
uint64_t default_max_memory() {
  uint64_t limit = uint64_t{4} << 30;
  const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page > 0) limit = std::min(limit, static_cast<uint64_t>(pages) * static_cast<uint64_t>(page) / 2);
  return limit;
}

struct Options {
  std::string file;
  std::string output_dir;
  bool list = false;
  bool restore = false;
  bool force = false;
  int threads = 0;
  uint64_t max_memory = default_max_memory();
  nnz_limits limits{};
  std::vector<std::string> only;
  std::vector<std::string> bases;  // --base: the chain, the file's base first
};

const char kUsage[] =
    "usage: nnz-decode [options] FILE.nnz\n"
    "\n"
    "Decodes every tensor of a .nnz file and prints one line per tensor:\n"
    "  <xxh64 of the decoded bytes, 16 hex digits>  <dtype>  <shape>  <name>\n"
    "\n"
    "options:\n"
    "  -o, --output DIR          write tensor i's decoded bytes to DIR/<i>.bin and a\n"
    "                            DIR/manifest.json (DIR must not exist)\n"
    "  -l, --list                list the tensors without decoding\n"
    "  -b, --base BASE.nnz       the base model a delta file was coded against (repeat for a chain:\n"
    "                            the file's base first; a base's own base is otherwise found beside\n"
    "                            it by the name it records); every base tensor is checked first\n"
    "  -r, --restore             write the model's files into DIR (-o): an ONNX model and its\n"
    "                            external data, a PyTorch archive, safetensors shards\n"
    "  -f, --force               with --restore: replace existing files of the model\n"
    "  -t, --tensor NAME         only this tensor (repeatable)\n"
    "  -j, --threads N           threads (default: one per available CPU)\n"
    "  --max-memory BYTES        decode in batches of at most this many bytes\n"
    "                            (default: 4 GiB or half the physical memory, if less)\n"
    "  --max-tensor-bytes BYTES  refuse tensors larger than this when decoded (default 64 GiB)\n"
    "  --max-index-bytes BYTES   refuse files whose index is larger (default 256 MiB)\n"
    "  -V, --version             print the library version\n"
    "  -h, --help                this help\n";

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "nnz-decode: %s\n(see nnz-decode --help)\n", message.c_str());
  std::exit(2);
}

uint64_t parse_count(const std::string& option, const char* text) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long v = std::strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || text[0] == '-') usage_error(option + " needs a whole number");
  return v;
}

Options parse_args(int argc, char** argv) {
  Options o;
  nnz_default_limits(&o.limits);
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&]() -> const char* {
      if (i + 1 >= argc) usage_error(a + " needs a value");
      return argv[++i];
    };
    if (a == "-h" || a == "--help") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (a == "-V" || a == "--version") {
      std::printf("nnz-decode (libnnz %s)\n", nnz_version_string());
      std::exit(0);
    } else if (a == "-o" || a == "--output") {
      o.output_dir = value();
    } else if (a == "-l" || a == "--list") {
      o.list = true;
    } else if (a == "-b" || a == "--base") {
      o.bases.emplace_back(value());
    } else if (a == "-r" || a == "--restore") {
      o.restore = true;
    } else if (a == "-f" || a == "--force") {
      o.force = true;
    } else if (a == "-t" || a == "--tensor") {
      o.only.emplace_back(value());
    } else if (a == "-j" || a == "--threads") {
      const uint64_t n = parse_count(a, value());
      if (n < 1 || n > 1024) usage_error("--threads must be between 1 and 1024");
      o.threads = static_cast<int>(n);
    } else if (a == "--max-memory") {
      o.max_memory = parse_count(a, value());
    } else if (a == "--max-tensor-bytes") {
      o.limits.max_tensor_bytes = parse_count(a, value());
    } else if (a == "--max-index-bytes") {
      o.limits.max_index_bytes = parse_count(a, value());
    } else if (a.size() > 1 && a[0] == '-') {
      usage_error("unknown option " + a);
    } else if (o.file.empty()) {
      o.file = a;
    } else {
      usage_error("only one FILE can be given");
    }
  }
  if (o.file.empty()) usage_error("no FILE given");
  if (o.list && !o.output_dir.empty()) usage_error("--list and --output exclude each other");
  if (o.restore && (o.output_dir.empty() || o.list || !o.only.empty()))
    usage_error("--restore needs -o DIR, and neither --list nor --tensor");
  if (o.force && !o.restore) usage_error("--force is for --restore");
  return o;
}

// Names are arbitrary UTF-8: control characters and backslashes are escaped to keep one line each.
std::string printable(const char* s, size_t n) {
  std::string out;
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '\\') {
      out += "\\\\";
    } else if (c < 0x20 || c == 0x7F) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

std::string json_string(const char* s, size_t n) {
  std::string out = "\"";
  for (size_t i = 0; i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "\"";
}

std::string shape_text(const nnz_tensor_info& t) {
  if (t.rank == 0) return "scalar";
  std::string s;
  for (size_t d = 0; d < t.rank; ++d) s += (d ? "x" : "") + std::to_string(t.shape[d]);
  return s;
}

std::string dtype_text(const nnz_tensor_info& t) {
  const char* name = nnz_dtype_name(t.dtype);
  return name ? name : "dtype" + std::to_string(t.dtype);
}

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
  return buf;
}

// Removes the staging folders (FINAL.partial-XXXXXX) of runs that died over a day ago (killed,
// out of memory): they hold only the flat files this tool writes.
void remove_stale_partials(const std::string& final_path) {
  const size_t slash = final_path.find_last_of('/');
  const std::string parent = slash == std::string::npos ? "." : final_path.substr(0, slash + 1);
  const std::string prefix = (slash == std::string::npos ? final_path : final_path.substr(slash + 1)) + ".partial-";
  DIR* dir = ::opendir(parent.c_str());
  if (dir == nullptr) return;
  std::vector<std::string> stale;
  for (const dirent* e; (e = ::readdir(dir)) != nullptr;) {
    const std::string name = e->d_name;
    struct stat st;
    const std::string path = parent + "/" + name;
    if (name.compare(0, prefix.size(), prefix) == 0 && ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode) &&
        st.st_uid == ::getuid() && std::time(nullptr) - st.st_mtime > 24 * 3600)
      stale.push_back(path);
  }
  ::closedir(dir);
  for (const std::string& path : stale) {
    if (DIR* d = ::opendir(path.c_str())) {
      for (const dirent* e; (e = ::readdir(d)) != nullptr;)
        if (std::strcmp(e->d_name, ".") != 0 && std::strcmp(e->d_name, "..") != 0)
          ::unlink((path + "/" + e->d_name).c_str());
      ::closedir(d);
    }
    ::rmdir(path.c_str());
  }
}

// A folder written under a temporary name, renamed to its final name by commit(); removed (with
// the files written into it) if the run fails before that.
class StagedDir {
 public:
  explicit StagedDir(const std::string& final_path) : final_(final_path) {
    struct stat st;
    if (::lstat(final_.c_str(), &st) == 0) throw Error(NNZ_ERR_INVALID_ARGUMENT, "'" + final_ + "' already exists");
    remove_stale_partials(final_);
    std::string tmpl = final_ + ".partial-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (::mkdtemp(buf.data()) == nullptr)
      throw Error(NNZ_ERR_IO, "cannot create a folder next to '" + final_ + "': " + std::strerror(errno));
    tmp_ = buf.data();
  }
  ~StagedDir() {
    if (committed_) return;
    for (const std::string& f : files_) ::unlink((tmp_ + "/" + f).c_str());
    ::rmdir(tmp_.c_str());
  }
  void write(const std::string& name, const void* data, size_t size) {
    const std::string path = tmp_ + "/" + name;
    files_.push_back(name);
    std::FILE* f = std::fopen(path.c_str(), "wb");
    bool ok = f != nullptr && (size == 0 || std::fwrite(data, 1, size, f) == size);
    if (f) ok = std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0 && ok;  // on disk before the rename
    if (f) ok = std::fclose(f) == 0 && ok;
    if (!ok) throw Error(NNZ_ERR_IO, "cannot write '" + final_ + "/" + name + "': " + std::strerror(errno));
  }
  void commit() {
    if (::rename(tmp_.c_str(), final_.c_str()) != 0)
      throw Error(NNZ_ERR_IO, "cannot rename '" + tmp_ + "' to '" + final_ + "': " + std::strerror(errno));
    committed_ = true;
    const size_t slash = final_.find_last_of('/');
    const std::string parent = slash == std::string::npos ? "." : final_.substr(0, slash + 1);
    const int fd = ::open(parent.c_str(), O_RDONLY | O_DIRECTORY);  // the rename reaches the disk too
    if (fd >= 0) {
      ::fsync(fd);
      ::close(fd);
    }
  }

 private:
  std::string final_, tmp_;
  std::vector<std::string> files_;
  bool committed_ = false;
};

// Prints to stdout and checks it arrived (a full disk or a closed pipe is an error, not exit 0).
void print_all(const std::string& text) {
  const bool ok = std::fwrite(text.data(), 1, text.size(), stdout) == text.size();
  if (!ok || std::fflush(stdout) != 0 || std::ferror(stdout))
    throw Error(NNZ_ERR_IO, std::string("cannot write to standard output: ") + std::strerror(errno));
}

int list_tensors(const Reader& r, const std::vector<size_t>& selected) {
  std::string out;
  for (size_t i : selected) {
    const nnz_tensor_info t = r.info(i);
    out += dtype_text(t) + "  " + shape_text(t) + "  " + t.codec + "  " + std::to_string(t.coded_bytes) + "  " +
           std::to_string(t.decoded_bytes) + "  " + printable(t.name, t.name_length) + "\n";
  }
  print_all(out);
  return 0;
}

// Runs fn(k) for k in [0, n) on up to `threads` threads.
template <typename Fn>
void run_parallel(size_t n, int threads, Fn fn) {
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t k; (k = next.fetch_add(1)) < n;) fn(k);
  };
  std::vector<std::thread> pool;
  for (int t = 1; t < threads && static_cast<size_t>(t) < n; ++t) pool.emplace_back(work);
  work();
  for (std::thread& t : pool) t.join();
}

int decode_tensors(const Reader& r, const std::vector<size_t>& selected, const Options& o) {
  const int threads = o.threads > 0 ? o.threads : nnz_default_threads();
  std::unique_ptr<StagedDir> dir;
  if (!o.output_dir.empty()) dir = std::make_unique<StagedDir>(o.output_dir);
  const size_t count = r.size();
  const int width = static_cast<int>(std::to_string(count == 0 ? 0 : count - 1).size());
  std::string listing, manifest = "{\"tensors\": [";

  size_t next = 0;
  while (next < selected.size()) {
    // The next batch: tensors in file order while they fit in max_memory (at least one).
    std::vector<size_t> batch;
    std::vector<uint64_t> offsets;
    uint64_t batch_bytes = 0;
    while (next < selected.size()) {
      const uint64_t bytes = r.decoded_size(selected[next]);  // checked against max_tensor_bytes
      if (!batch.empty() && bytes > o.max_memory - batch_bytes) break;
      batch.push_back(selected[next++]);
      offsets.push_back(batch_bytes);
      batch_bytes += bytes;
      if (batch_bytes >= o.max_memory) break;
    }
    if (batch_bytes > SIZE_MAX) throw Error(NNZ_ERR_LIMIT, "batch too large for this platform");
    // At least one byte, so that empty tensors get a non-null output (null means "skip").
    std::unique_ptr<uint8_t[]> arena(new uint8_t[static_cast<size_t>(batch_bytes ? batch_bytes : 1)]);
    std::vector<void*> outs(count, nullptr);
    std::vector<size_t> capacities(count, 0);
    for (size_t k = 0; k < batch.size(); ++k) {
      const uint64_t end = k + 1 < batch.size() ? offsets[k + 1] : batch_bytes;
      outs[batch[k]] = arena.get() + offsets[k];
      capacities[batch[k]] = static_cast<size_t>(end - offsets[k]);
    }
    r.decode_all(outs, capacities, threads);

    std::vector<uint64_t> hashes(batch.size());
    run_parallel(batch.size(), threads,
                 [&](size_t k) { hashes[k] = nnz_xxh64(outs[batch[k]], capacities[batch[k]]); });
    for (size_t k = 0; k < batch.size(); ++k) {
      const size_t i = batch[k];
      const nnz_tensor_info t = r.info(i);
      listing += hex64(hashes[k]) + "  " + dtype_text(t) + "  " + shape_text(t) + "  " +
                 printable(t.name, t.name_length) + "\n";
      if (dir) {
        char file[32];
        std::snprintf(file, sizeof file, "%0*zu.bin", width, i);
        dir->write(file, outs[i], capacities[i]);
        std::string shape = "[";
        for (size_t d = 0; d < t.rank; ++d) shape += (d ? ", " : "") + std::to_string(t.shape[d]);
        manifest += std::string(manifest.back() == '[' ? "\n" : ",\n") + "  {\"file\": \"" + file +
                    "\", \"name\": " + json_string(t.name, t.name_length) + ", \"dtype\": \"" + dtype_text(t) +
                    "\", \"shape\": " + shape + "], \"bytes\": " + std::to_string(capacities[i]) +
                    ", \"xxh64\": \"" + hex64(hashes[k]) + "\"}";
      }
    }
  }
  if (dir) {
    manifest += "\n]}\n";
    dir->write("manifest.json", manifest.data(), manifest.size());
    dir->commit();
  } else {
    print_all(listing);
  }
  return 0;
}

}  // namespace

// The base chain of a delta file: the --base files in order, then each base's recorded name beside
// it (a plain file name only); at most kMaxBaseDepth files, none twice.
constexpr int kMaxBaseDepth = 16;

std::string recorded_base(const std::string& owner, const std::string& name) {
  if (name.empty() || name == "." || name == ".." || name[0] == '.' || name.find('/') != std::string::npos ||
      name.find('\\') != std::string::npos)
    throw Error(NNZ_ERR_BASE, "'" + owner + "' was coded against a base it names '" + printable(name.data(), name.size()) +
                                  "', not a plain file name: give it with --base");
  const size_t slash = owner.find_last_of('/');
  return (slash == std::string::npos ? std::string() : owner.substr(0, slash + 1)) + name;
}

void attach_chain(Reader& r, const std::string& path, const Options& o, size_t k, std::vector<std::pair<dev_t, ino_t>>& seen) {
  if (!r.needs_base()) return;
  if (k == 0 && o.bases.empty())
    throw Error(NNZ_ERR_BASE, "'" + path + "' was coded against the base model '" +
                                  printable(r.base_name().data(), r.base_name().size()) + "': give it with --base");
  if (seen.size() > kMaxBaseDepth) throw Error(NNZ_ERR_LIMIT, "base chain longer than 16 files");
  const std::string base = k < o.bases.size() ? o.bases[k] : recorded_base(path, r.base_name());
  struct stat st;
  if (::stat(base.c_str(), &st) != 0)
    throw Error(NNZ_ERR_BASE, "base model '" + base + "' not found ('" + path + "' was coded against '" +
                                  printable(r.base_name().data(), r.base_name().size()) + "')");
  for (const auto& id : seen)
    if (id.first == st.st_dev && id.second == st.st_ino) throw Error(NNZ_ERR_BASE, "base chain is a cycle: '" + base + "' is in it twice");
  seen.emplace_back(st.st_dev, st.st_ino);
  Reader b = [&] {
    try {
      return Reader::open(base, &o.limits);
    } catch (const Error& e) {
      throw Error(e.status(), "base model '" + base + "': " + e.what() + " (nnz-decode reads bases coded as .nnz)");
    }
  }();
  attach_chain(b, base, o, k + 1, seen);
  r.attach_base(b, o.threads);
}

int main(int argc, char** argv) {
  const Options o = parse_args(argc, argv);
  try {
    Reader r = Reader::open(o.file, &o.limits);
    struct stat st;
    std::vector<std::pair<dev_t, ino_t>> seen;
    if (::stat(o.file.c_str(), &st) == 0) seen.emplace_back(st.st_dev, st.st_ino);
    attach_chain(r, o.file, o, 0, seen);
    std::vector<size_t> selected;
    if (o.only.empty()) {
      for (size_t i = 0; i < r.size(); ++i) selected.push_back(i);
    } else {
      for (const std::string& name : o.only) {
        const size_t i = r.find(name);
        if (std::find(selected.begin(), selected.end(), i) == selected.end()) selected.push_back(i);
      }
    }
    if (o.restore) {
      r.restore_to_dir(o.output_dir, o.force, o.threads);
      return 0;
    }
    return o.list ? list_tensors(r, selected) : decode_tensors(r, selected, o);
  } catch (const Error& e) {
    std::fprintf(stderr, "nnz-decode: error: %s\n", e.what());
  } catch (const std::bad_alloc&) {
    std::fprintf(stderr, "nnz-decode: error: out of memory\n");
  } catch (const std::exception& e) {
    std::fprintf(stderr, "nnz-decode: internal error: %s\n", e.what());
  }
  return 1;
}
