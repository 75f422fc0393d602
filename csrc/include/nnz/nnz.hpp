// nnz.hpp: a small C++17 convenience layer over the C API in nnz.h (header-only; link libnnz).
//
//   nnz::decoder::Reader r = nnz::decoder::Reader::open("model.nnz");
//   for (size_t i = 0; i < r.size(); ++i) {
//     std::vector<uint8_t> bytes = r.decode(i);
//     ...
//   }
//
// Failures throw nnz::decoder::Error, which carries the C status code.
#ifndef NNZ_NNZ_HPP
#define NNZ_NNZ_HPP

#include <cstddef>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "nnz/nnz.h"

namespace nnz {
namespace decoder {

class Error : public std::runtime_error {
 public:
  Error(nnz_status status, const std::string& message) : std::runtime_error(message), status_(status) {}
  nnz_status status() const noexcept { return status_; }

 private:
  nnz_status status_;
};

inline void check(nnz_status status, const nnz_error& error) {
  if (status != NNZ_OK) throw Error(status, error.message);
}

// An open .nnz file. Movable, not copyable; const methods may be called from several threads.
class Reader {
 public:
  static Reader open(const std::string& path, const nnz_limits* limits = nullptr) {
    nnz_reader* r = nullptr;
    nnz_error e;
    check(nnz_open_file(path.c_str(), limits, &r, &e), e);
    return Reader(r);
  }
  // Borrows the buffer: it must outlive the reader.
  static Reader from_memory(const void* data, size_t size, const nnz_limits* limits = nullptr) {
    nnz_reader* r = nullptr;
    nnz_error e;
    check(nnz_open_memory(data, size, limits, &r, &e), e);
    return Reader(r);
  }

  size_t size() const { return nnz_tensor_count(handle_.get()); }
  nnz_tensor_info info(size_t i) const {
    nnz_tensor_info t;
    nnz_error e;
    check(nnz_tensor_info_at(handle_.get(), i, &t, &e), e);
    return t;
  }
  size_t find(const std::string& name) const {
    size_t i = 0;
    nnz_error e;
    check(nnz_find_tensor(handle_.get(), name.c_str(), &i, &e), e);
    return i;
  }
  uint64_t decoded_size(size_t i) const {
    uint64_t n = 0;
    nnz_error e;
    check(nnz_decoded_size(handle_.get(), i, &n, &e), e);
    return n;
  }
  void decode(size_t i, void* out, size_t capacity, int threads = 0) const {
    nnz_error e;
    check(nnz_decode_tensor(handle_.get(), i, out, capacity, threads, &e), e);
  }
  std::vector<uint8_t> decode(size_t i, int threads = 0) const {
    std::vector<uint8_t> out(static_cast<size_t>(decoded_size(i)));
    decode(i, out.data(), out.size(), threads);
    return out;
  }
  // outs/capacities: one entry per tensor; a null entry skips that tensor.
  void decode_all(const std::vector<void*>& outs, const std::vector<size_t>& capacities, int threads = 0) const {
    if (outs.size() != size() || capacities.size() != size())
      throw Error(NNZ_ERR_INVALID_ARGUMENT, "decode_all: one output per tensor is needed");
    nnz_error e;
    check(nnz_decode_all(handle_.get(), outs.data(), capacities.data(), threads, &e), e);
  }
  void verify(size_t i) const {
    nnz_error e;
    check(nnz_verify_tensor(handle_.get(), i, &e), e);
  }
  // The model's files into `dir` (see nnz_restore_to_dir).
  void restore_to_dir(const std::string& dir, bool force, int threads = 0) const {
    nnz_error e;
    check(nnz_restore_to_dir(handle_.get(), dir.c_str(), force ? 1 : 0, threads, &e), e);
  }
  // Delta files: whether the file needs a base model, its recorded name, and attaching one (see
  // nnz_attach_base; `base` may be closed afterwards).
  bool needs_base() const { return nnz_needs_base(handle_.get()) != 0; }
  std::string base_name() const {
    const char* name = "";
    size_t count = 0;
    nnz_error e;
    check(nnz_base_info(handle_.get(), &name, &count, &e), e);
    return name;
  }
  void attach_base(const Reader& base, int threads = 0) {
    nnz_error e;
    check(nnz_attach_base(handle_.get(), base.handle(), threads, &e), e);
  }
  nnz_reader* handle() const { return handle_.get(); }

 private:
  struct Closer {
    void operator()(nnz_reader* r) const { nnz_close(r); }
  };
  explicit Reader(nnz_reader* r) : handle_(r) {}
  std::unique_ptr<nnz_reader, Closer> handle_;
};

}  // namespace decoder
}  // namespace nnz

#endif  // NNZ_NNZ_HPP
