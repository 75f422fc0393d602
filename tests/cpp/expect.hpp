// What the C++ tests share (no framework): EXPECT(cond) reports a failed condition with its place
// and counts it in `failures`, which main() turns into the exit status; throws_code checks the
// error a call ends in; temp_path makes a file to write to.
#pragma once
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "common/error.hpp"

namespace {

int failures = 0;

#define EXPECT(cond)                                                           \
  do {                                                                         \
    if (!(cond)) {                                                             \
      std::fprintf(stderr, "%s:%d: expected %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                              \
    }                                                                          \
  } while (0)

// main()'s result: 1 with the number of failed checks reported, else 0 with `suite` passed.
inline int exit_status(const char* suite) {
  if (failures) {
    std::fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  std::printf("%s passed\n", suite);
  return 0;
}

// True if fn throws an nnz::Error with this code.
inline bool throws_code(const std::function<void()>& fn, nnz::ErrorCode code) {
  try {
    fn();
  } catch (const nnz::Error& e) {
    return e.code() == code;
  }
  return false;
}

// A new empty file under $TMPDIR (default /tmp) whose name starts with nnz_<tag>_.
inline std::string temp_path(const char* tag) {
  const char* dir = std::getenv("TMPDIR");
  std::string path = std::string(dir && *dir ? dir : "/tmp") + "/nnz_" + tag + "_XXXXXX";
  std::vector<char> buf(path.begin(), path.end());
  buf.push_back('\0');
  const int fd = ::mkstemp(buf.data());
  if (fd >= 0) ::close(fd);
  return buf.data();
}

}  // namespace
