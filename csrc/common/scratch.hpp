// Scratch arrays for hot loops: left uninitialized (a zero-filled std::vector would write, and
// make the system map, every page of a buffer that is about to be overwritten anyway).
#pragma once
#include <cstddef>
#include <memory>

namespace nnz {

template <typename T>
std::unique_ptr<T[]> scratch_array(size_t n) {
  return std::unique_ptr<T[]>(new T[n]);
}

}  // namespace nnz
