// XXH64 (Yann Collet's xxHash, 64-bit variant, seed 0): the checksum of .nnz files. Chosen over
// CRC32 because it runs at memory speed, so verifying every payload costs almost nothing on decode.
#pragma once
#include <cstddef>
#include <cstdint>

namespace nnz {

uint64_t xxhash64(const void* data, size_t size, uint64_t seed = 0);

}  // namespace nnz
