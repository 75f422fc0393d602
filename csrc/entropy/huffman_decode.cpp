#include <algorithm>
#include <cstring>

#include "common/bit_io.hpp"
#include "common/checked_math.hpp"
#include "entropy/huffman_block.hpp"
#include "entropy/huffman_table.hpp"

namespace nnz {
namespace {

// Single-symbol table indexed by the next `bits` stream bits; entry = symbol << 4 | code length.
struct SingleTable {
  int bits = 0;
  std::vector<uint16_t> entries;
};

SingleTable build_single_table(const std::vector<uint8_t>& lengths) {
  SingleTable t;
  for (uint8_t len : lengths) t.bits = std::max<int>(t.bits, len);
  t.entries.assign(size_t{1} << t.bits, 0);
  const std::vector<uint32_t> codes = huffman_canonical_codes_lsb(lengths);
  for (size_t s = 0; s < lengths.size(); ++s) {
    const int len = lengths[s];
    if (len == 0) continue;
    const uint16_t entry = static_cast<uint16_t>((s << 4) | static_cast<size_t>(len));
    for (size_t i = codes[s]; i < t.entries.size(); i += size_t{1} << len) t.entries[i] = entry;
  }
  return t;
}

// Multi-symbol table: each lookup of kMultiBits stream bits yields every code that lies entirely
// within them, up to three. Entry layout: bits 0-47 three 16-bit symbols, 48-51 bits consumed,
// 52-53 symbol count. Skewed alphabets (float exponents average under 3 bits a code) decode about
// three symbols per lookup instead of one.
constexpr int kMultiBits = kHuffmanMaxBits;
constexpr int kMultiMaxSymbols = 3;
// Below this many symbols the larger table costs more to build than it saves.
constexpr size_t kMultiMinSymbols = size_t{1} << 14;

std::vector<uint64_t> build_multi_table(const SingleTable& single) {
  std::vector<uint64_t> multi(size_t{1} << kMultiBits);
  const uint64_t single_mask = (uint64_t{1} << single.bits) - 1;
  for (uint64_t idx = 0; idx < multi.size(); ++idx) {
    uint64_t packed = 0;
    int used = 0, count = 0;
    while (count < kMultiMaxSymbols) {
      const uint16_t e = single.entries[(idx >> used) & single_mask];
      const int len = e & 15;
      if (len > kMultiBits - used) break;  // the code is not entirely within the looked-up bits
      packed |= static_cast<uint64_t>(e >> 4) << (16 * count);
      used += len;
      ++count;
    }
    multi[idx] = packed | static_cast<uint64_t>(used) << 48 | static_cast<uint64_t>(count) << 52;
  }
  return multi;
}

inline uint16_t decode_one(BitReader& br, const uint16_t* table, int table_bits) {
  const uint16_t e = table[br.peek(table_bits)];
  br.consume(e & 15);
  return static_cast<uint16_t>(e >> 4);
}

// Decodes into op[j] .. end[j] for four streams while every stream has room for a full round
// (4 lookups of up to 3 symbols, each lookup storing 4 slots); advances op[j]. The readers and
// output pointers are local copies: the 8-byte stores into the output could otherwise alias them,
// which forces the compiler to keep all stream state in memory.
void decode_four_multi(BitReader* br, uint16_t** op, uint16_t* const* end, const std::vector<uint64_t>& multi) {
  const uint64_t* const table = multi.data();
  constexpr ptrdiff_t kRound = 4 * kMultiMaxSymbols + 1;
  constexpr uint64_t mask = (uint64_t{1} << kMultiBits) - 1;
  BitReader b0 = br[0], b1 = br[1], b2 = br[2], b3 = br[3];
  uint16_t *o0 = op[0], *o1 = op[1], *o2 = op[2], *o3 = op[3];
  const auto step = [table](BitReader& b, uint16_t*& o) {
    const uint64_t e = table[b.peek(kMultiBits) & mask];
    std::memcpy(o, &e, 8);  // three symbols and one slot of junk, overwritten later
    b.consume(static_cast<int>((e >> 48) & 15));
    o += (e >> 52) & 3;
  };
  while (end[0] - o0 >= kRound && end[1] - o1 >= kRound && end[2] - o2 >= kRound && end[3] - o3 >= kRound) {
    b0.refill();
    b1.refill();
    b2.refill();
    b3.refill();
    for (int k = 0; k < 4; ++k) {
      step(b0, o0);
      step(b1, o1);
      step(b2, o2);
      step(b3, o3);
    }
  }
  br[0] = b0, br[1] = b1, br[2] = b2, br[3] = b3;
  op[0] = o0, op[1] = o1, op[2] = o2, op[3] = o3;
}

}  // namespace

void huffman_decode_block(ByteSpan block, size_t n, size_t alphabet, uint16_t* out) {
  ByteReader in(block, "Huffman block");
  const std::vector<uint8_t> lengths = huffman_read_table(in, alphabet);
  const SingleTable single = build_single_table(lengths);
  const uint16_t* table = single.entries.data();
  const int tb = single.bits;

  const size_t streams = n < kHuffmanFourStreamMin ? 1 : 4;
  const size_t q = ceil_div(n, streams);
  uint64_t sizes[4] = {0, 0, 0, 0};
  for (size_t j = 0; j + 1 < streams; ++j) sizes[j] = in.u32();
  uint64_t listed = 0;
  for (size_t j = 0; j + 1 < streams; ++j) listed += sizes[j];
  NNZ_CHECK(listed <= in.remaining(), corrupt, "Huffman block: stream sizes exceed the block");
  sizes[streams - 1] = in.remaining() - listed;

  BitReader br[4];
  uint16_t* op[4];
  uint16_t* end[4];
  for (size_t j = 0; j < streams; ++j) {
    ByteSpan s = in.bytes(sizes[j]);
    br[j] = BitReader(s.data, s.size);
    op[j] = out + std::min(n, j * q);
    end[j] = out + std::min(n, (j + 1) * q);
  }

  if (streams == 4) {
    bool little_endian = true;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
    little_endian = false;  // the multi-symbol store relies on the in-memory order of symbols
#endif
    if (little_endian && n >= kMultiMinSymbols) {
      decode_four_multi(br, op, end, build_multi_table(single));
    } else {
      // After a refill each window holds >= 56 bits, enough for 4 codes of <= 12 bits.
      while (end[3] - op[3] >= 4 && end[0] - op[0] >= 4 && end[1] - op[1] >= 4 && end[2] - op[2] >= 4) {
        for (int j = 0; j < 4; ++j) br[j].refill();
        for (int k = 0; k < 4; ++k)
          for (int j = 0; j < 4; ++j) *op[j]++ = decode_one(br[j], table, tb);
      }
    }
  }
  for (size_t j = 0; j < streams; ++j) {
    while (op[j] < end[j]) {
      br[j].refill();
      *op[j]++ = decode_one(br[j], table, tb);
    }
    NNZ_CHECK(br[j].finished_exactly(), corrupt, "Huffman block: stream length does not match its symbols");
  }
}

}  // namespace nnz
