#include <cmath>
#include <string>

#include "common/bit_io.hpp"
#include "common/checked_math.hpp"
#include "entropy/huffman_encode.hpp"
#include "entropy/plane_encode.hpp"
#include "entropy/rans_encode.hpp"

namespace nnz {
namespace {

uint64_t packed_bytes(size_t n, int width) { return ceil_div(static_cast<uint64_t>(n) * width, 8); }

// Huffman decoding of a near-uniform byte plane takes longer than the whole rest of a float
// chunk's decode (packed planes are read in place), so Huffman is chosen only when it saves at
// least this fraction of the packed size.
constexpr double kHuffmanMinGain = 0.03;

// rANS codes a symbol in less than one bit where Huffman cannot (planes dominated by one value,
// such as low mantissa bytes that are mostly zero), but decodes about three times slower than
// Huffman's multi-symbol tables: it must also save this fraction over Huffman (float exponent
// planes, where Huffman is within 2-3% of the entropy, stay Huffman).
constexpr double kRansMinGainOverHuffman = 0.05;
constexpr int kPlaneRansScaleBits = kRansMaxScaleBits;
constexpr int kPlaneRansMaxWidth = 8;

bool saves(uint64_t candidate, uint64_t reference, double min_gain) {
  return static_cast<double>(candidate) < (1.0 - min_gain) * static_cast<double>(reference);
}

// The mode a non-constant plane of width <= 12 gets, and its exact or estimated size in bytes.
struct PlaneChoice {
  PlaneMode mode;
  uint64_t bytes;
  std::vector<uint8_t> huffman_lengths;
  std::vector<uint32_t> rans_weights;
};

PlaneChoice choose_mode(const uint64_t* freq, int width, size_t n) {
  const size_t alphabet = size_t{1} << width;
  PlaneChoice best{PlaneMode::packed, 1 + packed_bytes(n, width), {}, {}};
  std::vector<uint8_t> lengths = huffman_code_lengths(freq, alphabet, kHuffmanMaxBits);
  const uint64_t huffman = 1 + 4 + huffman_block_bytes(freq, alphabet, lengths);
  const bool huffman_chosen = saves(huffman, best.bytes, kHuffmanMinGain);
  if (huffman_chosen) best = PlaneChoice{PlaneMode::huffman, huffman, std::move(lengths), {}};
  if (width <= kPlaneRansMaxWidth) {
    std::vector<uint32_t> weights = rans_weights_from_counts(freq, alphabet);
    const std::vector<uint32_t> f = rans_normalize(weights, kPlaneRansScaleBits);
    double bits = 0;
    for (size_t s = 0; s < alphabet; ++s)
      if (freq[s]) bits += static_cast<double>(freq[s]) * (kPlaneRansScaleBits - std::log2(static_cast<double>(f[s])));
    // mode, scale, table, length, four states, and a byte of slack for the final renormalisation
    const uint64_t rans = 1 + 1 + rans_table_bytes(weights) + 4 + 4 * kRansStates +
                          static_cast<uint64_t>(std::ceil(bits / 8)) + 1;
    if (saves(rans, best.bytes, huffman_chosen ? kRansMinGainOverHuffman : kHuffmanMinGain))
      best = PlaneChoice{PlaneMode::rans, rans, {}, std::move(weights)};
  }
  return best;
}

template <typename T>
void write_rans(const T* syms, size_t n, const std::vector<uint32_t>& weights, std::vector<uint8_t>& out) {
  ByteWriter w(out);
  w.u8(static_cast<uint8_t>(kPlaneRansScaleBits));
  rans_write_table(w, weights);
  const RansEncTable table(rans_normalize(weights, kPlaneRansScaleBits), kPlaneRansScaleBits);
  RansEncoder enc(n);
  for (size_t i = n; i-- > 0;) enc.put(table[static_cast<size_t>(syms[i])], i);
  const ByteSpan stream = enc.finish();
  NNZ_CHECK(stream.size <= UINT32_MAX, invalid_argument, "plane: rANS stream too large");
  w.u32(static_cast<uint32_t>(stream.size));
  w.bytes(stream.data, stream.size);
}

template <typename T>
void write_packed(const T* syms, size_t n, int width, std::vector<uint8_t>& out) {
  if (width == 8) {  // the common case (low mantissa bytes), in a loop compilers vectorize
    const size_t at = out.size();
    out.resize(at + n);
    uint8_t* dst = out.data() + at;
    for (size_t i = 0; i < n; ++i) dst[i] = static_cast<uint8_t>(syms[i]);
    return;
  }
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
  return choose_mode(freq, width, n).bytes;
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
    // Four interleaved histograms: increments of the same counter in a row would otherwise wait
    // on each other (store-to-load forwarding), and skewed planes repeat symbols all the time.
    std::vector<uint64_t> copies(4 * alphabet, 0);
    size_t i = 0;
    for (; i + 4 <= n; i += 4)
      for (size_t k = 0; k < 4; ++k) copies[k * alphabet + static_cast<size_t>(syms[i + k])]++;
    for (; i < n; ++i) copies[static_cast<size_t>(syms[i])]++;
    std::vector<uint64_t> freq(alphabet, 0);
    for (size_t k = 0; k < 4; ++k)
      for (size_t sym = 0; sym < alphabet; ++sym) freq[sym] += copies[k * alphabet + sym];
    const PlaneChoice choice = choose_mode(freq.data(), width, n);
    if (choice.mode == PlaneMode::rans) {
      w.u8(static_cast<uint8_t>(PlaneMode::rans));
      write_rans(syms, n, choice.rans_weights, out);
      return;
    }
    if (choice.mode == PlaneMode::huffman) {
      w.u8(static_cast<uint8_t>(PlaneMode::huffman));
      const size_t size_at = out.size();
      w.u32(0);
      out.reserve(out.size() + choice.bytes);
      if constexpr (sizeof(T) == sizeof(uint16_t)) {
        huffman_encode_block(syms, n, alphabet, choice.huffman_lengths, out);
      } else {
        const std::vector<uint16_t> narrow(syms, syms + n);
        huffman_encode_block(narrow.data(), n, alphabet, choice.huffman_lengths, out);
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

template void encode_plane<uint8_t>(const uint8_t*, size_t, int, std::vector<uint8_t>&);
template void encode_plane<uint16_t>(const uint16_t*, size_t, int, std::vector<uint8_t>&);
template void encode_plane<uint32_t>(const uint32_t*, size_t, int, std::vector<uint8_t>&);
template void encode_plane<uint64_t>(const uint64_t*, size_t, int, std::vector<uint8_t>&);

}  // namespace nnz
