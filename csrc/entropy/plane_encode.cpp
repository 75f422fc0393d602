#include <string>

#include "common/bit_io.hpp"
#include "common/checked_math.hpp"
#include "entropy/huffman_block.hpp"
#include "entropy/huffman_table.hpp"
#include "entropy/plane_coder.hpp"

namespace nnz {
namespace {

uint64_t packed_bytes(size_t n, int width) { return ceil_div(static_cast<uint64_t>(n) * width, 8); }

// Huffman decoding of a near-uniform byte plane takes longer than the whole rest of a float
// chunk's decode (packed planes are read in place), so Huffman is chosen only when it saves at
// least this fraction of the packed size.
constexpr double kHuffmanMinGain = 0.03;

bool huffman_pays(uint64_t huffman_bytes, uint64_t packed) {
  return static_cast<double>(huffman_bytes) < (1.0 - kHuffmanMinGain) * static_cast<double>(packed);
}

template <typename T>
void write_packed(const T* syms, size_t n, int width, std::vector<uint8_t>& out) {
  if (width % 8 == 0) {
    const size_t nb = static_cast<size_t>(width / 8);
    const size_t at = out.size();
    out.resize(at + n * nb);
    uint8_t* dst = out.data() + at;
    for (size_t i = 0; i < n; ++i, dst += nb) {
      const uint64_t v = syms[i];
      for (size_t b = 0; b < nb; ++b) dst[b] = static_cast<uint8_t>(v >> (8 * b));
    }
    return;
  }
  BitWriter bits(out);
  for (size_t i = 0; i < n; ++i) bits.put_wide(syms[i], width);
  bits.finish();
}

}  // namespace

uint64_t plane_bytes_from_histogram(const uint64_t* freq, int width, size_t n) {
  const size_t alphabet = size_t{1} << width;
  size_t used = 0;
  for (size_t s = 0; s < alphabet; ++s) used += freq[s] != 0;
  if (used <= 1) return 1 + 8;
  const uint64_t packed = 1 + packed_bytes(n, width);
  const std::vector<uint8_t> lengths = huffman_code_lengths(freq, alphabet, kHuffmanMaxBits);
  const uint64_t huffman = 1 + 4 + huffman_block_bytes(freq, alphabet, lengths);
  return huffman_pays(huffman, packed) ? huffman : packed;
}

template <typename T>
void encode_plane(const T* syms, size_t n, int width, std::vector<uint8_t>& out) {
  NNZ_CHECK(width >= 1 && width <= 64, invalid_argument, "plane: bad symbol width");
  bool constant = true;
  for (size_t i = 1; i < n && constant; ++i) constant = syms[i] == syms[0];
  ByteWriter w(out);
  if (constant) {
    w.u8(static_cast<uint8_t>(PlaneMode::constant));
    w.u64(n ? static_cast<uint64_t>(syms[0]) : 0);
    return;
  }
  if (width <= kHuffmanMaxBits) {
    const size_t alphabet = size_t{1} << width;
    std::vector<uint64_t> freq(alphabet, 0);
    for (size_t i = 0; i < n; ++i) freq[syms[i]]++;
    const std::vector<uint8_t> lengths = huffman_code_lengths(freq.data(), alphabet, kHuffmanMaxBits);
    const uint64_t huffman_bytes = huffman_block_bytes(freq.data(), alphabet, lengths);
    if (huffman_pays(huffman_bytes + 4, packed_bytes(n, width))) {
      w.u8(static_cast<uint8_t>(PlaneMode::huffman));
      const size_t size_at = out.size();
      w.u32(0);
      out.reserve(out.size() + huffman_bytes);
      if constexpr (sizeof(T) == sizeof(uint16_t)) {
        huffman_encode_block(syms, n, alphabet, lengths, out);
      } else {
        const std::vector<uint16_t> narrow(syms, syms + n);
        huffman_encode_block(narrow.data(), n, alphabet, lengths, out);
      }
      const uint64_t size = out.size() - size_at - 4;
      NNZ_CHECK(size <= UINT32_MAX, invalid_argument, "plane: Huffman block too large");
      for (int b = 0; b < 4; ++b) out[size_at + b] = static_cast<uint8_t>(size >> (8 * b));
      return;
    }
  }
  w.u8(static_cast<uint8_t>(PlaneMode::packed));
  write_packed(syms, n, width, out);
}

template void encode_plane<uint16_t>(const uint16_t*, size_t, int, std::vector<uint8_t>&);
template void encode_plane<uint32_t>(const uint32_t*, size_t, int, std::vector<uint8_t>&);
template void encode_plane<uint64_t>(const uint64_t*, size_t, int, std::vector<uint8_t>&);

}  // namespace nnz
