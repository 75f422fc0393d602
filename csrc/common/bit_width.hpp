// Bits needed to write an unsigned value (0 for 0), as C++20's std::bit_width.
#pragma once
#include <cstdint>

namespace nnz {

inline int bit_width(uint64_t v) {
  int w = 0;
  for (; v; v >>= 1) ++w;
  return w;
}

}  // namespace nnz
