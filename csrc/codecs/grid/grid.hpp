// `lossless-grid`: exact coding of float tensors whose elements are, block by block, integer
// multiples of a block scale: fake-quantized weights (QAT exports, int8 or int4 weights saved
// dequantized), where every output channel (or group) has its own 255 or 15 levels, more than a
// value table (lossless-values) holds. Each block has a scale s; each element an integer q in
// [-127, 127] (an order-0 coded byte plane of zigzag(q)), its value the dtype's rounding of q x s,
// or symbol 255 for -0 (which rounding a small negative weight to level 0 gives); elements off the
// grid (NaN, infinities, outliers) are stored verbatim. A block is a run of
// consecutive elements (a row, an output channel, a group) or a column (every row's element j: the
// output channels of [in, out] weights and of channels-last storage). docs/FORMAT.md 5.9.
//
// params: u8 version (1), u8 layout (0 runs, 1 columns), u32 block (run: its elements; columns:
//         the row length, one scale per column), u32 chunk_units (runs or rows per chunk).
// payload: the scales (float64 for float64 tensors, else float32), then a chunk table
//          (chunk_table.hpp); a chunk: the plane of its levels, then its exceptions
//          (exception_list.hpp).
#pragma once
#include <cstdint>
#include <cstring>

#include "codecs/codec.hpp"
#include "transform/float_convert.hpp"

namespace nnz {

constexpr const char* kLosslessGridCodecId = "lossless-grid";  // written into files: never change it
constexpr uint8_t kGridParamsVersion = 1;
constexpr uint32_t kGridMaxChunkElems = uint32_t{1} << 28;
constexpr uint32_t kGridDefaultChunkElems = uint32_t{1} << 18;
constexpr int kGridMaxLevel = 127;  // levels are -127 .. 127
constexpr uint32_t kGridNegativeZero = 255;  // the symbol of -0

enum class GridLayout : uint8_t { runs = 0, columns = 1 };

struct GridOptions {
  GridLayout layout = GridLayout::runs;
  uint32_t block = 0;  // runs: elements sharing a scale; columns: the row length; >= 1
  uint32_t chunk_elems = kGridDefaultChunkElems;  // rounded down to whole runs or rows (at least one)
  int threads = 1;
};

// Where element i finds its scale.
inline uint64_t grid_scale_index(GridLayout layout, uint32_t block, uint64_t i) {
  return layout == GridLayout::runs ? i / block : i % block;
}
inline uint64_t grid_scale_count(GridLayout layout, uint32_t block, uint64_t count) {
  return layout == GridLayout::runs ? (count + block - 1) / block : (count < block ? count : block);
}

struct LosslessGridCodec {
  static constexpr const char* kId = kLosslessGridCodecId;
  using Settings = GridOptions;
  static EncodedTensor encode(const TensorRef& tensor, const GridOptions& options);
  static void decode(const DecodeRequest& req, uint8_t* out, int threads);
  static CodecDescription describe(ByteSpan params);
};

// The bytes of a scale: float64 tensors keep float64 scales, the others float32.
inline size_t grid_scale_bytes(DType dtype) { return dtype == DType::float64 ? 8 : 4; }

inline double grid_load_scale(DType dtype, const uint8_t* p) {
  if (dtype == DType::float64) return load_float(DType::float64, p);
  return load_float(DType::float32, p);
}

// The element of level q in a block of scale s (the scale as stored, widened to double): float64
// rounds q x s once; float32 rounds the exact product (|q| <= 128 and a float32 s: 32 bits) once;
// float16 and bfloat16 round the product to float32, then to the dtype (nearest even), as a
// float32 multiply and a cast do. A magnitude beyond float32's range gives infinity. Writes the element's bytes; encoder and decoder both use it.
inline void grid_element(DType dtype, int q, double s, uint8_t* out) {
  const double product = static_cast<double>(q) * s;
  switch (dtype) {
    case DType::float64: std::memcpy(out, &product, 8); return;
    case DType::float32: store_float(DType::float32, product, out); return;
    case DType::bfloat16: {  // round to nearest even on the float32 bits (infinity stays infinity)
      const float f = to_float32(product);
      uint32_t u;
      std::memcpy(&u, &f, 4);
      u += 0x7FFFu + ((u >> 16) & 1u);
      out[0] = static_cast<uint8_t>(u >> 16);
      out[1] = static_cast<uint8_t>(u >> 24);
      return;
    }
    default: store_float(dtype, static_cast<double>(to_float32(product)), out); return;
  }
}

// The element of symbol z (zigzag(q), or kGridNegativeZero) in a block of scale s.
inline void grid_symbol_element(DType dtype, uint32_t z, double s, uint8_t* out) {
  if (z == kGridNegativeZero) {
    store_float(dtype, -0.0, out);
    return;
  }
  grid_element(dtype, static_cast<int>(z >> 1) ^ -static_cast<int>(z & 1), s, out);
}

}  // namespace nnz
