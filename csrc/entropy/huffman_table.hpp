// Canonical, length-limited Huffman codes: optimal code lengths (package-merge), the compact
// serialisation of a code-length table, and its validation.
//
// Serialised table (all fields little-endian; see docs/FORMAT.md, "Huffman block"):
//   u16 first    first symbol described
//   u16 count    number of symbols described (first + count <= alphabet)
//   nibbles      `count` code lengths, two per byte, low nibble first, padded with a zero nibble:
//                0 = symbol unused, 1..12 = code length, 15 = a run of unused symbols whose
//                length-1 is the next two nibbles (low, then high); 13 and 14 are invalid.
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/byte_io.hpp"

namespace nnz {

constexpr int kHuffmanMaxBits = 12;
constexpr size_t kHuffmanMaxAlphabet = size_t{1} << kHuffmanMaxBits;

// Optimal code lengths no longer than max_bits for the given symbol frequencies; unused symbols get
// length 0. Needs at least two used symbols and at most 2^max_bits of them.
std::vector<uint8_t> huffman_code_lengths(const uint64_t* freq, size_t alphabet, int max_bits);

// Total bits of the coded symbols (tables excluded).
uint64_t huffman_coded_bits(const uint64_t* freq, const std::vector<uint8_t>& lengths);

void huffman_write_table(ByteWriter& out, const std::vector<uint8_t>& lengths);
size_t huffman_table_bytes(const std::vector<uint8_t>& lengths);

// Reads and validates a table: every length <= kHuffmanMaxBits, at least two used symbols, and a
// complete prefix code (Kraft sum exactly 1). Returns `alphabet` lengths.
std::vector<uint8_t> huffman_read_table(ByteReader& in, size_t alphabet);

// The used symbols in canonical order: by code length, then symbol; consecutive codes count up,
// shifted left where the length grows. Codes are LSB-first (as streams hold them).
struct CanonicalCodes {
  size_t size = 0;
  int max_length = 0;
  uint16_t symbol[kHuffmanMaxAlphabet];
  uint8_t length[kHuffmanMaxAlphabet];
  uint32_t code[kHuffmanMaxAlphabet];
};
void huffman_canonical_codes(const std::vector<uint8_t>& lengths, CanonicalCodes& out);

// Canonical codes by symbol, LSB-first (ready for BitWriter::put); 0 for unused symbols.
std::vector<uint32_t> huffman_canonical_codes_lsb(const std::vector<uint8_t>& lengths);

}  // namespace nnz
