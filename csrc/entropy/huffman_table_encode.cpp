#include <algorithm>
#include <memory>
#include <string>

#include "common/error.hpp"
#include "entropy/huffman_encode.hpp"

namespace nnz {
namespace {

class NibbleWriter {
 public:
  explicit NibbleWriter(ByteWriter& out) : out_(out) {}
  void put(uint8_t v) {
    if (half_) {
      out_.u8(static_cast<uint8_t>(low_ | (v << 4)));
      half_ = false;
    } else {
      low_ = v;
      half_ = true;
    }
  }
  void finish() {
    if (half_) put(0);
  }

 private:
  ByteWriter& out_;
  uint8_t low_ = 0;
  bool half_ = false;
};

// Calls emit(value) for the nibble encoding of lengths[first, first+count).
template <typename Emit>
void encode_length_nibbles(const std::vector<uint8_t>& lengths, size_t first, size_t count, Emit emit) {
  size_t i = first, end = first + count;
  while (i < end) {
    if (lengths[i] != 0) {
      emit(lengths[i++]);
      continue;
    }
    size_t run = 0;
    while (i + run < end && lengths[i + run] == 0 && run < 256) ++run;
    if (run >= 4) {
      emit(kHuffmanRunEscape);
      emit(static_cast<uint8_t>((run - 1) & 15));
      emit(static_cast<uint8_t>((run - 1) >> 4));
    } else {
      for (size_t k = 0; k < run; ++k) emit(0);
    }
    i += run;
  }
}

void used_range(const std::vector<uint8_t>& lengths, size_t& first, size_t& count) {
  size_t lo = 0, hi = lengths.size();
  while (lo < hi && lengths[lo] == 0) ++lo;
  while (hi > lo && lengths[hi - 1] == 0) --hi;
  first = lo;
  count = hi - lo;
}

}  // namespace

std::vector<uint8_t> huffman_code_lengths(const uint64_t* freq, size_t alphabet, int max_bits) {
  NNZ_CHECK(max_bits >= 1 && max_bits <= kHuffmanMaxBits, invalid_argument, "Huffman: bad length limit");
  NNZ_CHECK(alphabet <= kHuffmanMaxAlphabet, invalid_argument, "Huffman: alphabet too large");
  std::vector<uint32_t> leaves;  // used symbols, ascending frequency (ties: ascending symbol)
  for (size_t s = 0; s < alphabet; ++s)
    if (freq[s] != 0) leaves.push_back(static_cast<uint32_t>(s));
  const size_t n = leaves.size();
  NNZ_CHECK(n >= 2, invalid_argument, "Huffman: needs at least two used symbols");
  NNZ_CHECK(n <= (size_t{1} << max_bits), invalid_argument, "Huffman: too many symbols for the length limit");
  std::stable_sort(leaves.begin(), leaves.end(), [&](uint32_t a, uint32_t b) { return freq[a] < freq[b]; });

  // Package-merge (coin collector). Level 0 is the leaf list; each further level merges the leaves
  // with the pairwise packages of the previous level. Only the leaf/package pattern of each merged
  // list is kept: the items chosen at any level are a prefix of it, which is enough to count how
  // often each leaf is chosen (its code length).
  std::vector<uint64_t> leaf_w(n);
  for (size_t i = 0; i < n; ++i) leaf_w[i] = freq[leaves[i]];
  std::vector<std::vector<uint8_t>> is_leaf(static_cast<size_t>(max_bits));
  std::vector<uint64_t> prev = leaf_w, cur;
  is_leaf[0].assign(n, 1);
  for (int level = 1; level < max_bits; ++level) {
    cur.clear();
    std::vector<uint8_t>& pattern = is_leaf[static_cast<size_t>(level)];
    pattern.clear();
    size_t li = 0, pi = 0, npack = prev.size() / 2;
    while (li < n || pi < npack) {
      bool take_leaf = pi >= npack || (li < n && leaf_w[li] <= prev[2 * pi] + prev[2 * pi + 1]);
      if (take_leaf) {
        cur.push_back(leaf_w[li++]);
        pattern.push_back(1);
      } else {
        cur.push_back(prev[2 * pi] + prev[2 * pi + 1]);
        ++pi;
        pattern.push_back(0);
      }
    }
    prev.swap(cur);
  }
  std::vector<uint8_t> sorted_len(n, 0);
  size_t take = 2 * n - 2;
  for (int level = max_bits - 1; level >= 0 && take > 0; --level) {
    const std::vector<uint8_t>& pattern = is_leaf[static_cast<size_t>(level)];
    size_t leaves_taken = 0;
    for (size_t i = 0; i < take; ++i) leaves_taken += pattern[i];
    for (size_t i = 0; i < leaves_taken; ++i) ++sorted_len[i];
    take = 2 * (take - leaves_taken);
  }
  std::vector<uint8_t> lengths(alphabet, 0);
  for (size_t i = 0; i < n; ++i) lengths[leaves[i]] = sorted_len[i];
  return lengths;
}

uint64_t huffman_coded_bits(const uint64_t* freq, const std::vector<uint8_t>& lengths) {
  uint64_t bits = 0;
  for (size_t s = 0; s < lengths.size(); ++s) bits += freq[s] * lengths[s];
  return bits;
}

size_t huffman_table_bytes(const std::vector<uint8_t>& lengths) {
  size_t first, count, nibbles = 0;
  used_range(lengths, first, count);
  encode_length_nibbles(lengths, first, count, [&](uint8_t) { ++nibbles; });
  return 4 + (nibbles + 1) / 2;
}

void huffman_write_table(ByteWriter& out, const std::vector<uint8_t>& lengths) {
  size_t first, count;
  used_range(lengths, first, count);
  out.u16(static_cast<uint16_t>(first));
  out.u16(static_cast<uint16_t>(count));
  NibbleWriter nib(out);
  encode_length_nibbles(lengths, first, count, [&](uint8_t v) { nib.put(v); });
  nib.finish();
}

std::vector<uint32_t> huffman_canonical_codes_lsb(const std::vector<uint8_t>& lengths) {
  const std::unique_ptr<CanonicalCodes> canonical(new CanonicalCodes);
  huffman_canonical_codes(lengths, *canonical);
  std::vector<uint32_t> codes(lengths.size(), 0);
  for (size_t j = 0; j < canonical->size; ++j) codes[canonical->symbol[j]] = canonical->code[j];
  return codes;
}

}  // namespace nnz
