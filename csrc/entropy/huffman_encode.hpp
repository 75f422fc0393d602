// Building Huffman codes and blocks (layouts: huffman_table.hpp).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/byte_io.hpp"
#include "entropy/huffman_table.hpp"

namespace nnz {

// Optimal code lengths (package-merge) no longer than max_bits for the given symbol frequencies;
// unused symbols get length 0. Needs at least two used symbols and at most 2^max_bits of them.
std::vector<uint8_t> huffman_code_lengths(const uint64_t* freq, size_t alphabet, int max_bits);

// Total bits of the coded symbols (tables excluded).
uint64_t huffman_coded_bits(const uint64_t* freq, const std::vector<uint8_t>& lengths);

void huffman_write_table(ByteWriter& out, const std::vector<uint8_t>& lengths);
size_t huffman_table_bytes(const std::vector<uint8_t>& lengths);

// Canonical codes by symbol, LSB-first (ready for BitWriter::put); 0 for unused symbols.
std::vector<uint32_t> huffman_canonical_codes_lsb(const std::vector<uint8_t>& lengths);

// Size in bytes of the block for these frequencies: an upper bound at most 3 bytes above the
// exact size (streams are padded separately), precise enough to choose between coding modes.
uint64_t huffman_block_bytes(const uint64_t* freq, size_t alphabet, const std::vector<uint8_t>& lengths);

// Appends the block for syms[0..n) (every symbol < alphabet, at least two distinct symbols).
void huffman_encode_block(const uint16_t* syms, size_t n, size_t alphabet, const std::vector<uint8_t>& lengths,
                          std::vector<uint8_t>& out);

}  // namespace nnz
