// `pl`: piecewise-linear coding of float32 weights with a bound p on every weight's error
// (docs/piecewise-linearization.md; byte layout in docs/FORMAT.md, "Codec pl").
//
// The tensor is cut into blocks of `block_elems` weights (in exact-position mode a block is
// normally one row). Each block is fitted independently (transform/piecewise_linear.hpp) and
// stored as: slope table, line table, the line id of every weight (a plane: Huffman-coded when
// that is smallest) and the position of every weight on its line (bit-packed, width per line).
#pragma once
#include <cstdint>

#include "codecs/codec.hpp"
#include "transform/pl_line.hpp"

namespace nnz {

constexpr const char* kPlCodecId = "pl";
constexpr uint8_t kPlParamsVersion = 1;
constexpr uint8_t kPlFlagExactPositions = 1;
constexpr uint32_t kPlDefaultBlockElems = uint32_t{1} << 16;

struct PlOptions {
  PlFitOptions fit;
  uint32_t block_elems = kPlDefaultBlockElems;
  int threads = 1;
};

// Where the bytes of a pl payload go (for the bits-per-weight breakdown).
struct PlStats {
  uint64_t position_bytes = 0;   // position bits of weights on lines
  uint64_t exception_bytes = 0;  // float32 bits of exceptions (inside the position streams)
  uint64_t line_id_bytes = 0;    // coded line ids, Huffman tables excluded
  uint64_t table_bytes = 0;      // Huffman code-length tables of the line ids
  uint64_t line_bytes = 0;       // line tables (intercept, slope group, position bits)
  uint64_t slope_bytes = 0;      // slope tables
  uint64_t framing_bytes = 0;    // block sizes, counts and stream headers
  uint64_t blocks = 0, lines = 0, slopes = 0, exceptions = 0;
  double max_error = 0;          // largest |decoded - original| over finite weights
};

struct PlCodec {
  static constexpr const char* kId = kPlCodecId;
  using Settings = PlOptions;
  static EncodedTensor encode(const TensorRef& tensor, const PlOptions& options);
  static void decode(const DecodeRequest& req, uint8_t* out, int threads);
  static CodecDescription describe(ByteSpan params);  // p and the maximum error measured when fitting
};

// encode, also telling where the bytes went.
EncodedTensor pl_encode_with_stats(const TensorRef& tensor, const PlOptions& options, PlStats& stats);

}  // namespace nnz
