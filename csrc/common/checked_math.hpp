// Overflow-checked arithmetic for sizes and offsets read from files.
#pragma once
#include <cstdint>
#include <limits>
#include <string>

#include "common/error.hpp"

namespace nnz {

inline uint64_t checked_add(uint64_t a, uint64_t b, const char* what) {
  uint64_t r;
  NNZ_CHECK(!__builtin_add_overflow(a, b, &r), corrupt, std::string(what) + ": size overflows 64 bits");
  return r;
}

inline uint64_t checked_mul(uint64_t a, uint64_t b, const char* what) {
  uint64_t r;
  NNZ_CHECK(!__builtin_mul_overflow(a, b, &r), corrupt, std::string(what) + ": size overflows 64 bits");
  return r;
}

// Converts a 64-bit size to size_t, failing on 32-bit hosts where it would not fit.
inline size_t to_size(uint64_t v, const char* what) {
  NNZ_CHECK(v <= std::numeric_limits<size_t>::max(), limit_exceeded,
            std::string(what) + ": too large for this platform");
  return static_cast<size_t>(v);
}

inline uint64_t ceil_div(uint64_t a, uint64_t b) { return a / b + (a % b != 0); }

}  // namespace nnz
