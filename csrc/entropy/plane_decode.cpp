#include <algorithm>
#include <string>

#include "common/bit_io.hpp"
#include "common/checked_math.hpp"
#include "entropy/huffman_block.hpp"
#include "entropy/huffman_table.hpp"
#include "entropy/plane_coder.hpp"
#include "entropy/rans_decode.hpp"

namespace nnz {
namespace {

constexpr int kPlaneRansMaxWidth = 8;

// rANS plane: u8 scale_bits, table, u32 stream_bytes, stream (the view holds all of it).
void decode_rans_plane(ByteSpan bytes, size_t n, int width, uint16_t* out) {
  ByteReader in(bytes, "rANS plane");
  const int scale_bits = in.u8();
  NNZ_CHECK(scale_bits >= kRansMinScaleBits && scale_bits <= kRansMaxScaleBits, corrupt, "plane: bad rANS precision");
  const std::vector<uint32_t> freq = rans_normalize(rans_read_table(in, size_t{1} << width), scale_bits);
  std::vector<uint32_t> slots;
  slots.reserve(size_t{1} << scale_bits);
  rans_append_dec_table(freq, scale_bits, slots);
  RansDecoder dec(in.bytes(in.u32()));
  in.expect_end();
  const uint32_t* table = slots.data();
  size_t i = 0;
  for (; i + kRansStates <= n; i += kRansStates)
    for (size_t lane = 0; lane < kRansStates; ++lane)
      out[i + lane] = static_cast<uint16_t>(dec.get_lane(table, scale_bits, lane));
  for (; i < n; ++i) out[i] = static_cast<uint16_t>(dec.get(table, scale_bits, i));
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

template <typename T>
void expand_packed(ByteSpan bytes, size_t n, int width, T* out) {
  const size_t fast = packed_fast_count(bytes.size, n, width);
  for (size_t i = 0; i < fast; ++i) out[i] = static_cast<T>(packed_symbol(bytes.data, i, width));
  // Tail: a bit reader from the first symbol not yet decoded.
  const uint64_t bit = static_cast<uint64_t>(fast) * static_cast<uint64_t>(width);
  const size_t start = static_cast<size_t>(bit >> 3);
  BitReader br(bytes.data + start, bytes.size - start);
  br.read(static_cast<int>(bit & 7));
  for (size_t i = fast; i < n; ++i)
    out[i] = static_cast<T>(width > 32 ? br.read(32) | (br.read(width - 32) << 32) : br.read(width));
}

void expand_plane(const PlaneView& plane, size_t n, int width, uint16_t* out) {
  NNZ_CHECK(width <= 16, internal, "plane: expanding a field wider than 16 bits");
  switch (plane.mode) {
    case PlaneMode::constant:
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint16_t>(plane.constant);
      return;
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
  if constexpr (sizeof(T) == sizeof(uint16_t)) {
    if (width <= 16) return expand_plane(plane, n, width, reinterpret_cast<uint16_t*>(out));
  }
  if (plane.mode == PlaneMode::packed) return expand_packed(plane.bytes, n, width, out);
  if (plane.mode == PlaneMode::constant) return std::fill(out, out + n, static_cast<T>(plane.constant));
  // Huffman and rANS code narrow fields only: through 16-bit symbols.
  std::vector<uint16_t> tmp(n);
  expand_plane(plane, n, width, tmp.data());
  std::copy(tmp.begin(), tmp.end(), out);
}

template void expand_packed<uint16_t>(ByteSpan, size_t, int, uint16_t*);
template void expand_packed<uint32_t>(ByteSpan, size_t, int, uint32_t*);
template void expand_packed<uint64_t>(ByteSpan, size_t, int, uint64_t*);
template void decode_plane<uint16_t>(ByteReader&, size_t, int, uint16_t*);
template void decode_plane<uint32_t>(ByteReader&, size_t, int, uint32_t*);
template void decode_plane<uint64_t>(ByteReader&, size_t, int, uint64_t*);

}  // namespace nnz
