// Tests of the C API (csrc/include/nnz/nnz.h), run under ASan/UBSan in CI. Files are written with
// the core's NnzWriter, then read back only through the C API.
#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "codecs/delta/delta.hpp"
#include "codecs/lossless/lossless.hpp"
#include "common/xxhash64.hpp"
#include "container/base_table.hpp"
#include "codecs/raw/raw.hpp"
#include "common/dtype.hpp"
#include "container/nnz_writer.hpp"
#include "nnz/nnz.h"
#include "nnz/nnz.hpp"
#include "expect.hpp"

namespace {

struct Tensor {
  std::string name;
  nnz::DType dtype;
  std::vector<uint64_t> shape;
  std::vector<uint8_t> data;
  bool raw;
};

std::vector<uint8_t> random_bytes(std::mt19937_64& rng, size_t n, bool smooth) {
  std::vector<uint8_t> v(n);
  for (auto& b : v) b = static_cast<uint8_t>(smooth ? (rng() % 7) : rng());
  return v;
}

std::vector<Tensor> sample_tensors() {
  std::mt19937_64 rng(7);
  std::vector<Tensor> ts;
  auto add = [&](std::string name, nnz::DType dt, std::vector<uint64_t> shape, bool raw) {
    uint64_t count = 1;
    for (uint64_t d : shape) count *= d;
    const size_t bytes = static_cast<size_t>(count) * static_cast<size_t>(nnz::dtype_bytes(dt));
    ts.push_back(Tensor{std::move(name), dt, std::move(shape), random_bytes(rng, bytes, !raw), raw});
  };
  add("big.weight", nnz::DType::float32, {300, 1000}, false);  // several chunks
  add("layer.bias", nnz::DType::bfloat16, {513}, false);
  add("ids", nnz::DType::int64, {7, 3}, false);
  add("scale", nnz::DType::float16, {}, true);   // scalar
  add("empty", nnz::DType::float32, {0, 4}, true);
  add("mask", nnz::DType::boolean, {17}, true);
  add(std::string("unicode/\xc3\xa9t\xc3\xa9"), nnz::DType::uint8, {64, 64}, false);
  for (int i = 0; i < 40; ++i) add("small." + std::to_string(i), nnz::DType::int16, {static_cast<uint64_t>(i + 1), 5}, false);
  return ts;
}

void write_file(const std::string& path, const std::vector<Tensor>& ts) {
  nnz::NnzWriter w(path);
  for (const Tensor& t : ts) {
    uint64_t count = 1;
    for (uint64_t d : t.shape) count *= d;
    const nnz::TensorRef ref{t.dtype, count, t.data.data()};
    w.add_tensor(t.name, t.dtype, t.shape,
                 t.raw ? nnz::RawCodec::encode(ref, nnz::RawSettings{}) : nnz::LosslessCodec::encode(ref, nnz::LosslessOptions{4096, 1}));
  }
  const uint8_t meta[] = {'{', '}'};
  w.add_blob("nncodec/meta.json", nnz::BlobEncoding::stored, meta, sizeof meta);
  w.finish();
}

std::vector<uint8_t> read_all(const std::string& path) {
  std::vector<uint8_t> bytes;
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) return bytes;
  int c;
  while ((c = std::fgetc(f)) != EOF) bytes.push_back(static_cast<uint8_t>(c));
  std::fclose(f);
  return bytes;
}

void check_listing_and_decode(nnz_reader* r, const std::vector<Tensor>& ts) {
  EXPECT(nnz_tensor_count(r) == ts.size());
  for (size_t i = 0; i < ts.size(); ++i) {
    nnz_tensor_info info;
    EXPECT(nnz_tensor_info_at(r, i, &info, nullptr) == NNZ_OK);
    EXPECT(info.name == ts[i].name && std::strlen(info.name) == info.name_length);
    EXPECT(info.dtype == static_cast<int>(ts[i].dtype));
    EXPECT(std::string(nnz_dtype_name(info.dtype)) == nnz::dtype_info(ts[i].dtype).name);
    EXPECT(info.rank == ts[i].shape.size());
    for (size_t d = 0; d < info.rank; ++d) EXPECT(info.shape[d] == ts[i].shape[d]);
    EXPECT(info.rank != 0 || info.shape == nullptr);
    EXPECT(info.decoded_bytes == ts[i].data.size());
    EXPECT(info.element_size * info.element_count == info.decoded_bytes);
    EXPECT(std::string(info.codec) == (ts[i].raw ? "raw" : "lossless"));
    size_t found = 999;
    EXPECT(nnz_find_tensor(r, ts[i].name.c_str(), &found, nullptr) == NNZ_OK && found == i);
    uint64_t size = 0;
    EXPECT(nnz_decoded_size(r, i, &size, nullptr) == NNZ_OK && size == ts[i].data.size());
    std::vector<uint8_t> out(ts[i].data.size() + 3, 0xEE);  // larger than needed is fine
    EXPECT(nnz_decode_tensor(r, i, out.data(), out.size(), 2, nullptr) == NNZ_OK);
    EXPECT(std::equal(ts[i].data.begin(), ts[i].data.end(), out.begin()));
    EXPECT(out[ts[i].data.size()] == 0xEE);  // nothing written past the tensor
    EXPECT(nnz_verify_tensor(r, i, nullptr) == NNZ_OK);
  }
}

void test_open_file_and_memory() {
  const std::vector<Tensor> ts = sample_tensors();
  const std::string path = temp_path("capi_basic");
  write_file(path, ts);
  nnz_reader* r = nullptr;
  nnz_error err;
  EXPECT(nnz_open_file(path.c_str(), nullptr, &r, &err) == NNZ_OK);
  check_listing_and_decode(r, ts);
  unsigned major = 0, minor = 9;
  EXPECT(nnz_format_version(r, &major, &minor, nullptr) == NNZ_OK && major == 1 && minor == 7);
  nnz_close(r);

  const std::vector<uint8_t> bytes = read_all(path);
  EXPECT(nnz_open_memory(bytes.data(), bytes.size(), nullptr, &r, &err) == NNZ_OK);
  check_listing_and_decode(r, ts);
  nnz_close(r);
  ::unlink(path.c_str());
}

void test_decode_all_same_for_any_thread_count() {
  const std::vector<Tensor> ts = sample_tensors();
  const std::string path = temp_path("capi_all");
  write_file(path, ts);
  const nnz::decoder::Reader r = nnz::decoder::Reader::open(path);
  for (int threads : {1, 2, 3, 8, 0}) {
    std::vector<std::vector<uint8_t>> bufs(ts.size());
    std::vector<void*> outs(ts.size(), nullptr);
    std::vector<size_t> caps(ts.size(), 0);
    for (size_t i = 0; i < ts.size(); ++i) {
      if (i % 5 == 4) continue;  // skipped tensors stay untouched
      bufs[i].assign(ts[i].data.size() + 1, 0xAB);
      outs[i] = bufs[i].data();
      caps[i] = bufs[i].size();
    }
    r.decode_all(outs, caps, threads);
    for (size_t i = 0; i < ts.size(); ++i) {
      if (!outs[i]) continue;
      EXPECT(std::equal(ts[i].data.begin(), ts[i].data.end(), bufs[i].begin()));
      EXPECT(bufs[i].back() == 0xAB);
    }
  }
  ::unlink(path.c_str());
}

void test_concurrent_readers_of_one_handle() {
  const std::vector<Tensor> ts = sample_tensors();
  const std::string path = temp_path("capi_conc");
  write_file(path, ts);
  const nnz::decoder::Reader r = nnz::decoder::Reader::open(path);
  std::vector<int> ok(8, 1);
  std::vector<std::thread> pool;
  for (int t = 0; t < 8; ++t) {
    pool.emplace_back([&, t] {
      for (int round = 0; round < 3; ++round)
        for (size_t i = static_cast<size_t>(t) % ts.size(); i < ts.size(); i += 3)
          if (r.decode(i, 1) != ts[i].data) ok[static_cast<size_t>(t)] = 0;
    });
  }
  for (auto& th : pool) th.join();
  for (int v : ok) EXPECT(v == 1);
  ::unlink(path.c_str());
}

void test_large_payloads_read_in_parallel_slices() {
  // Payloads above 4 MiB are read from the file in slices, one per thread.
  std::mt19937_64 rng(11);
  std::vector<Tensor> ts;
  ts.push_back(Tensor{"raw.big", nnz::DType::float32, {2621441}, random_bytes(rng, 2621441 * 4, false), true});
  ts.push_back(Tensor{"lossless.big", nnz::DType::uint8, {5 << 20}, random_bytes(rng, 5 << 20, false), false});
  const std::string path = temp_path("capi_slices");
  write_file(path, ts);
  const nnz::decoder::Reader r = nnz::decoder::Reader::open(path);
  for (size_t i = 0; i < ts.size(); ++i)
    for (int threads : {1, 3}) EXPECT(r.decode(i, threads) == ts[i].data);
  ::unlink(path.c_str());
}

void test_errors() {
  const std::vector<Tensor> ts = sample_tensors();
  const std::string path = temp_path("capi_err");
  write_file(path, ts);
  nnz_reader* r = nullptr;
  nnz_error err;
  // Arguments.
  EXPECT(nnz_open_file(nullptr, nullptr, &r, &err) == NNZ_ERR_INVALID_ARGUMENT && r == nullptr);
  EXPECT(err.status == NNZ_ERR_INVALID_ARGUMENT && std::strlen(err.message) > 0);
  EXPECT(nnz_open_file(path.c_str(), nullptr, nullptr, &err) == NNZ_ERR_INVALID_ARGUMENT);
  EXPECT(nnz_open_file("/nonexistent/x.nnz", nullptr, &r, &err) == NNZ_ERR_IO && r == nullptr);
  EXPECT(nnz_open_memory(nullptr, 10, nullptr, &r, nullptr) == NNZ_ERR_INVALID_ARGUMENT);
  EXPECT(nnz_tensor_count(nullptr) == 0);
  nnz_close(nullptr);
  EXPECT(nnz_open_file(path.c_str(), nullptr, &r, &err) == NNZ_OK);
  nnz_tensor_info info;
  EXPECT(nnz_tensor_info_at(r, ts.size(), &info, &err) == NNZ_ERR_INVALID_ARGUMENT);
  EXPECT(nnz_tensor_info_at(nullptr, 0, &info, nullptr) == NNZ_ERR_INVALID_ARGUMENT);
  size_t idx;
  EXPECT(nnz_find_tensor(r, "no such tensor", &idx, &err) == NNZ_ERR_NOT_FOUND);
  EXPECT(std::strstr(err.message, "no such tensor") != nullptr);
  std::vector<uint8_t> small(ts[0].data.size() - 1);
  EXPECT(nnz_decode_tensor(r, 0, small.data(), small.size(), 1, &err) == NNZ_ERR_INVALID_ARGUMENT);
  EXPECT(nnz_decode_tensor(r, 0, nullptr, 0, 1, &err) == NNZ_ERR_INVALID_ARGUMENT);
  EXPECT(nnz_decode_tensor(r, 0, small.data(), small.size(), -1, &err) == NNZ_ERR_INVALID_ARGUMENT);
  EXPECT(nnz_decode_all(r, nullptr, nullptr, 1, &err) == NNZ_ERR_INVALID_ARGUMENT);
  // Messages longer than the buffer are cut, still NUL-terminated, and not inside a UTF-8 sequence.
  std::string long_name(300, 'a');
  long_name += "\xc3\xa9\xc3\xa9\xc3\xa9";
  for (size_t cut = 0; cut < 4; ++cut) {
    EXPECT(nnz_find_tensor(r, long_name.substr(cut).c_str(), &idx, &err) == NNZ_ERR_NOT_FOUND);
    const size_t n = std::strlen(err.message);
    EXPECT(n < NNZ_ERROR_MESSAGE_SIZE && n > 200);
    EXPECT((static_cast<unsigned char>(err.message[n - 1]) & 0xC0) != 0xC0);
  }
  nnz_close(r);

  // Limits: a tensor above max_tensor_bytes is refused before anything is allocated for it.
  nnz_limits limits;
  nnz_default_limits(&limits);
  EXPECT(limits.max_tensor_bytes == (uint64_t{1} << 36));
  limits.max_tensor_bytes = 1000;
  EXPECT(nnz_open_file(path.c_str(), &limits, &r, &err) == NNZ_OK);
  uint64_t size = 0;
  EXPECT(nnz_decoded_size(r, 0, &size, &err) == NNZ_ERR_LIMIT);
  EXPECT(nnz_decode_tensor(r, 0, small.data(), small.size(), 1, &err) == NNZ_ERR_LIMIT);
  EXPECT(nnz_decoded_size(r, 3, &size, &err) == NNZ_OK && size == 2);
  nnz_close(r);
  limits.max_index_bytes = 10;
  EXPECT(nnz_open_file(path.c_str(), &limits, &r, &err) == NNZ_ERR_LIMIT && r == nullptr);

  // Damage: every single-byte change of the file is reported (checksums), never a crash.
  const std::vector<uint8_t> bytes = read_all(path);
  size_t reported = 0, changes = 0;
  for (size_t pos = 0; pos < bytes.size(); pos += 1 + bytes.size() / 3000) {
    std::vector<uint8_t> bad = bytes;
    bad[pos] ^= 0x40;
    ++changes;
    nnz_reader* br = nullptr;
    nnz_status s = nnz_open_memory(bad.data(), bad.size(), nullptr, &br, &err);
    for (size_t i = 0; s == NNZ_OK && i < nnz_tensor_count(br); ++i) {
      std::vector<uint8_t> out(ts[i].data.size());
      s = nnz_decode_tensor(br, i, out.data(), out.size(), 1, &err);
    }
    if (s == NNZ_ERR_CHECKSUM || s == NNZ_ERR_CORRUPT || s == NNZ_ERR_UNSUPPORTED) ++reported;
    nnz_close(br);
  }
  // Padding bytes between aligned sections are not covered by any checksum.
  EXPECT(reported * 10 >= changes * 9);
  // Truncation at any point is an error.
  for (size_t cut = 0; cut < bytes.size(); cut += 1 + bytes.size() / 500) {
    nnz_reader* br = nullptr;
    EXPECT(nnz_open_memory(bytes.data(), cut, nullptr, &br, &err) != NNZ_OK && br == nullptr);
  }
  ::unlink(path.c_str());
}

void test_unknown_dtype_is_listed_but_not_decoded() {
  const std::string path = temp_path("capi_dtype");
  {
    nnz::NnzWriter w(path);
    const uint8_t data[4] = {1, 2, 3, 4};
    w.add_tensor("future", static_cast<nnz::DType>(200), {4},
                 nnz::RawCodec::encode(nnz::TensorRef{nnz::DType::uint8, 4, data}, nnz::RawSettings{}));
    w.finish();
  }
  nnz_reader* r = nullptr;
  nnz_error err;
  EXPECT(nnz_open_file(path.c_str(), nullptr, &r, &err) == NNZ_OK);
  nnz_tensor_info info;
  EXPECT(nnz_tensor_info_at(r, 0, &info, &err) == NNZ_OK);
  EXPECT(info.dtype == 200 && info.element_size == 0 && info.decoded_bytes == 0 && info.element_count == 4);
  EXPECT(nnz_dtype_name(200) == nullptr && nnz_dtype_size(200) == 0 && nnz_dtype_name(-1) == nullptr);
  uint64_t size;
  EXPECT(nnz_decoded_size(r, 0, &size, &err) == NNZ_ERR_UNSUPPORTED);
  uint8_t out[4];
  EXPECT(nnz_decode_tensor(r, 0, out, 4, 1, &err) == NNZ_ERR_UNSUPPORTED);
  nnz_close(r);
  ::unlink(path.c_str());
}

void test_misc() {
  EXPECT(nnz_version() == NNZ_VERSION_NUMBER);
  char expect[32];
  std::snprintf(expect, sizeof expect, "%d.%d.%d", NNZ_VERSION_MAJOR, NNZ_VERSION_MINOR, NNZ_VERSION_PATCH);
  EXPECT(std::string(nnz_version_string()) == expect);
  for (int s = 0; s <= 10; ++s) EXPECT(nnz_status_string(static_cast<nnz_status>(s)) != nullptr);
  EXPECT(std::string(nnz_status_string(NNZ_ERR_CHECKSUM)) == "checksum mismatch");
  EXPECT(std::string(nnz_status_string(NNZ_ERR_UNSAFE)) == "unsafe");
  EXPECT(nnz_xxh64("", 0) == 0xEF46DB3751D8E999ULL);  // XXH64 reference value of empty input
  EXPECT(nnz_xxh64(nullptr, 5) == 0xEF46DB3751D8E999ULL);
  EXPECT(nnz_xxh64("abc", 3) == 0x44BC2CF5AD770999ULL);
  EXPECT(nnz_dtype_size(NNZ_DTYPE_BFLOAT16) == 2 && std::string(nnz_dtype_name(NNZ_DTYPE_BOOL)) == "bool");
  EXPECT(nnz_default_threads() >= 1);
}

}  // namespace

// A delta file against a base of one float32 tensor "w", and a tensor stored once for two names.
void write_delta_file(const std::string& path, const std::vector<float>& base, const std::vector<float>& x) {
  nnz::NnzWriter w(path);
  nnz::DeltaOptions o;
  o.base = reinterpret_cast<const uint8_t*>(base.data());
  const uint64_t n = base.size();
  w.add_tensor("w", nnz::DType::float32, {n},
               nnz::DeltaCodec::encode(nnz::TensorRef{nnz::DType::float32, n, reinterpret_cast<const uint8_t*>(x.data())}, o));
  nnz::DeltaOptions same;  // "w_tied" equals "w": a reference to tensor 0 of this file
  same.source = nnz::DeltaSource::container;
  same.base = reinterpret_cast<const uint8_t*>(x.data());
  w.add_tensor("w_tied", nnz::DType::float32, {n},
               nnz::DeltaCodec::encode(nnz::TensorRef{nnz::DType::float32, n, reinterpret_cast<const uint8_t*>(x.data())}, same));
  nnz::BaseTable table;
  table.base_name = "base.safetensors";
  table.tensors.push_back(nnz::BaseTensorRef{"w", static_cast<uint8_t>(nnz::DType::float32), {n}, n,
                                             nnz::xxhash64(base.data(), base.size() * 4)});
  const std::vector<uint8_t> bytes = nnz::write_base_table(table);
  w.add_blob(nnz::kBaseBlob, nnz::BlobEncoding::stored, bytes.data(), bytes.size());
  w.finish();
}

void test_delta_file_needs_its_base() {
  std::vector<float> base(5000), x;
  for (size_t i = 0; i < base.size(); ++i) base[i] = std::sin(static_cast<float>(i)) * 0.05f;
  x = base;
  for (size_t i = 0; i < x.size(); i += 3) x[i] += 1e-4f;
  const std::string path = temp_path("delta");
  write_delta_file(path, base, x);
  nnz_reader* r = nullptr;
  nnz_error err;
  EXPECT(nnz_open_file(path.c_str(), nullptr, &r, &err) == NNZ_OK);
  EXPECT(nnz_needs_base(r) == 1);
  const char* name = nullptr;
  size_t count = 0;
  EXPECT(nnz_base_info(r, &name, &count, &err) == NNZ_OK && std::string(name) == "base.safetensors" && count == 1);
  std::vector<float> out(x.size());
  EXPECT(nnz_decode_tensor(r, 0, out.data(), out.size() * 4, 1, &err) == NNZ_ERR_BASE);
  EXPECT(std::string(err.message).find("'w'") != std::string::npos);
  std::vector<float> wrong = base;
  wrong[4999] += 1.0f;
  const uint64_t shape[1] = {base.size()};
  nnz_base_tensor t{"w", NNZ_DTYPE_FLOAT32, 1, shape, wrong.data(), wrong.size() * 4};
  EXPECT(nnz_attach_base_tensors(r, &t, 1, &err) == NNZ_ERR_BASE);
  EXPECT(std::string(err.message).find("tensor 'w' differs") != std::string::npos);
  nnz_base_tensor renamed{"v", NNZ_DTYPE_FLOAT32, 1, shape, base.data(), base.size() * 4};
  EXPECT(nnz_attach_base_tensors(r, &renamed, 1, &err) == NNZ_ERR_BASE);
  t.data = base.data();
  EXPECT(nnz_attach_base_tensors(r, &t, 1, &err) == NNZ_OK);
  EXPECT(nnz_decode_tensor(r, 0, out.data(), out.size() * 4, 1, &err) == NNZ_OK && out == x);
  std::fill(out.begin(), out.end(), 0.0f);
  EXPECT(nnz_decode_tensor(r, 1, out.data(), out.size() * 4, 1, &err) == NNZ_OK && out == x);
  nnz_close(r);
  // The base from another reader: a file holding the base tensor, closed after attaching.
  const std::string base_path = temp_path("delta_base");
  {
    nnz::NnzWriter w(base_path);
    w.add_tensor("w", nnz::DType::float32, {base.size()},
                 nnz::LosslessCodec::encode(nnz::TensorRef{nnz::DType::float32, base.size(),
                                                           reinterpret_cast<const uint8_t*>(base.data())}, {}));
    w.finish();
  }
  nnz::decoder::Reader delta = nnz::decoder::Reader::open(path);
  {
    const nnz::decoder::Reader b = nnz::decoder::Reader::open(base_path);
    delta.attach_base(b, 2);
  }
  EXPECT(delta.decode(0, 1) == std::vector<uint8_t>(reinterpret_cast<const uint8_t*>(x.data()),
                                                    reinterpret_cast<const uint8_t*>(x.data() + x.size())));
  std::remove(path.c_str());
  std::remove(base_path.c_str());
}

int main() {
  test_open_file_and_memory();
  test_decode_all_same_for_any_thread_count();
  test_concurrent_readers_of_one_handle();
  test_large_payloads_read_in_parallel_slices();
  test_errors();
  test_unknown_dtype_is_listed_but_not_decoded();
  test_misc();
  test_delta_file_needs_its_base();
  return exit_status("C API tests");
}
