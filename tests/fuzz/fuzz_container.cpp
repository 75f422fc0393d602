// libFuzzer target: a whole .nnz file through the C API, as an embedding application uses it:
// open from memory, list every tensor, look it up by name, decode it, verify it; then restore the
// model's files through a sink that checks what it is given (names inside the output folder,
// exactly the announced bytes).
// Fuzzing builds skip checksum comparisons (FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION), so the
// mutated index and payloads reach the codecs.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <vector>

#include "nnz/nnz.h"

namespace {
constexpr uint64_t kMaxTensorBytes = uint64_t{1} << 20;  // per tensor (larger only costs page faults)
constexpr uint64_t kMaxInputWork = uint64_t{1} << 23;    // decoded bytes per input

struct CheckingSink {
  uint64_t left = 0;
  bool open = false;
};

int sink_open(void* ctx, const char* name, uint64_t size) {
  auto* s = static_cast<CheckingSink*>(ctx);
  // The library checked the name: relative, no empty/"."/".." component, no dot-file.
  if (s->open || name[0] == '/' || name[0] == '.' || std::strstr(name, "/.") || std::strstr(name, "//")) __builtin_trap();
  s->open = true;
  s->left = size;
  return 0;
}
int sink_write(void* ctx, const void*, size_t n) {
  auto* s = static_cast<CheckingSink*>(ctx);
  if (!s->open || n > s->left) __builtin_trap();
  s->left -= n;
  return 0;
}
int sink_close(void* ctx) {
  auto* s = static_cast<CheckingSink*>(ctx);
  if (!s->open || s->left != 0) __builtin_trap();
  s->open = false;
  return 0;
}

void restore(const nnz_reader* reader) {
  size_t files = 0;
  uint64_t total = 0;
  if (nnz_restore_size(reader, &files, &total, nullptr) != NNZ_OK || total > kMaxInputWork) return;
  for (size_t i = 0; i < files; ++i) {
    const char* name = nullptr;
    uint64_t size = 0;
    if (nnz_restore_file(reader, i, &name, &size, nullptr) != NNZ_OK) __builtin_trap();  // counted => listable
  }
  CheckingSink state;
  const nnz_sink sink{sink_open, sink_write, sink_close};
  nnz_restore(reader, &sink, &state, 1, nullptr);
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nnz_limits limits;
  nnz_default_limits(&limits);
  limits.max_index_bytes = uint64_t{1} << 20;
  limits.max_tensor_bytes = kMaxTensorBytes;
  nnz_reader* reader = nullptr;
  nnz_error error;
  if (nnz_open_memory(data, size, &limits, &reader, &error) != NNZ_OK) return 0;
  unsigned major = 0, minor = 0;
  nnz_format_version(reader, &major, &minor, nullptr);
  std::vector<uint8_t> out;
  uint64_t work = 0;
  for (size_t i = 0; i < nnz_tensor_count(reader); ++i) {
    nnz_tensor_info info;
    if (nnz_tensor_info_at(reader, i, &info, &error) != NNZ_OK) __builtin_trap();  // listed => describable
    size_t found = 0;
    nnz_find_tensor(reader, info.name, &found, nullptr);
    uint64_t bytes = 0;
    if (nnz_decoded_size(reader, i, &bytes, &error) != NNZ_OK) continue;
    if (bytes > kMaxTensorBytes) __builtin_trap();  // the limit must hold
    work += bytes;
    if (work > kMaxInputWork) break;
    out.resize(static_cast<size_t>(bytes));
    nnz_decode_tensor(reader, i, out.data(), out.size(), 1, &error);
    nnz_verify_tensor(reader, i, nullptr);
  }
  restore(reader);
  nnz_close(reader);
  return 0;
}
