#include "transform/sparsity.hpp"

#include <cstring>

namespace nnz {

void scatter_nonzero(const uint8_t* values, const uint8_t* mask, size_t n, size_t esize, uint8_t* out) {
  size_t j = 0;
  for (size_t i = 0; i < n; ++i) {
    if (mask[i]) {
      std::memcpy(out + i * esize, values + j * esize, esize);
      ++j;
    } else {
      std::memset(out + i * esize, 0, esize);
    }
  }
}

}  // namespace nnz
