// Whole-file restore through the C API (nnz_restore, nnz_restore_to_dir) and into memory (MemorySink),
// run under ASan/UBSan in
// CI: sections `nncodec/files` built here byte by byte (docs/FORMAT.md 9.1), good and hostile.
#include <sys/stat.h>
#include <unistd.h>

#include <fcntl.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "codecs/lossless/lossless.hpp"
#include "common/crc32.hpp"
#include "common/dtype.hpp"
#include "common/direct_file.hpp"
#include "common/error.hpp"
#include "container/byte_source.hpp"
#include "container/memory_sink.hpp"
#include "container/nnz_reader.hpp"
#include "container/nnz_writer.hpp"
#include "expect.hpp"
#include "nnz/nnz.h"

namespace {

struct Hole {
  uint64_t offset;
  std::string tensor;
  uint8_t swap;
  std::vector<uint64_t> crcs;
};

struct File {
  std::string name;
  std::vector<uint8_t> bytes;  // the whole file; holes are cut out of it
  std::vector<Hole> holes;
};

void put(std::vector<uint8_t>& out, uint64_t v, int n) {
  for (int i = 0; i < n; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void put_text(std::vector<uint8_t>& out, const std::string& s) {
  put(out, s.size(), 2);
  out.insert(out.end(), s.begin(), s.end());
}

std::vector<uint8_t> section(const std::vector<File>& files, const std::vector<uint64_t>& hole_bytes) {
  std::vector<uint8_t> layout, kept;
  put(layout, files.size(), 4);
  size_t k = 0;
  for (const File& f : files) {
    put_text(layout, f.name);
    put(layout, f.bytes.size(), 8);
    put(layout, f.holes.size(), 4);
    uint64_t at = 0;
    for (const Hole& h : f.holes) {
      put(layout, h.offset, 8);
      put_text(layout, h.tensor);
      layout.push_back(h.swap);
      layout.push_back(static_cast<uint8_t>(h.crcs.size()));
      for (uint64_t c : h.crcs) put(layout, c, 8);
      if (h.offset > at && h.offset <= f.bytes.size())  // hostile layouts may overlap or run past the end
        kept.insert(kept.end(), f.bytes.begin() + static_cast<long>(at), f.bytes.begin() + static_cast<long>(h.offset));
      at = std::max(at, h.offset + hole_bytes[k++]);
    }
    if (at < f.bytes.size()) kept.insert(kept.end(), f.bytes.begin() + static_cast<long>(at), f.bytes.end());
  }
  std::vector<uint8_t> out = {'N', 'N', 'Z', 'F', 1, 0, 0, 0};
  put(out, layout.size(), 8);
  out.insert(out.end(), layout.begin(), layout.end());
  out.insert(out.end(), kept.begin(), kept.end());
  return out;
}

// A .nnz with tensors "a" (float32 x 64) and "b" (uint8 x 10) and the given files section.
std::string write_model(const std::string& tag, const std::vector<uint8_t>& files_section) {
  const std::string path = temp_path(tag.c_str());
  nnz::NnzWriter w(path);
  std::vector<uint8_t> a(256), b(10);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint8_t>(i * 7);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(100 + i);
  w.add_tensor("a", nnz::DType::float32, {64}, nnz::LosslessCodec::encode({nnz::DType::float32, 64, a.data()}, {4096, 1}));
  w.add_tensor("b", nnz::DType::uint8, {10}, nnz::LosslessCodec::encode({nnz::DType::uint8, 10, b.data()}, {4096, 1}));
  w.add_blob("nncodec/files", nnz::BlobEncoding::stored, files_section.data(), files_section.size());
  w.finish();
  return path;
}

// The files the restore is expected to give: "model.bin" = a 7-byte header holding the CRC-32 of
// tensor b (bytes 3..6), 256 kept bytes, b, "END"; "sub/extra.data" = tensor a byte-swapped per
// float32 (as a big-endian file holds it).
std::vector<File> sample_files() {
  std::vector<uint8_t> model = {'H', 'D', 'R', 0, 0, 0, 0};
  std::vector<uint8_t> a(256), b(10);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<uint8_t>(i * 7);
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<uint8_t>(100 + i);
  const uint32_t crc = nnz::crc32(b.data(), b.size());
  for (int i = 0; i < 4; ++i) model[static_cast<size_t>(3 + i)] = static_cast<uint8_t>(crc >> (8 * i));
  model.insert(model.end(), a.begin(), a.end());
  model.insert(model.end(), b.begin(), b.end());
  model.insert(model.end(), {'E', 'N', 'D'});
  std::vector<uint8_t> swapped(a);
  for (size_t i = 0; i < swapped.size(); i += 4) {
    std::swap(swapped[i], swapped[i + 3]);
    std::swap(swapped[i + 1], swapped[i + 2]);
  }
  return {File{"model.bin", model, {{7 + 256, "b", 0, {3}}}}, File{"sub/extra.data", swapped, {{0, "a", 4, {}}}}};
}

struct Collected {
  std::vector<std::string> names;
  std::vector<std::vector<uint8_t>> files;
};

int on_open(void* ctx, const char* name, uint64_t) {
  auto* c = static_cast<Collected*>(ctx);
  c->names.emplace_back(name);
  c->files.emplace_back();
  return 0;
}
int on_write(void* ctx, const void* data, size_t n) {
  auto* c = static_cast<Collected*>(ctx);
  const auto* p = static_cast<const uint8_t*>(data);
  c->files.back().insert(c->files.back().end(), p, p + n);
  return 0;
}
int on_close(void*) { return 0; }

void test_restore_streams_every_file_with_crcs_and_byte_order() {
  const std::vector<File> files = sample_files();
  const std::string path = write_model("restore_ok", section(files, {10, 256}));
  nnz_reader* r = nullptr;
  EXPECT(nnz_open_file(path.c_str(), nullptr, &r, nullptr) == NNZ_OK);
  size_t count = 0;
  uint64_t total = 0;
  EXPECT(nnz_restore_size(r, &count, &total, nullptr) == NNZ_OK && count == 2);
  EXPECT(total == files[0].bytes.size() + files[1].bytes.size());
  const char* name = nullptr;
  uint64_t size = 0;
  EXPECT(nnz_restore_file(r, 1, &name, &size, nullptr) == NNZ_OK && std::string(name) == "sub/extra.data" && size == 256);
  Collected got;
  const nnz_sink sink{on_open, on_write, on_close};
  for (int threads : {1, 3}) {
    got = Collected{};
    EXPECT(nnz_restore(r, &sink, &got, threads, nullptr) == NNZ_OK);
    EXPECT(got.names.size() == 2 && got.names[0] == "model.bin" && got.names[1] == "sub/extra.data");
    EXPECT(got.files.size() == 2 && got.files[0] == files[0].bytes && got.files[1] == files[1].bytes);
  }
  nnz_close(r);
  std::remove(path.c_str());
}

// The error code a call throws (ok when it returns).
template <typename F>
nnz::ErrorCode code_of(F call) {
  try {
    call();
  } catch (const nnz::Error& e) {
    return e.code();
  }
  return nnz::ErrorCode::ok;
}

void test_memory_sink_restores_the_files_chosen_and_skips_the_others() {
  const std::vector<File> files = sample_files();
  const std::string path = write_model("restore_memory", section(files, {10, 256}));
  const nnz::NnzReader reader(nnz::open_file_source(path));
  for (size_t chosen = 0; chosen < files.size(); ++chosen)
    for (int threads : {1, 2}) {
      std::vector<uint8_t> out(files[chosen].bytes.size());
      nnz::MemorySink sink;
      sink.add(files[chosen].name, out.data(), out.size());
      nnz::restore(reader, sink, threads);
      sink.check_complete();
      EXPECT(out == files[chosen].bytes);
    }
  std::vector<uint8_t> small(3), whole(files[0].bytes.size());
  nnz::MemorySink wrong_size;
  wrong_size.add("model.bin", small.data(), small.size());
  EXPECT(code_of([&] { nnz::restore(reader, wrong_size, 1); }) == nnz::ErrorCode::invalid_argument);
  nnz::MemorySink unknown;
  unknown.add("model.bin", whole.data(), whole.size());
  unknown.add("missing.bin", small.data(), small.size());
  nnz::restore(reader, unknown, 1);
  EXPECT(whole == files[0].bytes);
  EXPECT(code_of([&] { unknown.check_complete(); }) == nnz::ErrorCode::not_found);
  std::remove(path.c_str());
}

// The status of restoring a file with this section; layout checks fail before the sink sees
// anything (`checked_first`), damage to the kept bytes only when the restore reaches it.
nnz_status restore_status(const std::vector<uint8_t>& files_section, bool checked_first = true) {
  const std::string path = write_model("restore_bad", files_section);
  nnz_reader* r = nullptr;
  nnz_error err;
  nnz_status s = nnz_open_file(path.c_str(), nullptr, &r, &err);
  Collected got;
  const nnz_sink sink{on_open, on_write, on_close};
  if (s == NNZ_OK) s = nnz_restore(r, &sink, &got, 1, &err);
  if (s == NNZ_OK) EXPECT(!got.names.empty());
  if (s != NNZ_OK && checked_first) EXPECT(got.names.empty());
  nnz_close(r);
  std::remove(path.c_str());
  return s;
}

void test_hostile_layouts_are_refused_before_the_sink_sees_a_name() {
  for (const char* bad : {"../x", "/etc/passwd", ".bashrc", "a/.ssh/keys", "a//b", "a\\b", "c:evil", "x\ny",
                          "\xe2\x80\xae" "evil", "\xff\xfe", "", "./a"}) {
    std::vector<File> files = sample_files();
    files[1].name = bad;
    EXPECT(restore_status(section(files, {10, 256})) == NNZ_ERR_UNSAFE);
  }
  std::vector<File> twins = sample_files();
  twins[1].name = "MODEL.bin";
  EXPECT(restore_status(section(twins, {10, 256})) == NNZ_ERR_UNSAFE);

  std::vector<File> reused = sample_files();
  reused[1].holes.push_back({0, "b", 0, {}});  // b a second time (and overlapping a)
  EXPECT(restore_status(section(reused, {10, 256, 10})) == NNZ_ERR_CORRUPT);
  std::vector<File> unknown = sample_files();
  unknown[0].holes[0].tensor = "nope";
  EXPECT(restore_status(section(unknown, {10, 256})) == NNZ_ERR_CORRUPT);
  std::vector<File> crc_in_data = sample_files();
  crc_in_data[0].holes[0].crcs = {7 + 256 + 2};  // inside the tensor's own bytes
  EXPECT(restore_status(section(crc_in_data, {10, 256})) == NNZ_ERR_CORRUPT);
  std::vector<File> past_end = sample_files();
  past_end[0].holes[0].offset = past_end[0].bytes.size();
  EXPECT(restore_status(section(past_end, {10, 256})) == NNZ_ERR_CORRUPT);
  std::vector<uint8_t> truncated = section(sample_files(), {10, 256});
  truncated.resize(truncated.size() - 5);
  EXPECT(restore_status(truncated, false) == NNZ_ERR_CORRUPT);
  std::vector<uint8_t> future = section(sample_files(), {10, 256});
  future[4] = 2;
  EXPECT(restore_status(future) == NNZ_ERR_UNSUPPORTED);
}

std::vector<uint8_t> read_file(const std::string& path) {
  std::vector<uint8_t> out;
  if (std::FILE* f = std::fopen(path.c_str(), "rb")) {
    for (int c; (c = std::fgetc(f)) != EOF;) out.push_back(static_cast<uint8_t>(c));
    std::fclose(f);
  }
  return out;
}

void test_restore_to_dir_writes_the_files_and_keeps_the_policy() {
  const std::vector<File> files = sample_files();
  const std::string path = write_model("restore_dir", section(files, {10, 256}));
  const std::string dir = temp_path("restore_out");
  std::remove(dir.c_str());  // a fresh name: the restore makes the folder
  nnz_reader* r = nullptr;
  EXPECT(nnz_open_file(path.c_str(), nullptr, &r, nullptr) == NNZ_OK);
  EXPECT(nnz_restore_to_dir(r, dir.c_str(), 0, 2, nullptr) == NNZ_OK);
  EXPECT(read_file(dir + "/model.bin") == files[0].bytes && read_file(dir + "/sub/extra.data") == files[1].bytes);
  EXPECT(nnz_restore_to_dir(r, dir.c_str(), 0, 1, nullptr) == NNZ_ERR_INVALID_ARGUMENT);  // exists, no force
  EXPECT(nnz_restore_to_dir(r, dir.c_str(), 1, 1, nullptr) == NNZ_OK);                    // its own files
  const std::string user = dir + "/sub/notes.txt";
  if (std::FILE* f = std::fopen(user.c_str(), "w")) std::fclose(f);
  EXPECT(nnz_restore_to_dir(r, dir.c_str(), 1, 1, nullptr) == NNZ_ERR_UNSAFE);  // sub/ is not only the model's
  std::remove(user.c_str());
  std::remove((dir + "/sub/extra.data").c_str());
  ::rmdir((dir + "/sub").c_str());
  const std::string outside = temp_path("restore_outside");
  std::remove(outside.c_str());
  ::mkdir(outside.c_str(), 0777);
  EXPECT(::symlink(outside.c_str(), (dir + "/sub").c_str()) == 0);
  EXPECT(nnz_restore_to_dir(r, dir.c_str(), 1, 1, nullptr) == NNZ_ERR_UNSAFE);  // never through a symlink
  EXPECT(read_file(outside + "/extra.data").empty());
  nnz_close(r);
  std::remove((dir + "/sub").c_str());
  std::remove((dir + "/model.bin").c_str());
  ::rmdir(dir.c_str());
  ::rmdir(outside.c_str());
  std::remove(path.c_str());
}

}  // namespace

std::vector<uint8_t> random_bytes(std::mt19937_64& rng, size_t n) {
  std::vector<uint8_t> out(n);
  for (uint8_t& b : out) b = static_cast<uint8_t>(rng());
  return out;
}

std::vector<uint8_t> file_bytes(const std::string& path) {
  std::vector<uint8_t> out;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return out;
  uint8_t buf[1 << 16];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, f)) > 0;) out.insert(out.end(), buf, buf + n);
  std::fclose(f);
  return out;
}

// Appended bytes come back whole, at sizes around a block and around the 8 MiB buffers, appended
// in pieces of any size (several buffers in flight): on $TMPDIR (O_DIRECT where the file system
// takes it) and on /dev/shm (tmpfs, which may refuse it: the page cache then).
void test_direct_appender_keeps_every_byte() {
  std::mt19937_64 rng(5);
  const size_t mib = size_t{1} << 20;
  for (const char* where : {"", "/dev/shm"}) {
    if (*where && ::access(where, W_OK) != 0) continue;
    for (size_t size : {size_t{0}, size_t{1}, size_t{4095}, size_t{4097}, 8 * mib - 1, 8 * mib, 8 * mib + 1,
                        70 * mib + 123}) {
      const std::vector<uint8_t> bytes = random_bytes(rng, size);
      const std::string path = *where ? std::string(where) + "/nnz_direct_test" : temp_path("direct");
      const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      EXPECT(fd >= 0);
      {
        nnz::DirectFileAppender out(fd, path);
        for (size_t at = 0; at < size;) {
          const size_t piece = std::min<size_t>(size - at, 1 + rng() % (3 * mib));
          out.append(bytes.data() + at, piece);
          at += piece;
        }
        out.finish();
      }
      ::close(fd);
      EXPECT(file_bytes(path) == bytes);
      ::unlink(path.c_str());
    }
  }
}

// Ranges read once (a restore's payloads) equal the file's bytes whether the file is in the page
// cache or not (then read from the disk directly), at unaligned offsets, up to the file's end
// (the last block of a direct read stops there), with one thread and several.
void test_read_once_ranges_equal_the_file() {
  std::mt19937_64 rng(6);
  const uint64_t mib = uint64_t{1} << 20;
  const std::vector<uint8_t> bytes = random_bytes(rng, static_cast<size_t>(9 * mib + 777));
  const std::string path = temp_path("read_once");
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    EXPECT(f && std::fwrite(bytes.data(), 1, bytes.size(), f) == bytes.size());
    EXPECT(std::fflush(f) == 0 && ::fsync(::fileno(f)) == 0);
    std::fclose(f);
  }
  const uint64_t size = bytes.size();
  const std::vector<std::pair<uint64_t, uint64_t>> ranges = {
      {0, 2 * mib}, {12345, 3 * mib + 5}, {size - 3 * mib / 2, 3 * mib / 2}, {size - mib - 1, mib + 1}, {8, size - 8}};
  for (bool cached : {false, true}) {
    for (int threads : {1, 3}) {
      if (!cached) {  // out of the page cache: clean pages of a synced file are dropped
        const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        EXPECT(fd >= 0 && ::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED) == 0);
        ::close(fd);
      }
      const std::unique_ptr<nnz::ByteSource> source = nnz::open_file_source(path);
      nnz::ReadScratch scratch(true);
      for (const auto& [offset, n] : ranges) {
        const nnz::ByteSpan got = source->read(offset, n, scratch, threads);
        EXPECT(got.size == n && std::memcmp(got.data, bytes.data() + offset, static_cast<size_t>(n)) == 0);
      }
    }
  }
  ::unlink(path.c_str());
}

int main() {
  test_restore_streams_every_file_with_crcs_and_byte_order();
  test_memory_sink_restores_the_files_chosen_and_skips_the_others();
  test_hostile_layouts_are_refused_before_the_sink_sees_a_name();
  test_restore_to_dir_writes_the_files_and_keeps_the_policy();
  test_direct_appender_keeps_every_byte();
  test_read_once_ranges_equal_the_file();
  return exit_status("restore tests");
}
