// `lossless`: exact coding of any supported dtype, exploiting the structure of IEEE floats.
//
// Each tensor is cut into chunks of `chunk_elems` elements, coded independently (they decode in
// parallel and adapt to local statistics). Within a chunk:
//   floats  the top 16 bits of each element, [sign | exponent | high mantissa], are rotated left by
//           one: t = [exponent | high mantissa | sign]. The top E+k bits of t (exponent plus the
//           k most significant mantissa bits, k chosen per chunk) form a skewed "symbol" plane;
//           the other 16-E-k bits of t (ending with the sign) a "middle" plane; the mantissa
//           bits below the top 16 (none for 16-bit floats) form byte planes, most significant
//           first. Byte-aligned planes decode in place, and each low byte plane is coded on its
//           own: all-zero low mantissa bytes (floats widened from bfloat16/float16) cost nothing.
//   ints    signed values are zigzag-mapped (small magnitudes -> small codes), then split into
//           byte planes, least significant first. bool and uint8: one byte plane.
// Each plane is stored constant, bit-packed, Huffman- or rANS-coded (plane_coder.hpp).
#pragma once
#include <cstdint>

#include "codecs/codec.hpp"

namespace nnz {

constexpr const char* kLosslessCodecId = "lossless";
constexpr uint32_t kLosslessDefaultChunkElems = uint32_t{1} << 18;
constexpr uint32_t kLosslessMaxChunkElems = uint32_t{1} << 28;

struct LosslessOptions {
  uint32_t chunk_elems = kLosslessDefaultChunkElems;
  int threads = 1;
  // Use chunks 4x smaller where the tensor's statistics change along it enough to pay for the
  // extra tables (e.g. embedding rows of different precision); decided once per tensor.
  bool adaptive_chunks = true;
};

struct LosslessCodec {
  static constexpr const char* kId = kLosslessCodecId;
  using Settings = LosslessOptions;
  static EncodedTensor encode(const TensorRef& tensor, const LosslessOptions& options);
  static void decode(const DecodeRequest& req, uint8_t* out, int threads);
  static CodecDescription describe(ByteSpan params);
};

// Shared by encoder and decoder: how a float dtype is split.
struct FloatSplit {
  int width;           // element bits W
  int exponent_bits;   // E
  int max_extra_bits;  // largest k: E + k <= 12 and k <= mantissa bits
};
FloatSplit float_split(DType dtype);

// The planes below the symbol plane when the symbol takes `symbol_bits` of the top 16 bits.
struct ResidualPlanes {
  int middle_bits;  // the rest of the top 16 bits: 16 - symbol_bits
  int low_planes;   // byte planes below the top 16 bits: (W - 16) / 8
};
inline ResidualPlanes residual_planes(const FloatSplit& fs, int symbol_bits) {
  return ResidualPlanes{16 - symbol_bits, (fs.width - 16) / 8};
}

}  // namespace nnz
