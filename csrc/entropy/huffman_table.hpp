// Canonical, length-limited Huffman codes: what encoder and decoder share. The compact
// serialisation of a code-length table, its validation, the canonical codes, and the block layout.
// Building codes: huffman_encode.hpp; decoding blocks: huffman_decode.hpp.
//
// Serialised table (all fields little-endian; see docs/FORMAT.md, "Huffman block"):
//   u16 first    first symbol described
//   u16 count    number of symbols described (first + count <= alphabet)
//   nibbles      `count` code lengths, two per byte, low nibble first, padded with a zero nibble:
//                0 = symbol unused, 1..12 = code length, 15 = a run of unused symbols whose
//                length-1 is the next two nibbles (low, then high); 13 and 14 are invalid.
//
// A Huffman block: one code table followed by the coded symbols, split into up to four
// interleaved streams so the decoder can keep four independent dependency chains in flight.
//
//   table                      (above)
//   u32 stream_bytes[S - 1]    sizes of the first S-1 streams; the last takes the rest
//   streams                    each LSB-first, zero-padded to a byte
// S = 1 when n < kHuffmanFourStreamMin, else 4; stream j codes symbols [j*q, min(n, (j+1)*q))
// with q = ceil(n / S). Every stream must end within its last byte (see BitReader).
#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/byte_io.hpp"

namespace nnz {

constexpr int kHuffmanMaxBits = 12;
constexpr size_t kHuffmanMaxAlphabet = size_t{1} << kHuffmanMaxBits;
constexpr size_t kHuffmanFourStreamMin = 256;
constexpr uint8_t kHuffmanRunEscape = 15;  // the table nibble of a run of unused symbols

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

}  // namespace nnz
