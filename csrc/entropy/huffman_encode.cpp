#include <string>

#include "common/bit_io.hpp"
#include "common/checked_math.hpp"
#include "entropy/huffman_encode.hpp"

namespace nnz {
namespace {

size_t stream_count(size_t n) { return n < kHuffmanFourStreamMin ? 1 : 4; }

}  // namespace

uint64_t huffman_block_bytes(const uint64_t* freq, size_t alphabet, const std::vector<uint8_t>& lengths) {
  size_t n = 0;
  for (size_t s = 0; s < alphabet; ++s) n += freq[s];
  const size_t streams = stream_count(n);
  return huffman_table_bytes(lengths) + 4 * (streams - 1) + ceil_div(huffman_coded_bits(freq, lengths), 8) +
         (streams - 1);
}

void huffman_encode_block(const uint16_t* syms, size_t n, size_t alphabet, const std::vector<uint8_t>& lengths,
                          std::vector<uint8_t>& out) {
  NNZ_CHECK(lengths.size() == alphabet, invalid_argument, "Huffman: table does not match the alphabet");
  const std::vector<uint32_t> codes = huffman_canonical_codes_lsb(lengths);
  ByteWriter w(out);
  huffman_write_table(w, lengths);
  const size_t streams = stream_count(n);
  const size_t q = ceil_div(n, streams);
  const size_t sizes_at = out.size();
  for (size_t j = 0; j + 1 < streams; ++j) w.u32(0);  // patched below
  for (size_t j = 0; j < streams; ++j) {
    const size_t begin = out.size();
    BitWriter bits(out);
    const size_t lo = std::min(n, j * q), hi = std::min(n, (j + 1) * q);
    for (size_t i = lo; i < hi; ++i) {
      const uint16_t s = syms[i];
      NNZ_CHECK(s < alphabet && lengths[s] != 0, invalid_argument,
                "Huffman: symbol " + std::to_string(s) + " has no code");
      bits.put(codes[s], lengths[s]);
    }
    bits.finish();
    if (j + 1 < streams) {
      const uint64_t size = out.size() - begin;
      NNZ_CHECK(size <= UINT32_MAX, invalid_argument, "Huffman: stream too large");
      for (int b = 0; b < 4; ++b) out[sizes_at + 4 * j + b] = static_cast<uint8_t>(size >> (8 * b));
    }
  }
}

}  // namespace nnz
