#include "entropy/huffman_table.hpp"

#include <string>

#include "common/error.hpp"

namespace nnz {
namespace {

// The low `len` <= 16 bits of code, reversed (a swap network: codes are reversed for every table).
uint32_t reverse_bits(uint32_t code, int len) {
  uint32_t x = code & 0xFFFFu;
  x = ((x & 0x5555u) << 1) | ((x >> 1) & 0x5555u);
  x = ((x & 0x3333u) << 2) | ((x >> 2) & 0x3333u);
  x = ((x & 0x0F0Fu) << 4) | ((x >> 4) & 0x0F0Fu);
  x = ((x & 0x00FFu) << 8) | (x >> 8);
  return x >> (16 - len);
}

class NibbleReader {
 public:
  explicit NibbleReader(ByteReader& in) : in_(in) {}
  uint8_t get() {
    if (!half_) {
      byte_ = in_.u8();
      half_ = true;
      return byte_ & 15;
    }
    half_ = false;
    return byte_ >> 4;
  }

 private:
  ByteReader& in_;
  uint8_t byte_ = 0;
  bool half_ = false;
};

}  // namespace

std::vector<uint8_t> huffman_read_table(ByteReader& in, size_t alphabet) {
  const size_t first = in.u16(), count = in.u16();
  NNZ_CHECK(first + count <= alphabet, corrupt, "Huffman table: symbol range exceeds the alphabet");
  std::vector<uint8_t> lengths(alphabet, 0);
  NibbleReader nib(in);
  size_t i = first;
  const size_t end = first + count;
  while (i < end) {
    uint8_t v = nib.get();
    if (v == kHuffmanRunEscape) {
      size_t run = static_cast<size_t>(nib.get()) + (static_cast<size_t>(nib.get()) << 4) + 1;
      NNZ_CHECK(run <= end - i, corrupt, "Huffman table: zero run past the described range");
      i += run;  // lengths are already zero
    } else {
      NNZ_CHECK(v <= kHuffmanMaxBits, corrupt, "Huffman table: code length too long");
      lengths[i++] = v;
    }
  }
  // Kraft sum over 2^kHuffmanMaxBits must be exactly 1: not over-subscribed, not incomplete.
  uint64_t kraft = 0;
  size_t used = 0;
  for (uint8_t len : lengths)
    if (len != 0) {
      kraft += uint64_t{1} << (kHuffmanMaxBits - len);
      ++used;
    }
  NNZ_CHECK(used >= 2, corrupt, "Huffman table: fewer than two symbols");
  NNZ_CHECK(kraft <= (uint64_t{1} << kHuffmanMaxBits), corrupt, "Huffman table: over-subscribed code");
  NNZ_CHECK(kraft == (uint64_t{1} << kHuffmanMaxBits), corrupt, "Huffman table: incomplete code");
  return lengths;
}

void huffman_canonical_codes(const std::vector<uint8_t>& lengths, CanonicalCodes& out) {
  // Counting sort of the used symbols by length. Tables list few used symbols among many unused
  // ones: they are gathered first, so the per-length counters see only those.
  uint16_t used[kHuffmanMaxAlphabet];
  size_t n = 0;
  for (size_t s = 0; s < lengths.size() && s < kHuffmanMaxAlphabet; ++s)
    if (lengths[s] != 0) used[n++] = static_cast<uint16_t>(s);
  size_t start[kHuffmanMaxBits + 2] = {0};
  for (size_t i = 0; i < n; ++i) start[lengths[used[i]] + 1]++;
  for (int len = 1; len <= kHuffmanMaxBits; ++len) start[len + 1] += start[len];
  for (size_t i = 0; i < n; ++i) {
    const size_t at = start[lengths[used[i]]]++;
    out.symbol[at] = used[i];
    out.length[at] = lengths[used[i]];
  }
  out.size = n;
  out.max_length = n ? out.length[n - 1] : 0;
  uint32_t code = 0;
  int prev_len = n ? out.length[0] : 0;
  for (size_t j = 0; j < n; ++j) {
    code <<= out.length[j] - prev_len;
    prev_len = out.length[j];
    out.code[j] = reverse_bits(code++, prev_len);
  }
}

}  // namespace nnz
