#include <string>

#include "common/bit_io.hpp"
#include "common/checked_math.hpp"
#include "entropy/huffman_block.hpp"
#include "entropy/huffman_table.hpp"
#include "entropy/plane_coder.hpp"

namespace nnz {

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

template <typename T>
void decode_plane(ByteReader& in, size_t n, int width, T* out) {
  const PlaneView plane = read_plane(in, n, width);
  switch (plane.mode) {
    case PlaneMode::constant:
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<T>(plane.constant);
      return;
    case PlaneMode::packed:
      expand_packed(plane.bytes, n, width, out);
      return;
    case PlaneMode::huffman:
      if constexpr (sizeof(T) == sizeof(uint16_t)) {
        huffman_decode_block(plane.bytes, n, size_t{1} << width, reinterpret_cast<uint16_t*>(out));
      } else {
        std::vector<uint16_t> tmp(n);
        huffman_decode_block(plane.bytes, n, size_t{1} << width, tmp.data());
        for (size_t i = 0; i < n; ++i) out[i] = tmp[i];
      }
      return;
  }
}

template void expand_packed<uint16_t>(ByteSpan, size_t, int, uint16_t*);
template void decode_plane<uint16_t>(ByteReader&, size_t, int, uint16_t*);
template void decode_plane<uint32_t>(ByteReader&, size_t, int, uint32_t*);
template void decode_plane<uint64_t>(ByteReader&, size_t, int, uint64_t*);

}  // namespace nnz
