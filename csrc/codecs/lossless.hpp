// `lossless`: exact coding of any supported dtype, exploiting the structure of IEEE floats.
//
// Each tensor is cut into chunks of `chunk_elems` elements, coded independently (they decode in
// parallel and adapt to local statistics). Within a chunk:
//   floats  v = rotate_left(bits, 1), i.e. [exponent | mantissa | sign]. The top E+k bits
//           (exponent plus the k most significant mantissa bits, k chosen per chunk to minimise
//           size) form a skewed "symbol" plane. The remaining R = W-E-k bits (low mantissa + sign)
//           are split into a "middle" plane of R mod 16 bits (absent if zero) and R div 16 planes
//           of 16 bits, most significant first: byte-aligned planes decode in place.
//   ints    signed values are zigzag-mapped (small magnitudes -> small codes), then split into
//           byte planes, least significant first. bool and uint8: one byte plane.
// Each plane is stored constant, bit-packed or Huffman-coded, whichever is smallest.
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
};

EncodedTensor lossless_encode(const TensorRef& tensor, const LosslessOptions& options);
void lossless_decode(const DecodeRequest& req, uint8_t* out, int threads);

// Shared by encoder and decoder: how a float dtype is split.
struct FloatSplit {
  int width;           // element bits W
  int exponent_bits;   // E
  int max_extra_bits;  // largest k: E + k <= 12 and k <= mantissa bits
};
FloatSplit float_split(DType dtype);

// The planes below the symbol plane for a residual of `resid_bits` bits.
struct ResidualPlanes {
  int middle_bits;  // 0 = no middle plane
  int low_planes;   // planes of 16 bits under the middle plane
};
inline ResidualPlanes residual_planes(int resid_bits) { return ResidualPlanes{resid_bits % 16, resid_bits / 16}; }

}  // namespace nnz
