#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "common/bit_io.hpp"
#include "common/checked_math.hpp"
#include "entropy/huffman_decode.hpp"
#include "entropy/huffman_table.hpp"
#include "entropy/plane_decode.hpp"
#include "entropy/rans_decode.hpp"

namespace nnz {
namespace {

constexpr int kPlaneRansMaxWidth = 8;

// Symbols of at most this many bits on average are renormalized by byte tests (RansDecoder):
// a byte is then due every 8 / bits symbols or less often, and the tests are mostly predicted.
constexpr double kByteTestsMaxBits = 2.0;

double mean_code_bits(const std::vector<uint32_t>& freq, int scale_bits) {
  const double total = std::ldexp(1.0, scale_bits);
  double bits = 0;
  for (uint32_t f : freq)
    if (f) bits -= f / total * std::log2(f / total);
  return bits;
}

template <bool kByteTests, typename T>
void decode_rans_symbols(RansDecoder& dec, const uint32_t* table, int scale_bits, size_t n, T* out) {
  size_t i = 0;
  for (; i + kRansStates <= n; i += kRansStates)
    for (size_t lane = 0; lane < kRansStates; ++lane)
      out[i + lane] = static_cast<T>(dec.get_lane<kByteTests>(table, scale_bits, lane));
  for (; i < n; ++i) out[i] = static_cast<T>(dec.get_lane<kByteTests>(table, scale_bits, i % kRansStates));
}

// rANS plane: u8 scale_bits, table, u32 stream_bytes, stream (the view holds all of it).
template <typename T>
void decode_rans_plane(ByteSpan bytes, size_t n, int width, T* out) {
  ByteReader in(bytes, "rANS plane");
  const int scale_bits = in.u8();
  NNZ_CHECK(scale_bits >= kRansMinScaleBits && scale_bits <= kRansMaxScaleBits, corrupt, "plane: bad rANS precision");
  const std::vector<uint32_t> freq = rans_normalize(rans_read_table(in, size_t{1} << width), scale_bits);
  std::vector<uint32_t> slots;
  slots.reserve(size_t{1} << scale_bits);
  rans_append_dec_table(freq, scale_bits, slots);
  RansDecoder dec(in.bytes(in.u32()));
  in.expect_end();
  if (mean_code_bits(freq, scale_bits) < kByteTestsMaxBits) {
    decode_rans_symbols<true>(dec, slots.data(), scale_bits, n, out);
  } else {
    decode_rans_symbols<false>(dec, slots.data(), scale_bits, n, out);
  }
  dec.finish();
}

}  // namespace

size_t packed_fast_count(size_t size, size_t n, int width) {
  if (width > 56 || size < 8) return 0;
  // Symbol i is safe while floor(i * width / 8) + 8 <= size.
  const uint64_t last_start = static_cast<uint64_t>(size - 8) * 8;  // highest safe first bit, rounded down
  return static_cast<size_t>(std::min<uint64_t>(n, last_start / static_cast<uint64_t>(width) + 1));
}

PlaneView read_plane(ByteReader& in, size_t n, int width) {
  NNZ_CHECK(width >= 1 && width <= 64, internal, "plane: bad symbol width");
  const uint8_t mode = in.u8();
  switch (static_cast<PlaneMode>(mode)) {
    case PlaneMode::constant: {
      const uint64_t v = in.u64();
      NNZ_CHECK(width == 64 || v < (uint64_t{1} << width), corrupt, "plane: constant wider than its field");
      return PlaneView{PlaneMode::constant, v, ByteSpan{}};
    }
    case PlaneMode::packed: {
      const uint64_t bytes = ceil_div(checked_mul(n, static_cast<uint64_t>(width), "plane"), 8);
      return PlaneView{PlaneMode::packed, 0, in.bytes(bytes)};
    }
    case PlaneMode::huffman: {
      NNZ_CHECK(width <= kHuffmanMaxBits, corrupt, "plane: Huffman mode on a field wider than 12 bits");
      const uint32_t size = in.u32();
      return PlaneView{PlaneMode::huffman, 0, in.bytes(size)};
    }
    case PlaneMode::rans: {
      NNZ_CHECK(width <= kPlaneRansMaxWidth, corrupt, "plane: rANS mode on a field wider than 8 bits");
      // Walk over scale, table and stream to find the plane's end; decode_rans_plane validates.
      const size_t start = in.position();
      ByteReader probe(in);
      probe.u8();
      rans_read_table(probe, size_t{1} << width);
      probe.bytes(probe.u32());
      return PlaneView{PlaneMode::rans, 0, in.bytes(probe.position() - start)};
    }
  }
  fail(ErrorCode::corrupt, "plane: unknown mode " + std::to_string(mode));
}

// Eight symbols of B < 8 bits fill exactly B bytes: one 64-bit load, and three steps that each
// halve the fields' groups and move the upper half up (to bit 32, then 16 and 8 of each part),
// spread them into the eight bytes of a word. Returns the number of symbols unpacked (whole
// groups with 8 readable bytes).
template <int B>
inline uint64_t spread_to_bytes(uint64_t x) {
  constexpr uint64_t f1 = (uint64_t{1} << (4 * B)) - 1;
  constexpr uint64_t f2 = ((uint64_t{1} << (2 * B)) - 1) * ((uint64_t{1} << 32) | 1);
  constexpr uint64_t f3 = ((uint64_t{1} << B) - 1) * 0x0001000100010001ULL;
  x &= (uint64_t{1} << (8 * B)) - 1;
  x = (x & f1) | ((x & (f1 << (4 * B))) << (32 - 4 * B));
  x = (x & f2) | ((x & (f2 << (2 * B))) << (16 - 2 * B));
  return (x & f3) | ((x & (f3 << B)) << (8 - B));
}

template <int B, typename T>
size_t unpack_narrow_groups(const uint8_t* bytes, size_t size, size_t n, T* out) {
  const size_t groups = size < 8 ? 0 : std::min(n / 8, (size - 8) / B + 1);
  for (size_t g = 0; g < groups; ++g) {
    const uint64_t w = spread_to_bytes<B>(load64_le(bytes + g * B));
    if constexpr (sizeof(T) == 1) {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
      for (int j = 0; j < 8; ++j) out[8 * g + j] = static_cast<T>(w >> (8 * j));
#else
      std::memcpy(out + 8 * g, &w, 8);
#endif
    } else {
      for (int j = 0; j < 8; ++j) out[8 * g + j] = static_cast<T>((w >> (8 * j)) & 0xFF);
    }
  }
  return 8 * groups;
}

template <typename T>
size_t unpack_narrow(ByteSpan bytes, size_t n, int width, T* out) {
  switch (width) {
    case 1: return unpack_narrow_groups<1>(bytes.data, bytes.size, n, out);
    case 2: return unpack_narrow_groups<2>(bytes.data, bytes.size, n, out);
    case 3: return unpack_narrow_groups<3>(bytes.data, bytes.size, n, out);
    case 4: return unpack_narrow_groups<4>(bytes.data, bytes.size, n, out);
    case 5: return unpack_narrow_groups<5>(bytes.data, bytes.size, n, out);
    case 6: return unpack_narrow_groups<6>(bytes.data, bytes.size, n, out);
    case 7: return unpack_narrow_groups<7>(bytes.data, bytes.size, n, out);
    default: return 0;
  }
}

template <typename T>
void expand_packed(ByteSpan bytes, size_t n, int width, T* out) {
  size_t done = unpack_narrow(bytes, n, width, out);
  if (done == 0) {
    done = packed_fast_count(bytes.size, n, width);
    for (size_t i = 0; i < done; ++i) out[i] = static_cast<T>(packed_symbol(bytes.data, i, width));
  }
  // Tail: a bit reader from the first symbol not yet decoded.
  const uint64_t bit = static_cast<uint64_t>(done) * static_cast<uint64_t>(width);
  const size_t start = static_cast<size_t>(bit >> 3);
  BitReader br(bytes.data + start, bytes.size - start);
  br.read(static_cast<int>(bit & 7));
  for (size_t i = done; i < n; ++i)
    out[i] = static_cast<T>(width > 32 ? br.read(32) | (br.read(width - 32) << 32) : br.read(width));
}

template <typename T>
void expand_plane(const PlaneView& plane, size_t n, int width, T* out) {
  NNZ_CHECK(width <= 8 * static_cast<int>(sizeof(T)), internal, "plane: expanding a field wider than its symbols");
  switch (plane.mode) {
    case PlaneMode::constant:
      return std::fill(out, out + n, static_cast<T>(plane.constant));
    case PlaneMode::packed:
      return expand_packed(plane.bytes, n, width, out);
    case PlaneMode::huffman:
      return huffman_decode_block(plane.bytes, n, size_t{1} << width, out);
    case PlaneMode::rans:
      return decode_rans_plane(plane.bytes, n, width, out);
  }
}

template <typename T>
void decode_plane(ByteReader& in, size_t n, int width, T* out) {
  const PlaneView plane = read_plane(in, n, width);
  if constexpr (sizeof(T) <= sizeof(uint16_t)) {
    return expand_plane(plane, n, width, out);
  } else {
    if (plane.mode == PlaneMode::packed) return expand_packed(plane.bytes, n, width, out);
    if (plane.mode == PlaneMode::constant) return std::fill(out, out + n, static_cast<T>(plane.constant));
    // Huffman and rANS code narrow fields only: through 16-bit symbols.
    std::vector<uint16_t> tmp(n);
    expand_plane(plane, n, width, tmp.data());
    std::copy(tmp.begin(), tmp.end(), out);
  }
}

template void expand_packed<uint8_t>(ByteSpan, size_t, int, uint8_t*);
template void expand_packed<uint16_t>(ByteSpan, size_t, int, uint16_t*);
template void expand_packed<uint32_t>(ByteSpan, size_t, int, uint32_t*);
template void expand_packed<uint64_t>(ByteSpan, size_t, int, uint64_t*);
template void expand_plane<uint8_t>(const PlaneView&, size_t, int, uint8_t*);
template void expand_plane<uint16_t>(const PlaneView&, size_t, int, uint16_t*);
template void decode_plane<uint8_t>(ByteReader&, size_t, int, uint8_t*);
template void decode_plane<uint16_t>(ByteReader&, size_t, int, uint16_t*);
template void decode_plane<uint32_t>(ByteReader&, size_t, int, uint32_t*);
template void decode_plane<uint64_t>(ByteReader&, size_t, int, uint64_t*);

}  // namespace nnz
