// libFuzzer target: the entropy layer directly, at every symbol width (the codecs only use some):
// a plane (constant / packed / Huffman) or a bare Huffman block.
//
// Input: u8 selector (bit 7: bare Huffman block; low 6 bits + 1: width 1..64), u16 symbol count,
// then the coded bytes.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/byte_io.hpp"
#include "common/error.hpp"
#include "entropy/huffman_decode.hpp"
#include "entropy/huffman_table.hpp"
#include "entropy/plane_decode.hpp"

namespace {

template <typename T>
void decode_and_check_plane(nnz::ByteReader& in, size_t n, int width) {
  std::vector<T> out(n);
  nnz::decode_plane(in, n, width, out.data());
  if (width < 64)
    for (T v : out)
      if (static_cast<uint64_t>(v) >> width) __builtin_trap();  // symbols fit their width
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nnz::ByteReader in(data, size, "fuzz input");
  try {
    const uint8_t selector = in.u8();
    const int width = (selector & 63) + 1;
    const size_t n = in.u16();
    if (selector & 0x80) {
      const size_t alphabet = size_t{1} << (width > nnz::kHuffmanMaxBits ? nnz::kHuffmanMaxBits : width);
      std::vector<uint16_t> out(n);
      nnz::huffman_decode_block(in.bytes(in.remaining()), n, alphabet, out.data());
      for (uint16_t s : out)
        if (s >= alphabet) __builtin_trap();  // symbols stay inside the alphabet
    } else if (width <= 16) {
      decode_and_check_plane<uint16_t>(in, n, width);
    } else if (width <= 32) {
      decode_and_check_plane<uint32_t>(in, n, width);
    } else {
      decode_and_check_plane<uint64_t>(in, n, width);
    }
  } catch (const nnz::Error&) {
  }
  return 0;
}
