#include <string>

#include "common/bit_io.hpp"
#include "common/checked_math.hpp"
#include "entropy/huffman_block.hpp"
#include "entropy/huffman_table.hpp"
#include "entropy/plane_coder.hpp"

namespace nnz {
namespace {

template <typename T>
void read_packed(ByteSpan src, size_t n, int width, T* out) {
  const uint8_t* p = src.data;
  if (width % 8 == 0) {
    const int nb = width / 8;
    for (size_t i = 0; i < n; ++i, p += nb) out[i] = static_cast<T>(load_le(p, nb));
    return;
  }
  const uint64_t mask = width == 64 ? ~uint64_t{0} : (uint64_t{1} << width) - 1;
  size_t i = 0;
  if (width <= 56) {
    // Fast path: one unaligned 64-bit load per symbol while 8 bytes remain readable.
    for (; i < n; ++i) {
      const uint64_t bit = static_cast<uint64_t>(i) * static_cast<uint64_t>(width);
      const uint64_t byte = bit >> 3;
      if (byte + 8 > src.size) break;
      out[i] = static_cast<T>((load64_le(p + byte) >> (bit & 7)) & mask);
    }
  }
  // Slow tail: a bit reader from the first symbol not yet decoded.
  const uint64_t bit = static_cast<uint64_t>(i) * static_cast<uint64_t>(width);
  const size_t start = static_cast<size_t>(bit >> 3);
  BitReader br(src.data + start, src.size - start);
  br.read(static_cast<int>(bit & 7));
  for (; i < n; ++i) {
    uint64_t v = width > 32 ? br.read(32) | (br.read(width - 32) << 32) : br.read(width);
    out[i] = static_cast<T>(v & mask);
  }
}

}  // namespace

template <typename T>
void decode_plane(ByteReader& in, size_t n, int width, T* out) {
  NNZ_CHECK(width >= 1 && width <= 64 && static_cast<size_t>(width) <= 8 * sizeof(T), internal,
            "plane: symbol width " + std::to_string(width) + " does not fit the output type");
  const uint8_t mode = in.u8();
  switch (static_cast<PlaneMode>(mode)) {
    case PlaneMode::constant: {
      const uint64_t v = in.u64();
      NNZ_CHECK(width == 64 || v < (uint64_t{1} << width), corrupt, "plane: constant wider than its field");
      for (size_t i = 0; i < n; ++i) out[i] = static_cast<T>(v);
      return;
    }
    case PlaneMode::packed: {
      const uint64_t bytes = ceil_div(checked_mul(n, static_cast<uint64_t>(width), "plane"), 8);
      read_packed(in.bytes(bytes), n, width, out);
      return;
    }
    case PlaneMode::huffman: {
      NNZ_CHECK(width <= kHuffmanMaxBits, corrupt, "plane: Huffman mode on a field wider than 12 bits");
      const uint32_t size = in.u32();
      ByteSpan block = in.bytes(size);
      if constexpr (sizeof(T) == sizeof(uint16_t)) {
        huffman_decode_block(block, n, size_t{1} << width, reinterpret_cast<uint16_t*>(out));
      } else {
        std::vector<uint16_t> tmp(n);
        huffman_decode_block(block, n, size_t{1} << width, tmp.data());
        for (size_t i = 0; i < n; ++i) out[i] = tmp[i];
      }
      return;
    }
  }
  fail(ErrorCode::corrupt, "plane: unknown mode " + std::to_string(mode));
}

template void decode_plane<uint16_t>(ByteReader&, size_t, int, uint16_t*);
template void decode_plane<uint32_t>(ByteReader&, size_t, int, uint32_t*);
template void decode_plane<uint64_t>(ByteReader&, size_t, int, uint64_t*);

}  // namespace nnz
