// Decoding the positions of non-zero elements (layout: positions.hpp).
#pragma once
#include <cstddef>
#include <cstdint>

#include "common/byte_io.hpp"
#include "entropy/positions.hpp"

namespace nnz {

// Decodes a mask of n elements; returns the number of ones. Throws ErrorCode::corrupt on damage.
uint64_t decode_positions(ByteReader& in, size_t n, uint8_t* mask);

}  // namespace nnz
