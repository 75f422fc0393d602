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
//
// `lossless-values` (format 1.4) is the same coding, except that a float chunk may carry a table
// of exact values that occur often in it (zeros, fake-quantized levels, repeated rows, fixed bases
// such as an STFT's): they become symbols of their own in the symbol plane, with no middle or low
// bits. The encoder writes that id only for tensors where some chunk's table pays, so every other
// file stays readable by 1.3 readers.
#pragma once
#include <algorithm>
#include <cstdint>

#include "codecs/codec.hpp"
#include "common/bit_width.hpp"

namespace nnz {

constexpr const char* kLosslessCodecId = "lossless";
constexpr const char* kLosslessValuesCodecId = "lossless-values";
constexpr uint32_t kLosslessDefaultChunkElems = uint32_t{1} << 18;
constexpr uint32_t kLosslessMaxChunkElems = uint32_t{1} << 28;

struct LosslessOptions {
  uint32_t chunk_elems = kLosslessDefaultChunkElems;
  int threads = 1;
  // Use chunks 4x smaller where the tensor's statistics change along it enough to pay for the
  // extra tables (e.g. embedding rows of different precision); decided once per tensor.
  bool adaptive_chunks = true;
  // Try value tables in the chunks of 32- and 64-bit floats (the tensor then gets the id
  // lossless-values where one pays).
  bool value_tables = true;
};

struct LosslessCodec {
  static constexpr const char* kId = kLosslessCodecId;
  using Settings = LosslessOptions;
  static EncodedTensor encode(const TensorRef& tensor, const LosslessOptions& options);
  static void decode(const DecodeRequest& req, uint8_t* out, int threads);
  static CodecDescription describe(ByteSpan params);
};

// The decoder of chunks with value tables; encoding is LosslessCodec's (it picks the id).
struct LosslessValuesCodec {
  static constexpr const char* kId = kLosslessValuesCodecId;
  using Settings = LosslessOptions;
  static EncodedTensor encode(const TensorRef& tensor, const LosslessOptions& options);
  static void decode(const DecodeRequest& req, uint8_t* out, int threads);
  static CodecDescription describe(ByteSpan params);
};

// A chunk header's flag (on the k byte): a value table follows (lossless-values only).
constexpr uint8_t kValueTableFlag = 0x80;

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
// With a table, value j of the table has symbol 2^(E+k) + j, and the symbol plane is as wide as its
// largest symbol, at most 12 bits (Huffman's limit): so E + k <= 11 and the table holds at most
// 2^12 - 2^(E+k) values.
constexpr int kValuePlaneMaxBits = 12;
inline int max_extra_bits_with_table(const FloatSplit& fs) {  // E <= 11 for every float dtype
  return std::min(fs.max_extra_bits, kValuePlaneMaxBits - 1 - fs.exponent_bits);
}
inline uint32_t max_table_values(int symbol_bits) {
  return (uint32_t{1} << kValuePlaneMaxBits) - (uint32_t{1} << symbol_bits);
}
inline int value_plane_bits(int symbol_bits, uint32_t values) {
  return bit_width((uint64_t{1} << symbol_bits) + values - 1);
}

// A table is stored in increasing order of its values' keys, each value's bits rotated left by
// one ([exponent | mantissa | sign]: x and -x are neighbours); the first key, then each gap to the
// next as its bit length L (kTableGapLengthBits bits hold L - 1) and its L - 1 bits below the top.
constexpr int kTableGapLengthBits = 6;
template <typename U>
inline U table_key(U value) {
  return static_cast<U>((value << 1) | (value >> (sizeof(U) * 8 - 1)));
}
template <typename U>
inline U table_value(U key) {
  return static_cast<U>((key >> 1) | (key << (sizeof(U) * 8 - 1)));
}

inline ResidualPlanes residual_planes(const FloatSplit& fs, int symbol_bits) {
  return ResidualPlanes{16 - symbol_bits, (fs.width - 16) / 8};
}

}  // namespace nnz
