// CRC-32 (IEEE 802.3, the zip checksum): model files keep CRC fields (PyTorch archives are zip
// files) that a restored file must carry for the bytes it actually holds.
#pragma once
#include <cstddef>
#include <cstdint>

namespace nnz {

// The CRC-32 of data, continued from `crc` (the CRC of the bytes before; 0 to start).
uint32_t crc32(const void* data, size_t size, uint32_t crc = 0);

}  // namespace nnz
