// The C API (csrc/include/nnz/nnz.h) over the C++ core. Every entry point catches everything:
// no exception crosses the C boundary. The only state is the reader handle itself.
#include "nnz/nnz.h"

#include <algorithm>
#include <cstring>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/error.hpp"
#include "common/parallel.hpp"
#include "common/xxhash64.hpp"
#include "container/nnz_reader.hpp"
#include "container/parallel_decode.hpp"
#include "container/restore.hpp"
#include "container/restore_dir.hpp"

#define NNZ_STR2(x) #x
#define NNZ_STR(x) NNZ_STR2(x)

#if defined(NNZ_PROJECT_VERSION_MAJOR)
static_assert(NNZ_PROJECT_VERSION_MAJOR == NNZ_VERSION_MAJOR && NNZ_PROJECT_VERSION_MINOR == NNZ_VERSION_MINOR &&
                  NNZ_PROJECT_VERSION_PATCH == NNZ_VERSION_PATCH,
              "nnz.h version macros differ from the project version in CMakeLists.txt");
#endif

#define NNZ_SAME_CODE(c, e) static_assert(static_cast<int>(c) == static_cast<int>(nnz::ErrorCode::e), #c)
NNZ_SAME_CODE(NNZ_OK, ok);
NNZ_SAME_CODE(NNZ_ERR_CORRUPT, corrupt);
NNZ_SAME_CODE(NNZ_ERR_CHECKSUM, checksum);
NNZ_SAME_CODE(NNZ_ERR_UNSUPPORTED, unsupported);
NNZ_SAME_CODE(NNZ_ERR_LIMIT, limit_exceeded);
NNZ_SAME_CODE(NNZ_ERR_INVALID_ARGUMENT, invalid_argument);
NNZ_SAME_CODE(NNZ_ERR_IO, io);
NNZ_SAME_CODE(NNZ_ERR_NOT_FOUND, not_found);
NNZ_SAME_CODE(NNZ_ERR_INTERNAL, internal);
NNZ_SAME_CODE(NNZ_ERR_OUT_OF_MEMORY, out_of_memory);
NNZ_SAME_CODE(NNZ_ERR_UNSAFE, unsafe);
NNZ_SAME_CODE(NNZ_ERR_BASE, base);

struct nnz_reader {
  nnz_reader(std::unique_ptr<nnz::ByteSource> source, const nnz::ReaderLimits& l) : reader(std::move(source), l), limits(l) {
    by_name.reserve(reader.tensors().size());
    for (size_t i = 0; i < reader.tensors().size(); ++i) by_name.emplace(reader.tensors()[i].name, i);
  }
  nnz::NnzReader reader;
  nnz::ReaderLimits limits;
  std::unordered_map<std::string, size_t> by_name;
  // The restore layout, parsed once on first use (readers are shared between threads).
  mutable std::once_flag plan_once;
  mutable std::unique_ptr<nnz::RestorePlan> plan;

  const nnz::RestorePlan& restore_plan() const {
    std::call_once(plan_once, [&] { plan = std::make_unique<nnz::RestorePlan>(nnz::restore_plan(reader)); });
    return *plan;
  }
};

namespace {

nnz_status report(nnz_error* error, nnz_status status, const char* message) noexcept {
  if (error) {
    error->status = status;
    size_t n = std::strlen(message);
    if (n >= NNZ_ERROR_MESSAGE_SIZE) {
      n = NNZ_ERROR_MESSAGE_SIZE - 1;
      while (n > 0 && (static_cast<unsigned char>(message[n]) & 0xC0) == 0x80) --n;  // keep UTF-8 whole
    }
    std::memcpy(error->message, message, n);
    error->message[n] = '\0';
  }
  return status;
}

// Runs fn, turning every exception into a status (and a message in *error).
template <typename Fn>
nnz_status guarded(nnz_error* error, Fn&& fn) noexcept {
  try {
    fn();
    return NNZ_OK;
  } catch (const nnz::Error& e) {
    return report(error, static_cast<nnz_status>(e.code()), e.what());
  } catch (const std::bad_alloc&) {
    return report(error, NNZ_ERR_OUT_OF_MEMORY, "out of memory");
  } catch (const std::exception& e) {
    return report(error, NNZ_ERR_INTERNAL, e.what());
  } catch (...) {
    return report(error, NNZ_ERR_INTERNAL, "unknown internal error");
  }
}

void check_reader(const nnz_reader* reader) { NNZ_CHECK(reader != nullptr, invalid_argument, "reader is NULL"); }

const nnz::TensorEntry& entry(const nnz_reader* reader, size_t index) {
  check_reader(reader);
  NNZ_CHECK(index < reader->reader.tensors().size(), invalid_argument,
            "tensor index " + std::to_string(index) + " out of range (the file has " +
                std::to_string(reader->reader.tensors().size()) + " tensors)");
  return reader->reader.tensors()[index];
}

// The decoded size, checked against the limit and the address space: safe to allocate.
size_t checked_decoded_size(const nnz_reader* reader, size_t index) {
  const nnz::TensorEntry& t = entry(reader, index);
  const uint64_t bytes = t.decoded_bytes();
  NNZ_CHECK(bytes <= reader->limits.max_tensor_bytes, limit_exceeded,
            "tensor '" + t.name + "': decoded size " + std::to_string(bytes) + " bytes exceeds the configured limit");
  NNZ_CHECK(bytes <= std::numeric_limits<size_t>::max(), limit_exceeded,
            "tensor '" + t.name + "': too large for this platform");
  return static_cast<size_t>(bytes);
}

int thread_count(int threads) {
  NNZ_CHECK(threads >= 0, invalid_argument, "threads must be 0 (one per CPU) or positive");
  return threads == 0 ? nnz::default_thread_count() : threads;
}

nnz::ReaderLimits reader_limits(const nnz_limits* limits) {
  nnz::ReaderLimits l;
  if (limits) {
    l.max_index_bytes = limits->max_index_bytes;
    l.max_tensor_bytes = limits->max_tensor_bytes;
  }
  return l;
}

nnz_status open_source(const std::function<std::unique_ptr<nnz::ByteSource>()>& make, const nnz_limits* limits,
                       nnz_reader** reader, nnz_error* error) {
  if (reader) *reader = nullptr;
  return guarded(error, [&] {
    NNZ_CHECK(reader != nullptr, invalid_argument, "reader output pointer is NULL");
    *reader = new nnz_reader(make(), reader_limits(limits));
  });
}

}  // namespace

extern "C" {

unsigned nnz_version(void) { return NNZ_VERSION_NUMBER; }

const char* nnz_version_string(void) {
  return NNZ_STR(NNZ_VERSION_MAJOR) "." NNZ_STR(NNZ_VERSION_MINOR) "." NNZ_STR(NNZ_VERSION_PATCH);
}

const char* nnz_status_string(nnz_status status) {
  switch (status) {
    case NNZ_OK: return "ok";
    case NNZ_ERR_CORRUPT: return "corrupt file";
    case NNZ_ERR_CHECKSUM: return "checksum mismatch";
    case NNZ_ERR_UNSUPPORTED: return "unsupported";
    case NNZ_ERR_LIMIT: return "limit exceeded";
    case NNZ_ERR_INVALID_ARGUMENT: return "invalid argument";
    case NNZ_ERR_IO: return "I/O error";
    case NNZ_ERR_NOT_FOUND: return "not found";
    case NNZ_ERR_INTERNAL: return "internal error";
    case NNZ_ERR_OUT_OF_MEMORY: return "out of memory";
    case NNZ_ERR_UNSAFE: return "unsafe";
    case NNZ_ERR_BASE: return "wrong or missing base model";
  }
  return "unknown status";
}

const char* nnz_dtype_name(int dtype) {
  const nnz::DTypeInfo* d = dtype >= 0 && dtype <= 255 ? nnz::find_dtype(static_cast<uint8_t>(dtype)) : nullptr;
  return d ? d->name : nullptr;
}

size_t nnz_dtype_size(int dtype) {
  const nnz::DTypeInfo* d = dtype >= 0 && dtype <= 255 ? nnz::find_dtype(static_cast<uint8_t>(dtype)) : nullptr;
  return d ? static_cast<size_t>(d->bits / 8) : 0;
}

int nnz_default_threads(void) { return nnz::default_thread_count(); }

void nnz_default_limits(nnz_limits* limits) {
  if (!limits) return;
  const nnz::ReaderLimits d;
  limits->max_index_bytes = d.max_index_bytes;
  limits->max_tensor_bytes = d.max_tensor_bytes;
}

nnz_status nnz_open_file(const char* path, const nnz_limits* limits, nnz_reader** reader, nnz_error* error) {
  return open_source(
      [&] {
        NNZ_CHECK(path != nullptr, invalid_argument, "path is NULL");
        return nnz::open_file_source(path);
      },
      limits, reader, error);
}

nnz_status nnz_open_memory(const void* data, size_t size, const nnz_limits* limits, nnz_reader** reader,
                           nnz_error* error) {
  return open_source(
      [&] {
        NNZ_CHECK(data != nullptr || size == 0, invalid_argument, "data is NULL");
        return nnz::memory_source(static_cast<const uint8_t*>(data), size);
      },
      limits, reader, error);
}

void nnz_close(nnz_reader* reader) { delete reader; }

nnz_status nnz_format_version(const nnz_reader* reader, unsigned* major, unsigned* minor, nnz_error* error) {
  return guarded(error, [&] {
    check_reader(reader);
    NNZ_CHECK(major != nullptr && minor != nullptr, invalid_argument, "output pointer is NULL");
    *major = reader->reader.version().major;
    *minor = reader->reader.version().minor;
  });
}

size_t nnz_tensor_count(const nnz_reader* reader) { return reader ? reader->reader.tensors().size() : 0; }

nnz_status nnz_tensor_info_at(const nnz_reader* reader, size_t index, nnz_tensor_info* info, nnz_error* error) {
  return guarded(error, [&] {
    const nnz::TensorEntry& t = entry(reader, index);
    NNZ_CHECK(info != nullptr, invalid_argument, "info is NULL");
    info->name = t.name.c_str();
    info->name_length = t.name.size();
    info->dtype = t.dtype_code;
    info->element_size = t.dtype ? static_cast<size_t>(t.dtype->bits / 8) : 0;
    info->rank = t.shape.size();
    info->shape = t.shape.empty() ? nullptr : t.shape.data();
    info->element_count = t.count;
    info->decoded_bytes = t.dtype ? t.decoded_bytes() : 0;  // validated at open: cannot overflow
    info->coded_bytes = t.bytes;
    info->codec = t.codec.c_str();
  });
}

nnz_status nnz_find_tensor(const nnz_reader* reader, const char* name, size_t* index, nnz_error* error) {
  return guarded(error, [&] {
    check_reader(reader);
    NNZ_CHECK(name != nullptr && index != nullptr, invalid_argument, "name or index pointer is NULL");
    const auto it = reader->by_name.find(name);
    NNZ_CHECK(it != reader->by_name.end(), not_found, "no tensor named '" + std::string(name) + "'");
    *index = it->second;
  });
}

nnz_status nnz_decoded_size(const nnz_reader* reader, size_t index, uint64_t* bytes, nnz_error* error) {
  return guarded(error, [&] {
    NNZ_CHECK(bytes != nullptr, invalid_argument, "bytes pointer is NULL");
    *bytes = checked_decoded_size(reader, index);
  });
}

nnz_status nnz_decode_tensor(const nnz_reader* reader, size_t index, void* out, size_t capacity, int threads,
                             nnz_error* error) {
  return guarded(error, [&] {
    const size_t need = checked_decoded_size(reader, index);
    NNZ_CHECK(out != nullptr || need == 0, invalid_argument, "output buffer is NULL");
    NNZ_CHECK(capacity >= need, invalid_argument,
              "output buffer too small for tensor '" + reader->reader.tensors()[index].name + "' (" +
                  std::to_string(capacity) + " bytes, needs " + std::to_string(need) + ")");
    reader->reader.decode_tensor(index, static_cast<uint8_t*>(out), need, thread_count(threads));
  });
}

nnz_status nnz_decode_all(const nnz_reader* reader, void* const* outs, const size_t* capacities, int threads,
                          nnz_error* error) {
  return guarded(error, [&] {
    check_reader(reader);
    NNZ_CHECK(outs != nullptr && capacities != nullptr, invalid_argument, "outs or capacities is NULL");
    const int n_threads = thread_count(threads);
    std::vector<nnz::DecodeTarget> targets;
    for (size_t i = 0; i < reader->reader.tensors().size(); ++i) {
      if (outs[i] == nullptr) continue;
      const size_t need = checked_decoded_size(reader, i);
      NNZ_CHECK(capacities[i] >= need, invalid_argument,
                "output buffer too small for tensor '" + reader->reader.tensors()[i].name + "'");
      targets.push_back(nnz::DecodeTarget{i, static_cast<uint8_t*>(outs[i]), need});
    }
    nnz::decode_tensors(reader->reader, std::move(targets), n_threads);
  });
}

nnz_status nnz_verify_tensor(const nnz_reader* reader, size_t index, nnz_error* error) {
  return guarded(error, [&] {
    entry(reader, index);
    reader->reader.verify_tensor(index);
  });
}

nnz_status nnz_restore_size(const nnz_reader* reader, size_t* file_count, uint64_t* total_bytes, nnz_error* error) {
  return guarded(error, [&] {
    check_reader(reader);
    NNZ_CHECK(file_count != nullptr && total_bytes != nullptr, invalid_argument, "output pointer is NULL");
    const nnz::RestorePlan& plan = reader->restore_plan();
    *file_count = plan.files.size();
    *total_bytes = plan.total_bytes;
  });
}

nnz_status nnz_restore_file(const nnz_reader* reader, size_t index, const char** name, uint64_t* size,
                            nnz_error* error) {
  return guarded(error, [&] {
    check_reader(reader);
    NNZ_CHECK(name != nullptr && size != nullptr, invalid_argument, "output pointer is NULL");
    const nnz::RestorePlan& plan = reader->restore_plan();
    NNZ_CHECK(index < plan.files.size(), invalid_argument, "file index " + std::to_string(index) + " out of range");
    *name = plan.files[index].name.c_str();
    *size = plan.files[index].size;
  });
}

namespace {

// The caller's callbacks as a sink: a non-zero return stops the restore.
class CallbackSink : public nnz::RestoreSink {
 public:
  CallbackSink(const nnz_sink& sink, void* ctx) : sink_(sink), ctx_(ctx) {}
  void open(const std::string& name, uint64_t size) override {
    name_ = name;
    NNZ_CHECK(sink_.open(ctx_, name.c_str(), size) == 0, io, "the sink refused to open '" + name + "'");
  }
  void write(const uint8_t* data, size_t size) override {
    NNZ_CHECK(sink_.write(ctx_, data, size) == 0, io, "the sink failed to write '" + name_ + "'");
  }
  void close() override { NNZ_CHECK(sink_.close(ctx_) == 0, io, "the sink failed to close '" + name_ + "'"); }

 private:
  const nnz_sink& sink_;
  void* ctx_;
  std::string name_;
};

}  // namespace

nnz_status nnz_restore(const nnz_reader* reader, const nnz_sink* sink, void* sink_ctx, int threads, nnz_error* error) {
  return guarded(error, [&] {
    check_reader(reader);
    NNZ_CHECK(sink != nullptr && sink->open && sink->write && sink->close, invalid_argument,
              "sink or one of its callbacks is NULL");
    CallbackSink callbacks(*sink, sink_ctx);
    nnz::restore(reader->reader, callbacks, thread_count(threads));
  });
}

nnz_status nnz_restore_to_dir(const nnz_reader* reader, const char* dir, int force, int threads, nnz_error* error) {
  return guarded(error, [&] {
    check_reader(reader);
    NNZ_CHECK(dir != nullptr && *dir != '\0', invalid_argument, "dir is NULL or empty");
    nnz::restore_to_dir(reader->reader, dir, force != 0, thread_count(threads));
  });
}

int nnz_needs_base(const nnz_reader* reader) { return reader && reader->reader.needs_base() ? 1 : 0; }

nnz_status nnz_base_info(const nnz_reader* reader, const char** name, size_t* tensor_count, nnz_error* error) {
  return guarded(error, [&] {
    check_reader(reader);
    NNZ_CHECK(name != nullptr && tensor_count != nullptr, invalid_argument, "output pointer is NULL");
    const nnz::BaseTable* table = reader->reader.base_table();
    *name = table ? table->base_name.c_str() : "";
    *tensor_count = table ? table->tensors.size() : 0;
  });
}

nnz_status nnz_attach_base(nnz_reader* reader, const nnz_reader* base, int threads, nnz_error* error) {
  return guarded(error, [&] {
    check_reader(reader);
    NNZ_CHECK(base != nullptr && base != reader, invalid_argument, "base is NULL or the reader itself");
    // Not owned: every tensor the reader needs is decoded from it during attach_base, and kept.
    std::shared_ptr<const nnz::NnzReader> borrowed(&base->reader, [](const nnz::NnzReader*) {});
    reader->reader.attach_base(nnz::reader_base(std::move(borrowed), "given", thread_count(threads)));
  });
}

nnz_status nnz_attach_base_tensors(nnz_reader* reader, const nnz_base_tensor* tensors, size_t count,
                                   nnz_error* error) {
  return guarded(error, [&] {
    check_reader(reader);
    NNZ_CHECK(tensors != nullptr || count == 0, invalid_argument, "tensors is NULL");
    std::vector<nnz::BaseTensorView> views;
    for (size_t i = 0; i < count; ++i) {
      const nnz_base_tensor& t = tensors[i];
      NNZ_CHECK(t.name != nullptr && (t.data != nullptr || t.size == 0) && (t.shape != nullptr || t.rank == 0),
                invalid_argument, "base tensor " + std::to_string(i) + ": NULL name, data or shape");
      NNZ_CHECK(t.dtype >= 0 && t.dtype <= 255 && t.rank <= 32, invalid_argument,
                "base tensor " + std::to_string(i) + ": bad dtype or rank");
      views.push_back(nnz::BaseTensorView{t.name, static_cast<uint8_t>(t.dtype),
                                          std::vector<uint64_t>(t.shape, t.shape + t.rank),
                                          nnz::ByteSpan{static_cast<const uint8_t*>(t.data), t.size}});
    }
    reader->reader.attach_base(nnz::memory_base(std::move(views)));
  });
}

uint64_t nnz_xxh64(const void* data, size_t size) { return nnz::xxhash64(data, data ? size : 0); }

}  // extern "C"
