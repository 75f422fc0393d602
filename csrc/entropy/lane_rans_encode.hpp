#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "entropy/lane_rans.hpp"

namespace nnz {

// Appends the lane rANS stream (lane_rans.hpp) of symbols[i] with table contexts[i]: freq[c] are
// the frequencies of context c's table (summing to 2^scale_bits, nonzero for every symbol the
// context codes).
void lane_rans_encode(const uint8_t* symbols, const uint8_t* contexts, size_t n,
                      const std::vector<std::vector<uint32_t>>& freq, int scale_bits, std::vector<uint8_t>& out);

// Bytes of that stream, from the coded bits an ideal coder of the same tables would take.
uint64_t lane_rans_stream_bytes(double bits);

}  // namespace nnz
