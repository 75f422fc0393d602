// The last step of a delta chunk's decode: elements from their tokens (in element order), the
// tokens' raw bits and the base (delta_decode.cpp), with vector kernels where the CPU has them.
#pragma once
#include <cstddef>
#include <cstdint>

#include "common/byte_io.hpp"

namespace nnz {

// Where a fast kernel stopped: the next element and its raw bit offset (a checked reader goes on).
struct DeltaProgress {
  size_t element;
  uint64_t bit;
};

// 16-bit elements (bfloat16, float16, 16-bit integers) eight at a time with AVX2: each token's raw
// bit count and value computed in vector lanes, their offsets a prefix sum, the raw bits shuffled
// out of one 16-byte load.
// Stops where the raw bits left are fewer than eight elements could read, and at once (element 0)
// on a CPU without AVX2 or a build for another architecture.
DeltaProgress delta_rebuild16_avx2(const uint8_t* base, size_t n, ByteSpan raw, const uint8_t* tokens, uint8_t* out);

}  // namespace nnz
