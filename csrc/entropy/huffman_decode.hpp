// Decoding Huffman blocks (layout: huffman_table.hpp).
#pragma once
#include <cstddef>
#include <cstdint>

#include "common/byte_io.hpp"

namespace nnz {

// Decodes n symbols from exactly the bytes of one block; throws ErrorCode::corrupt on any damage.
void huffman_decode_block(ByteSpan block, size_t n, size_t alphabet, uint16_t* out);
// The same into bytes, for alphabets of at most 256 symbols.
void huffman_decode_block(ByteSpan block, size_t n, size_t alphabet, uint8_t* out);

}  // namespace nnz
