#include <algorithm>
#include <cstdint>
#include <cstring>
#include <memory>

#include "common/bit_io.hpp"
#include "common/checked_math.hpp"
#include "entropy/huffman_decode.hpp"
#include "entropy/huffman_table.hpp"

namespace nnz {
namespace {

// The multi-symbol table is indexed by the next kTableBits stream bits: every code fits in them.
constexpr int kTableBits = kHuffmanMaxBits;
constexpr size_t kTableSize = size_t{1} << kTableBits;

// For each number of bits R < kTableBits, the distinct R-bit beginnings of the codes longer than
// R: the stream bits after which no code fits in the R bits left of a multi-symbol lookup.
struct LongCodePrefixes {
  size_t start[kTableBits];      // prefixes of R bits: prefix[start[R - 1] .. start[R])
  uint16_t prefix[kTableSize];  // at most 2^R for each R < kTableBits: 2^kTableBits in all
};

void list_long_code_prefixes(const CanonicalCodes& codes, LongCodePrefixes& out) {
  // Canonical codes increase in list order when aligned on their first bit, so the codes sharing
  // a beginning are adjacent: dropping repeats of the previous prefix dedupes.
  size_t count = 0, first_longer = 0;
  out.start[0] = 0;
  for (int r = 1; r < kTableBits; ++r) {
    while (first_longer < codes.size && codes.length[first_longer] <= r) ++first_longer;
    const uint32_t mask = (uint32_t{1} << r) - 1;
    const size_t first = count;
    for (size_t j = first_longer; j < codes.size; ++j) {
      const uint32_t p = codes.code[j] & mask;
      if (count == first || out.prefix[count - 1] != p) out.prefix[count++] = static_cast<uint16_t>(p);
    }
    out.start[r] = count;
  }
}

// Single-symbol table, indexed by the next max_length bits: entry = symbol << 4 | code length.
void build_single_table(const CanonicalCodes& codes, uint16_t* table) {
  const size_t size = size_t{1} << codes.max_length;
  for (size_t j = 0; j < codes.size; ++j) {
    const uint16_t entry = static_cast<uint16_t>(codes.symbol[j] << 4 | codes.length[j]);
    const size_t step = size_t{1} << codes.length[j];
    for (size_t i = codes.code[j]; i < size; i += step) table[i] = entry;
  }
}

// Multi-symbol table: each lookup yields every code that lies entirely within the looked-up bits,
// up to kMultiMaxSymbols: three 16-bit or six 8-bit symbols. Entry layout: bits 0-3 bits consumed
// (low, so the stream shift uses the entry as it is loaded: the lookup chain is one instruction
// shorter), 8-55 the symbols, first in the lowest bits, 56-59 the length of the first code (for
// decoding one symbol at a time), 60-63 symbol count. Skewed alphabets (float exponents average
// under 3 bits a code) decode several symbols per lookup instead of one.
template <typename Sym>
constexpr int kMultiMaxSymbols = 48 / (8 * static_cast<int>(sizeof(Sym)));

// Fills the table depth first over code sequences, writing each entry once: a sequence of codes
// using `used` bits covers the entries whose low bits equal its bits; one more code extends it
// where that code fits in the bits left, and the sequence itself is the entry where none does
// (the bits left begin a longer code, or the entry holds kMultiMaxSymbols symbols already).
template <typename Sym>
class MultiTableBuilder {
 public:
  MultiTableBuilder(const CanonicalCodes& codes, LongCodePrefixes& prefixes, uint64_t* table)
      : codes_(codes), prefixes_(prefixes), table_(table) {
    list_long_code_prefixes(codes, prefixes);
    size_t j = 0;
    for (int room = 0; room <= kTableBits; ++room) {
      while (j < codes.size && codes.length[j] <= room) ++j;
      codes_fitting_[room] = j;
    }
  }
  void build() { extend(0, 0, 0, 0, 0); }

 private:
  void extend(uint32_t bits, int used, int count, uint64_t syms, int first_length) {
    const int room = kTableBits - used;
    const uint64_t entry = syms | static_cast<uint64_t>(used) | static_cast<uint64_t>(first_length) << 56 |
                           static_cast<uint64_t>(count) << 60;
    if (count == kMultiMaxSymbols<Sym> || room == 0) {
      for (size_t i = bits; i < kTableSize; i += size_t{1} << used) table_[i] = entry;
      return;
    }
    // Bounds are read into locals: the table stores could alias them as far as the compiler knows.
    const size_t fitting = codes_fitting_[room];
    for (size_t j = 0; j < fitting; ++j) {
      const int len = codes_.length[j];
      extend(bits | codes_.code[j] << used, used + len, count + 1,
             syms | static_cast<uint64_t>(codes_.symbol[j]) << (8 + 8 * sizeof(Sym) * count), count ? first_length : len);
    }
    if (count == 0) return;  // the root: every code fits in a whole lookup
    const size_t first = prefixes_.start[room - 1], last = prefixes_.start[room];
    for (size_t k = first; k < last; ++k) table_[bits | static_cast<uint32_t>(prefixes_.prefix[k]) << used] = entry;
  }

  const CanonicalCodes& codes_;
  const LongCodePrefixes& prefixes_;
  uint64_t* table_;
  size_t codes_fitting_[kTableBits + 1];  // codes no longer than R bits: the first codes_fitting_[R]
};

// Below this many symbols the multi-symbol table costs more to build than it saves.
constexpr size_t kMultiMinSymbols = size_t{1} << 12;

// Tables are rebuilt for every block (one per chunk and plane): kept per thread, not reallocated.
struct DecodeTables {
  CanonicalCodes codes;
  LongCodePrefixes prefixes;
  uint16_t single[kTableSize];
  uint64_t multi[kTableSize];
};
thread_local std::unique_ptr<DecodeTables> t_tables;

DecodeTables& decode_tables() {
  if (!t_tables) t_tables = std::make_unique<DecodeTables>();
  return *t_tables;
}

// Decoding one symbol per lookup, with the single-symbol table or the multi-symbol table's first.
struct SingleLookup {
  const uint16_t* table;
  int bits;
  inline uint32_t operator()(BitReader& br) const {
    const uint16_t e = table[br.peek(bits)];
    br.consume(e & 15);
    return e >> 4;
  }
};
// (Returns the first symbol and those after it: the caller's cast to Sym keeps the first.)
struct FirstOfMulti {
  const uint64_t* table;
  inline uint32_t operator()(BitReader& br) const {
    const uint64_t e = table[br.peek(kTableBits)];
    br.consume(static_cast<int>((e >> 56) & 15));
    return static_cast<uint32_t>(e >> 8);
  }
};

// Decodes the rest of each stream symbol by symbol and checks that it ends where its bits do.
template <typename Sym, typename Lookup>
void finish_streams(BitReader* br, Sym** op, Sym* const* end, size_t streams, const Lookup& lookup) {
  for (size_t j = 0; j < streams; ++j) {
    while (op[j] < end[j]) {
      br[j].refill();
      *op[j]++ = static_cast<Sym>(lookup(br[j]));
    }
    NNZ_CHECK(br[j].finished_exactly(), corrupt, "Huffman block: stream length does not match its symbols");
  }
}

// One multi-symbol lookup: stores 8 bytes at o (the symbols, then junk that later stores
// overwrite) and advances o by the number of symbols.
template <typename Sym, typename Reader>
inline void multi_step(const uint64_t* table, Reader& b, Sym*& o) {
  const uint64_t e = table[b.peek(kTableBits)];
  const uint64_t syms = e >> 8;
  std::memcpy(o, &syms, 8);
  b.consume(static_cast<int>(e & 63));
  o += e >> 60;
}

// Rounds of the multi-symbol loop: each stream refills once (reading 8 bytes, then advancing at
// most 7) and does 4 lookups, each storing 8 bytes at its output position and advancing it by at
// most kMultiMaxSymbols. Rounds run in batches no stream can overrun, so the loop checks nothing.
template <typename Sym>
struct MultiRounds {
  static constexpr size_t kInputBytes = 7;
  static constexpr size_t kOutputSlots = 4 * kMultiMaxSymbols<Sym>;
  static constexpr size_t kStoreSlots = 8 / sizeof(Sym);

  static size_t safe_rounds(size_t bytes_ahead, size_t slots_ahead) {
    if (bytes_ahead < 8 || slots_ahead < kStoreSlots) return 0;
    return std::min((bytes_ahead - 8) / kInputBytes + 1, (slots_ahead - kStoreSlots) / kOutputSlots);
  }

  // The readers' state and output pointers are locals: the 8-byte stores into the output could
  // otherwise alias them, which forces the compiler to keep all stream state in memory.
  static inline __attribute__((always_inline)) void run(BitCursor* c, Sym** op, size_t rounds, const uint64_t* table) {
    BitCursor c0 = c[0], c1 = c[1], c2 = c[2], c3 = c[3];
    Sym *o0 = op[0], *o1 = op[1], *o2 = op[2], *o3 = op[3];
    for (; rounds > 0; --rounds) {
      // After a refill each window holds >= 56 bits, enough for 4 lookups of 12 bits.
      c0.refill();
      c1.refill();
      c2.refill();
      c3.refill();
      for (int k = 0; k < 4; ++k) {
        multi_step(table, c0, o0);
        multi_step(table, c1, o1);
        multi_step(table, c2, o2);
        multi_step(table, c3, o3);
      }
    }
    c[0] = c0, c[1] = c1, c[2] = c2, c[3] = c3;
    op[0] = o0, op[1] = o1, op[2] = o2, op[3] = o3;
  }
};

template <typename Sym>
void multi_rounds_generic(BitCursor* c, Sym** op, size_t rounds, const uint64_t* table) {
  MultiRounds<Sym>::run(c, op, rounds, table);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// With BMI2 the variable shifts need no fixed count register: fewer moves on the lookup chain
// (about 12% faster). Chosen at run time, so the library still runs on any x86-64.
template <typename Sym>
__attribute__((target("bmi2"))) void multi_rounds_bmi2(BitCursor* c, Sym** op, size_t rounds, const uint64_t* table) {
  MultiRounds<Sym>::run(c, op, rounds, table);
}

template <typename Sym>
auto multi_rounds_for_this_cpu() {
  return __builtin_cpu_supports("bmi2") ? &multi_rounds_bmi2<Sym> : &multi_rounds_generic<Sym>;
}
#else
template <typename Sym>
auto multi_rounds_for_this_cpu() {
  return &multi_rounds_generic<Sym>;
}
#endif

// Decodes four streams with the multi-symbol table while every stream has room for a batch of
// rounds; the caller finishes each stream symbol by symbol.
template <typename Sym>
void decode_four_multi(BitReader* br, Sym** op, Sym* const* end, const uint64_t* table) {
  static const auto multi_rounds = multi_rounds_for_this_cpu<Sym>();
  BitCursor c[4];
  const uint8_t* stream_end[4];
  for (int j = 0; j < 4; ++j) {
    c[j] = br[j].detach();
    stream_end[j] = c[j].ptr + br[j].bytes_ahead();
  }
  for (;;) {
    size_t rounds = SIZE_MAX;
    for (int j = 0; j < 4; ++j) {
      const size_t bytes_ahead = c[j].ptr < stream_end[j] ? static_cast<size_t>(stream_end[j] - c[j].ptr) : 0;
      rounds = std::min(rounds, MultiRounds<Sym>::safe_rounds(bytes_ahead, static_cast<size_t>(end[j] - op[j])));
    }
    if (rounds == 0) break;
    multi_rounds(c, op, rounds, table);
  }
  // Near the ends, stream by stream with checked refills, while a lookup can neither decode past
  // the stream's last symbol nor store past its output; the caller decodes the last few.
  constexpr ptrdiff_t kRoom = std::max<ptrdiff_t>(kMultiMaxSymbols<Sym>, 8 / sizeof(Sym));
  for (int j = 0; j < 4; ++j) {
    br[j].attach(c[j]);
    BitReader b = br[j];
    Sym* o = op[j];
    while (end[j] - o >= kRoom) {
      b.refill();
      multi_step(table, b, o);
    }
    br[j] = b;
    op[j] = o;
  }
}

template <typename Sym>
void decode_block(ByteSpan block, size_t n, size_t alphabet, Sym* out) {
  ByteReader in(block, "Huffman block");
  const std::vector<uint8_t> lengths = huffman_read_table(in, alphabet);
  DecodeTables& tables = decode_tables();
  huffman_canonical_codes(lengths, tables.codes);

  const size_t streams = n < kHuffmanFourStreamMin ? 1 : 4;
  const size_t q = static_cast<size_t>(ceil_div(n, streams));  // at most n
  uint64_t sizes[4] = {0, 0, 0, 0};
  for (size_t j = 0; j + 1 < streams; ++j) sizes[j] = in.u32();
  uint64_t listed = 0;
  for (size_t j = 0; j + 1 < streams; ++j) listed += sizes[j];
  NNZ_CHECK(listed <= in.remaining(), corrupt, "Huffman block: stream sizes exceed the block");
  sizes[streams - 1] = in.remaining() - listed;

  BitReader br[4];
  Sym* op[4];
  Sym* end[4];
  for (size_t j = 0; j < streams; ++j) {
    ByteSpan s = in.bytes(sizes[j]);
    br[j] = BitReader(s.data, s.size);
    op[j] = out + std::min(n, j * q);
    end[j] = out + std::min(n, (j + 1) * q);
  }

  bool little_endian = true;
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  little_endian = false;  // the multi-symbol store relies on the in-memory order of symbols
#endif
  if (streams == 4 && little_endian && n >= kMultiMinSymbols) {
    MultiTableBuilder<Sym>(tables.codes, tables.prefixes, tables.multi).build();
    decode_four_multi<Sym>(br, op, end, tables.multi);
    return finish_streams(br, op, end, streams, FirstOfMulti{tables.multi});
  }
  build_single_table(tables.codes, tables.single);
  const SingleLookup single{tables.single, tables.codes.max_length};
  if (streams == 4) {
    // After a refill each window holds >= 56 bits, enough for 4 codes of <= 12 bits.
    while (end[3] - op[3] >= 4 && end[0] - op[0] >= 4 && end[1] - op[1] >= 4 && end[2] - op[2] >= 4) {
      for (int j = 0; j < 4; ++j) br[j].refill();
      for (int k = 0; k < 4; ++k)
        for (int j = 0; j < 4; ++j) *op[j]++ = static_cast<Sym>(single(br[j]));
    }
  }
  finish_streams(br, op, end, streams, single);
}

}  // namespace

void huffman_decode_block(ByteSpan block, size_t n, size_t alphabet, uint16_t* out) {
  decode_block(block, n, alphabet, out);
}

void huffman_decode_block(ByteSpan block, size_t n, size_t alphabet, uint8_t* out) {
  NNZ_CHECK(alphabet <= 256, internal, "Huffman block: 8-bit output for an alphabet wider than 8 bits");
  decode_block(block, n, alphabet, out);
}

}  // namespace nnz
