// Decoding many tensors of one file at once. Independent tensors are decoded concurrently,
// largest first, so the threads run out of work together; a tensor too large for that to balance
// (more than 1/(4*threads) of all the work) is decoded on its own with every thread on its chunks.
// The bytes written never depend on the thread count.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "container/nnz_reader.hpp"

namespace nnz {

struct DecodeTarget {
  size_t index;    // tensor index in the reader
  uint8_t* out;    // exactly `bytes` bytes
  uint64_t bytes;  // the tensor's decoded size
};

// Stops at the first failure and rethrows it (its message names the tensor). `scratch`: where the
// payloads of the tensors decoded on their own are read (a caller's, kept across calls).
void decode_tensors(const NnzReader& reader, std::vector<DecodeTarget> targets, int threads,
                    ReadScratch* scratch = nullptr);

}  // namespace nnz
