#include <cstring>
#include <string>

#include "codecs/chunk_table.hpp"
#include "codecs/lossless.hpp"
#include "common/checked_math.hpp"
#include "common/error.hpp"
#include "common/parallel.hpp"
#include "entropy/plane_coder.hpp"

namespace nnz {
namespace {

template <typename U>
U rotate_right1(U x) {
  constexpr int w = sizeof(U) * 8;
  return static_cast<U>((x >> 1) | (x << (w - 1)));
}

template <typename U>
void decode_float_chunk(ByteReader& in, size_t n, const FloatSplit& fs, uint8_t* dst) {
  const int k = in.u8();
  NNZ_CHECK(k <= fs.max_extra_bits, corrupt, "lossless: bad mantissa split in chunk header");
  const int sym_bits = fs.exponent_bits + k, resid_bits = fs.width - sym_bits;
  std::vector<uint16_t> sym(n);
  decode_plane(in, n, sym_bits, sym.data());
  // The residual plane is decoded straight into the output and then completed in place.
  U* out = reinterpret_cast<U*>(dst);
  if (reinterpret_cast<uintptr_t>(dst) % alignof(U) == 0) {
    decode_plane(in, n, resid_bits, out);
    for (size_t i = 0; i < n; ++i) out[i] = rotate_right1(static_cast<U>((static_cast<U>(sym[i]) << resid_bits) | out[i]));
  } else {
    std::vector<U> resid(n);
    decode_plane(in, n, resid_bits, resid.data());
    for (size_t i = 0; i < n; ++i) {
      const U v = rotate_right1(static_cast<U>((static_cast<U>(sym[i]) << resid_bits) | resid[i]));
      std::memcpy(dst + i * sizeof(U), &v, sizeof(U));
    }
  }
}

template <typename U>
void decode_int_chunk(ByteReader& in, size_t n, bool is_signed, uint8_t* dst) {
  constexpr int w = sizeof(U) * 8;
  NNZ_CHECK(in.u8() == 0, corrupt, "lossless: bad integer chunk header");
  std::vector<U> v(n, 0);
  std::vector<uint16_t> plane(n);
  for (int b = 0; b < w / 8; ++b) {
    decode_plane(in, n, 8, plane.data());
    for (size_t i = 0; i < n; ++i) v[i] |= static_cast<U>(static_cast<U>(plane[i]) << (8 * b));
  }
  if (is_signed)
    for (U& x : v) x = static_cast<U>((x >> 1) ^ (U{0} - (x & 1)));  // undo zigzag
  if (n) std::memcpy(dst, v.data(), n * sizeof(U));
}

void decode_chunk(DType dtype, ByteSpan chunk, size_t n, uint8_t* dst) {
  ByteReader in(chunk, "lossless chunk");
  const DTypeInfo& info = dtype_info(dtype);
  if (info.kind == DTypeKind::floating) {
    const FloatSplit fs = float_split(dtype);
    switch (info.bits) {
      case 16: decode_float_chunk<uint16_t>(in, n, fs, dst); break;
      case 32: decode_float_chunk<uint32_t>(in, n, fs, dst); break;
      case 64: decode_float_chunk<uint64_t>(in, n, fs, dst); break;
    }
  } else {
    const bool is_signed = info.kind == DTypeKind::signed_int;
    switch (info.bits) {
      case 8: decode_int_chunk<uint8_t>(in, n, is_signed, dst); break;
      case 16: decode_int_chunk<uint16_t>(in, n, is_signed, dst); break;
      case 32: decode_int_chunk<uint32_t>(in, n, is_signed, dst); break;
      case 64: decode_int_chunk<uint64_t>(in, n, is_signed, dst); break;
    }
  }
  in.expect_end();
}

}  // namespace

void lossless_decode(const DecodeRequest& req, uint8_t* out, int threads) {
  ByteReader params(req.params, "lossless parameters");
  const uint32_t chunk_elems = params.u32();
  params.expect_end();
  NNZ_CHECK(chunk_elems >= 1 && chunk_elems <= kLosslessMaxChunkElems, corrupt, "lossless: bad chunk size");
  const std::vector<ByteSpan> chunks =
      read_chunk_table(req.payload, ceil_div(req.count, chunk_elems), "lossless payload");
  const size_t esize = static_cast<size_t>(dtype_bytes(req.dtype));
  parallel_for(chunks.size(), threads, [&](size_t c) {
    const uint64_t first = static_cast<uint64_t>(c) * chunk_elems;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk_elems, req.count - first));
    decode_chunk(req.dtype, chunks[c], n, out + first * esize);
  });
}

}  // namespace nnz
