#include <algorithm>

#include "common/bit_io.hpp"
#include "common/checked_math.hpp"
#include "entropy/huffman_block.hpp"
#include "entropy/huffman_table.hpp"

namespace nnz {
namespace {

// Single-level lookup table indexed by the next `table_bits` stream bits; entry = symbol << 4 | len.
struct DecodeTable {
  int table_bits = 0;
  std::vector<uint16_t> entries;
};

DecodeTable build_decode_table(const std::vector<uint8_t>& lengths) {
  DecodeTable t;
  for (uint8_t len : lengths) t.table_bits = std::max<int>(t.table_bits, len);
  t.entries.assign(size_t{1} << t.table_bits, 0);
  const std::vector<uint32_t> codes = huffman_canonical_codes_lsb(lengths);
  for (size_t s = 0; s < lengths.size(); ++s) {
    const int len = lengths[s];
    if (len == 0) continue;
    const uint16_t entry = static_cast<uint16_t>((s << 4) | static_cast<size_t>(len));
    for (size_t i = codes[s]; i < t.entries.size(); i += size_t{1} << len) t.entries[i] = entry;
  }
  return t;
}

inline uint16_t decode_one(BitReader& br, const uint16_t* table, int table_bits) {
  const uint16_t e = table[br.peek(table_bits)];
  br.consume(e & 15);
  return static_cast<uint16_t>(e >> 4);
}

}  // namespace

void huffman_decode_block(ByteSpan block, size_t n, size_t alphabet, uint16_t* out) {
  ByteReader in(block, "Huffman block");
  const std::vector<uint8_t> lengths = huffman_read_table(in, alphabet);
  const DecodeTable dt = build_decode_table(lengths);
  const uint16_t* table = dt.entries.data();
  const int tb = dt.table_bits;

  const size_t streams = n < kHuffmanFourStreamMin ? 1 : 4;
  const size_t q = ceil_div(n, streams);
  uint64_t sizes[4] = {0, 0, 0, 0};
  for (size_t j = 0; j + 1 < streams; ++j) sizes[j] = in.u32();
  uint64_t listed = 0;
  for (size_t j = 0; j + 1 < streams; ++j) listed += sizes[j];
  NNZ_CHECK(listed <= in.remaining(), corrupt, "Huffman block: stream sizes exceed the block");
  sizes[streams - 1] = in.remaining() - listed;

  BitReader br[4];
  size_t lo[4], hi[4];
  for (size_t j = 0; j < streams; ++j) {
    ByteSpan s = in.bytes(sizes[j]);
    br[j] = BitReader(s.data, s.size);
    lo[j] = std::min(n, j * q);
    hi[j] = std::min(n, (j + 1) * q);
  }

  if (streams == 4) {
    // Main loop: after a refill each window holds >= 56 bits, enough for 4 codes of <= 12 bits.
    size_t common = hi[3] - lo[3];  // the last stream is the shortest
    size_t i = 0;
    for (; i + 4 <= common; i += 4) {
      for (int j = 0; j < 4; ++j) br[j].refill();
      for (int k = 0; k < 4; ++k) {
        out[lo[0] + i + k] = decode_one(br[0], table, tb);
        out[lo[1] + i + k] = decode_one(br[1], table, tb);
        out[lo[2] + i + k] = decode_one(br[2], table, tb);
        out[lo[3] + i + k] = decode_one(br[3], table, tb);
      }
    }
    for (size_t j = 0; j < 4; ++j) lo[j] += i;
  }
  for (size_t j = 0; j < streams; ++j) {
    for (size_t i = lo[j]; i < hi[j]; ++i) {
      br[j].refill();
      out[i] = decode_one(br[j], table, tb);
    }
    NNZ_CHECK(br[j].finished_exactly(), corrupt, "Huffman block: stream length does not match its symbols");
  }
}

}  // namespace nnz
