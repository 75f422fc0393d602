// The WebAssembly side of the JavaScript module web/nnz.mjs: the C API of libnnz (exported as is)
// plus what JavaScript cannot express by itself, a restore sink whose callbacks are functions
// the module imports from JavaScript ("nnz_js" imports), and the layouts of nnz_tensor_info and
// nnz_base_tensor in wasm32 memory, so that the JavaScript side uses the offsets this build computed.
// Built by cmake/nnz_wasm.cmake (web/build.sh); single-threaded (threads = 1).
#include <cstddef>
#include <cstdint>

#include "nnz/nnz.h"

#define NNZ_JS_IMPORT(name) __attribute__((import_module("nnz_js"), import_name(#name)))

extern "C" {

// Implemented in web/nnz.mjs. Sizes arrive as doubles (exact below 2^53: files that large do
// not fit in a 4 GiB wasm memory anyway). Each returns 0 to go on.
NNZ_JS_IMPORT(sink_open) int nnz_js_sink_open(int ctx, const char* name, double size);
NNZ_JS_IMPORT(sink_write) int nnz_js_sink_write(int ctx, const void* data, size_t size);
NNZ_JS_IMPORT(sink_close) int nnz_js_sink_close(int ctx);

}  // extern "C"

namespace {

int to_int(void* ctx) { return static_cast<int>(reinterpret_cast<intptr_t>(ctx)); }
int sink_open(void* ctx, const char* name, uint64_t size) {
  return nnz_js_sink_open(to_int(ctx), name, static_cast<double>(size));
}
int sink_write(void* ctx, const void* data, size_t size) { return nnz_js_sink_write(to_int(ctx), data, size); }
int sink_close(void* ctx) { return nnz_js_sink_close(to_int(ctx)); }

// {sizeof, then the offset of every field in declaration order}.
constexpr uint32_t kTensorInfoLayout[] = {
    sizeof(nnz_tensor_info),
    offsetof(nnz_tensor_info, name),
    offsetof(nnz_tensor_info, name_length),
    offsetof(nnz_tensor_info, dtype),
    offsetof(nnz_tensor_info, element_size),
    offsetof(nnz_tensor_info, rank),
    offsetof(nnz_tensor_info, shape),
    offsetof(nnz_tensor_info, element_count),
    offsetof(nnz_tensor_info, decoded_bytes),
    offsetof(nnz_tensor_info, coded_bytes),
    offsetof(nnz_tensor_info, codec),
};

// The same for nnz_base_tensor (what JavaScript fills for nnz_attach_base_tensors).
constexpr uint32_t kBaseTensorLayout[] = {
    sizeof(nnz_base_tensor),
    offsetof(nnz_base_tensor, name),
    offsetof(nnz_base_tensor, dtype),
    offsetof(nnz_base_tensor, rank),
    offsetof(nnz_base_tensor, shape),
    offsetof(nnz_base_tensor, data),
    offsetof(nnz_base_tensor, size),
};

}  // namespace

extern "C" {

// Restores every file through the JavaScript sink; `ctx` is passed back to each callback.
NNZ_API nnz_status nnzw_restore(const nnz_reader* reader, int ctx, nnz_error* error) {
  const nnz_sink sink{sink_open, sink_write, sink_close};
  return nnz_restore(reader, &sink, reinterpret_cast<void*>(static_cast<intptr_t>(ctx)), 1, error);
}

NNZ_API const uint32_t* nnzw_tensor_info_layout(void) { return kTensorInfoLayout; }
NNZ_API const uint32_t* nnzw_base_tensor_layout(void) { return kBaseTensorLayout; }

// Sizes JavaScript allocates for the out-parameters it passes.
NNZ_API uint32_t nnzw_error_size(void) { return sizeof(nnz_error); }
NNZ_API uint32_t nnzw_error_message_offset(void) { return offsetof(nnz_error, message); }

}  // extern "C"
