// A Huffman block: one code table followed by the coded symbols, split into up to four
// interleaved streams so the decoder can keep four independent dependency chains in flight.
//
//   table                      (see huffman_table.hpp)
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

constexpr size_t kHuffmanFourStreamMin = 256;

// Size in bytes of the block for these frequencies: an upper bound at most 3 bytes above the
// exact size (streams are padded separately), precise enough to choose between coding modes.
uint64_t huffman_block_bytes(const uint64_t* freq, size_t alphabet, const std::vector<uint8_t>& lengths);

// Appends the block for syms[0..n) (every symbol < alphabet, at least two distinct symbols).
void huffman_encode_block(const uint16_t* syms, size_t n, size_t alphabet, const std::vector<uint8_t>& lengths,
                          std::vector<uint8_t>& out);

// Decodes n symbols from exactly the bytes of one block; throws ErrorCode::corrupt on any damage.
void huffman_decode_block(ByteSpan block, size_t n, size_t alphabet, uint16_t* out);
// The same into bytes, for alphabets of at most 256 symbols.
void huffman_decode_block(ByteSpan block, size_t n, size_t alphabet, uint8_t* out);

}  // namespace nnz
