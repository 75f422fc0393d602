#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>

#include "codecs/chunk_table.hpp"
#include "codecs/exception_list.hpp"
#include "codecs/grid/grid.hpp"
#include "common/checked_math.hpp"
#include "common/error.hpp"
#include "common/scratch.hpp"
#include "entropy/plane_decode.hpp"

namespace nnz {
namespace {

struct GridParams {
  GridLayout layout;
  uint32_t block;
  uint32_t chunk_units;
};

GridParams read_params(ByteSpan bytes) {
  ByteReader r(bytes, "lossless-grid parameters");
  const uint8_t version = r.u8();
  NNZ_CHECK(version == kGridParamsVersion, unsupported,
            "lossless-grid: parameter version " + std::to_string(version) + " (written by a newer nncodec?)");
  const uint8_t layout = r.u8();
  NNZ_CHECK(layout <= static_cast<uint8_t>(GridLayout::columns), corrupt, "lossless-grid: bad layout");
  GridParams p{static_cast<GridLayout>(layout), r.u32(), r.u32()};
  r.expect_end();
  NNZ_CHECK(p.block >= 1 && p.chunk_units >= 1 && static_cast<uint64_t>(p.block) * p.chunk_units <= kGridMaxChunkElems,
            corrupt, "lossless-grid: bad block or chunk size");
  return p;
}

// Elements [0, n) of a run from their symbols (zigzagged levels) with the scales from `scale`: one
// scale for all (runs: stride 0), or scale[i] (a row of the columns layout).
template <DType kDType>
void elements(const uint8_t* levels, size_t n, const double* scale, size_t stride, uint8_t* out) {
  constexpr size_t esize = kDType == DType::float64 ? 8 : kDType == DType::float32 ? 4 : 2;
  for (size_t i = 0; i < n; ++i) grid_symbol_element(kDType, levels[i], scale[i * stride], out + i * esize);
}

// A run of many elements: the element of each of the 256 symbols once, then a lookup each.
template <DType kDType>
void elements_by_table(const uint8_t* levels, size_t n, double s, uint8_t* out) {
  constexpr size_t esize = kDType == DType::float64 ? 8 : kDType == DType::float32 ? 4 : 2;
  uint8_t table[256 * esize];
  for (uint32_t z = 0; z < 256; ++z) grid_symbol_element(kDType, z, s, table + z * esize);
  for (size_t i = 0; i < n; ++i) std::memcpy(out + i * esize, table + levels[i] * esize, esize);
}

template <DType kDType>
void chunk_elements(const GridParams& p, const std::vector<double>& scales, uint64_t first, size_t n,
                    const uint8_t* levels, uint8_t* out) {
  constexpr size_t esize = kDType == DType::float64 ? 8 : kDType == DType::float32 ? 4 : 2;
  constexpr size_t kTableMinRun = 1024;  // where a table of 256 elements costs less than computing them
  for (size_t i = 0; i < n;) {  // chunks start at a run's or a row's first element
    const size_t m = std::min<size_t>(p.block, n - i);
    const double* s = scales.data() + grid_scale_index(p.layout, p.block, first + i);
    if (p.layout == GridLayout::runs && m >= kTableMinRun) {
      elements_by_table<kDType>(levels + i, m, *s, out + i * esize);
    } else {
      elements<kDType>(levels + i, m, s, p.layout == GridLayout::runs ? 0 : 1, out + i * esize);
    }
    i += m;
  }
}

void decode_chunk(ByteSpan chunk, DType dtype, const GridParams& p, const std::vector<double>& scales, uint64_t first,
                  size_t n, uint8_t* out) {
  ByteReader in(chunk, "lossless-grid chunk");
  const size_t esize = static_cast<size_t>(dtype_bytes(dtype));
  const std::unique_ptr<uint8_t[]> levels = scratch_array<uint8_t>(n);
  decode_plane(in, n, 8, levels.get());
  switch (dtype) {
    case DType::float32: chunk_elements<DType::float32>(p, scales, first, n, levels.get(), out); break;
    case DType::float64: chunk_elements<DType::float64>(p, scales, first, n, levels.get(), out); break;
    case DType::bfloat16: chunk_elements<DType::bfloat16>(p, scales, first, n, levels.get(), out); break;
    default: chunk_elements<DType::float16>(p, scales, first, n, levels.get(), out); break;
  }
  for (const auto& [index, bytes] : read_exception_list(in, n, esize, "lossless-grid"))
    std::memcpy(out + static_cast<size_t>(index) * esize, bytes.data, esize);
  in.expect_end();
}

}  // namespace

void LosslessGridCodec::decode(const DecodeRequest& req, uint8_t* out, int threads) {
  NNZ_CHECK(dtype_info(req.dtype).kind == DTypeKind::floating, corrupt, "lossless-grid: tensor is not a float dtype");
  const GridParams p = read_params(req.params);
  const uint64_t chunk_elems = static_cast<uint64_t>(p.block) * p.chunk_units;
  const size_t esize = static_cast<size_t>(dtype_bytes(req.dtype)), scale_bytes = grid_scale_bytes(req.dtype);
  ByteReader in(req.payload, "lossless-grid payload");
  const uint64_t nscales = grid_scale_count(p.layout, p.block, req.count);
  NNZ_CHECK(nscales <= in.remaining() / scale_bytes, corrupt, "lossless-grid: scales larger than the payload");
  const ByteSpan scale_span = in.bytes(static_cast<size_t>(nscales) * scale_bytes);
  std::vector<double> scales(static_cast<size_t>(nscales));
  for (size_t b = 0; b < scales.size(); ++b) scales[b] = grid_load_scale(req.dtype, scale_span.data + b * scale_bytes);
  decode_chunks(in.bytes(in.remaining()), req.count, chunk_elems, threads, "lossless-grid payload",
                [&](ByteSpan chunk, uint64_t first, size_t n) {
                  decode_chunk(chunk, req.dtype, p, scales, first, n, out + first * esize);
                });
}

CodecDescription LosslessGridCodec::describe(ByteSpan params) {
  read_params(params);
  return kExactCodec;
}

}  // namespace nnz
