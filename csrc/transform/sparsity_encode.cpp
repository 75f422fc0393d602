#include "transform/sparsity_encode.hpp"

namespace nnz {

size_t nonzero_mask(const uint8_t* data, size_t n, size_t esize, uint8_t* mask) {
  size_t count = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* e = data + i * esize;
    uint8_t any = 0;
    for (size_t b = 0; b < esize; ++b) any |= e[b];
    mask[i] = any != 0;
    count += mask[i];
  }
  return count;
}

std::vector<uint8_t> gather_nonzero(const uint8_t* data, const uint8_t* mask, size_t n, size_t esize) {
  std::vector<uint8_t> values;
  for (size_t i = 0; i < n; ++i)
    if (mask[i]) values.insert(values.end(), data + i * esize, data + (i + 1) * esize);
  return values;
}

}  // namespace nnz
