// The C++ tests' one assertion (no framework): EXPECT(cond) reports a failed condition with its
// place and counts it in `failures`, which main() turns into the exit status.
#pragma once
#include <cstdio>

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

}  // namespace
