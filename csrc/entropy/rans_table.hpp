// Static rANS frequency tables, shared by rans_encode.hpp and rans_decode.hpp.
//
// A table gives every symbol of an alphabet (<= 256 symbols) a frequency; the frequencies of a
// table sum to exactly 2^scale_bits. What is stored is not the frequencies but a compact
// approximation of the symbol counts ("weights": at most 4 significant bits, below 2^15), from
// which encoder and decoder derive the same frequencies with rans_normalize (integer arithmetic
// only, so both sides agree on every platform). Serialised table (see docs/FORMAT.md, "rANS"):
//
//   u8 end - 1         symbols >= end have weight 0 (1 <= end <= 256)
//   u8 nbytes          size of the bit field below
//   bits[nbytes]       LSB-first; per symbol s < end: 4 bits L (0 = unused, else the weight has
//                      L bits), then min(L - 1, 3) bits m below its leading one:
//                      weight = ((1 << k) | m) << (L - 1 - k) with k = min(L - 1, 3)
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/byte_io.hpp"

namespace nnz {

constexpr size_t kRansMaxAlphabet = 256;
constexpr int kRansMinScaleBits = 8;
constexpr int kRansMaxScaleBits = 12;
// The coder state lives in [kRansLowerBound, 2^31); renormalisation moves whole bytes.
constexpr uint32_t kRansLowerBound = uint32_t{1} << 23;
// Interleaved states of a stream (rans_encode.hpp).
constexpr int kRansStates = 4;
// Stored weights: below 2^kRansWeightMaxBits, with at most 1 + kRansWeightMantissaBits significant bits.
constexpr int kRansWeightMaxBits = 15;
constexpr int kRansWeightMantissaBits = 3;

// Frequencies summing to 2^scale_bits, every used symbol >= 1. Throws ErrorCode::corrupt if the
// weights cannot form a table (no used symbol, more used symbols than 2^scale_bits).
std::vector<uint32_t> rans_normalize(const std::vector<uint32_t>& weights, int scale_bits);

// Reads and validates a table; returns its weights, resized to `alphabet` entries.
std::vector<uint32_t> rans_read_table(ByteReader& in, size_t alphabet);

}  // namespace nnz
