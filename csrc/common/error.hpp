// One error type for the whole core. Every failure carries a pinned code (the C API and the
// Python layer map codes, never message text) and a message a user can act on.
#pragma once
#include <stdexcept>
#include <string>

namespace nnz {

// Values are frozen: they are returned through the C API.
enum class ErrorCode : int {
  ok = 0,
  corrupt = 1,           // malformed bytes: bad magic, impossible field, truncated data
  checksum = 2,          // a stored hash does not match the bytes
  unsupported = 3,       // valid but unknown here: future version, unknown codec id or dtype
  limit_exceeded = 4,    // a size in the file exceeds a configured limit
  invalid_argument = 5,  // the caller passed something wrong (not a file problem)
  io = 6,                // the operating system refused a read or write
  not_found = 7,         // no tensor/blob of that name
  internal = 8,          // a bug in nncodec
  out_of_memory = 9,     // an allocation failed (the C API reports std::bad_alloc with it)
  unsafe = 10,           // the file asks for something refused: a name outside the output folder
  base = 11,             // a delta file's base model is missing, or is not the one it was coded against
};

class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const noexcept { return code_; }

 private:
  ErrorCode code_;
};

[[noreturn]] void fail(ErrorCode code, const std::string& message);

}  // namespace nnz

// Validation of anything that comes from outside (files, callers). Never use assert for that.
#define NNZ_CHECK(cond, code, msg)                     \
  do {                                                 \
    if (!(cond)) ::nnz::fail(::nnz::ErrorCode::code, msg); \
  } while (0)
