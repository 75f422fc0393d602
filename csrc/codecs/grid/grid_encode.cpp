#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include "codecs/chunk_table.hpp"
#include "codecs/exception_list.hpp"
#include "codecs/grid/grid_encode.hpp"
#include "common/checked_math.hpp"
#include "common/error.hpp"
#include "common/parallel.hpp"
#include "entropy/plane_encode.hpp"

namespace nnz {
namespace {

bool is_float_dtype(DType dtype) { return dtype_info(dtype).kind == DTypeKind::floating; }

// Whether level q of scale s gives the element at x exactly (bit for bit). Compared as one
// integer of the element's width: a memcmp of a run-time size was a library call per element.
bool on_grid(DType dtype, int q, double s, const uint8_t* x, size_t esize) {
  uint8_t v[8];
  grid_element(dtype, q, s, v);
  uint64_t a = 0, b = 0;
  switch (esize) {
    case 2: std::memcpy(&a, v, 2), std::memcpy(&b, x, 2); break;
    case 4: std::memcpy(&a, v, 4), std::memcpy(&b, x, 4); break;
    default: std::memcpy(&a, v, 8), std::memcpy(&b, x, 8); break;
  }
  return a == b;
}

// The symbol of element x for scale s: zigzag of the nearest integer to x / s if it is a level
// that gives x, or the symbol of -0.
bool symbol_of(DType dtype, double s, const uint8_t* x, size_t esize, uint8_t& z) {
  const double v = load_float(dtype, x);
  if (v == 0 && std::signbit(v)) {
    z = static_cast<uint8_t>(kGridNegativeZero);
    return true;
  }
  const double r = std::nearbyint(v / s);
  if (!(r >= -kGridMaxLevel && r <= kGridMaxLevel)) return false;  // also NaN and infinities
  const int q = static_cast<int>(r);
  z = static_cast<uint8_t>((static_cast<uint32_t>(q) << 1) ^ static_cast<uint32_t>(q >> 31));
  return on_grid(dtype, q, s, x, esize);
}

struct GridCount {
  size_t exact = 0, seen = 0;
};

// Of a block's elements (or, skipping zeros, which lie on every grid, of its nonzero ones), those
// seen and those on the grid of scale s. Where fewer than half of the first 16 seen are, counting
// stops (elements off a grid fail there, so that trying many scales, or probing trained weights,
// costs little).
GridCount count_on_grid(DType dtype, double s, const uint8_t* block, size_t n, size_t esize, bool skip_zeros) {
  constexpr size_t kPrefix = 16;
  GridCount c;
  uint8_t z;
  for (size_t i = 0; i < n && !(c.seen == kPrefix && c.exact < kPrefix / 2); ++i) {
    const uint8_t* x = block + i * esize;
    if (skip_zeros && load_float(dtype, x) == 0) continue;
    ++c.seen;
    c.exact += symbol_of(dtype, s, x, esize, z);
  }
  return c;
}

// A scale as stored (float32, or float64 for float64 tensors): the double the decoder reads back.
double stored_scale(DType dtype, double s) {
  if (dtype == DType::float64) return s;
  return static_cast<double>(to_float32(s));
}

// The elements of the dtype next to |x| below and above (x finite), by their bit patterns.
void dtype_neighbours(DType dtype, double x, double& below, double& above) {
  uint8_t bytes[8];
  store_float(dtype, std::fabs(x), bytes);
  const size_t esize = static_cast<size_t>(dtype_bytes(dtype));
  uint64_t bits = 0;
  std::memcpy(&bits, bytes, esize);  // little-endian hosts (as the core assumes)
  for (int step : {-1, 1}) {
    const uint64_t b = bits + static_cast<uint64_t>(step);
    std::memcpy(bytes, &b, esize);
    (step < 0 ? below : above) = bits == 0 && step < 0 ? 0.0 : load_float(dtype, bytes);
  }
}

// The scale that puts the deciding magnitudes (ascending) at their levels, starting from the
// candidate c: the intersection of the scales that round |q| s to |x| (half a unit of x's last
// place either side), its float32 (or float64) value nearest the middle. Each level is taken with
// the scale narrowed so far, so that coarse candidates (a 16-bit element divided by its level)
// still give the large elements their level. Magnitudes whose interval misses it are left to be
// exceptions, while they are at most 4 or an eighth of those seen (more: no grid, found after a
// few elements of weights off any grid; the result is then 0, or for float64, whose intervals are
// as wide as the rounding of their own bounds, the candidate, to be checked as it is).
double refined_scale(DType dtype, const std::vector<double>& deciding, double c) {
  double lo = 0, hi = INFINITY;
  size_t missed = 0, seen = 0;
  for (const double x : deciding) {
    const double q = std::nearbyint(x / (std::isfinite(hi) ? (lo + hi) / 2 : c));
    ++seen;
    double below = 0, above = 0;
    if (q >= 1 && q <= kGridMaxLevel) dtype_neighbours(dtype, x, below, above);
    const double l = (x + below) / 2 / q, h = (x + above) / 2 / q;
    if (q < 1 || q > kGridMaxLevel || std::max(lo, l) > std::min(hi, h)) {
      if (++missed > 4 && missed > seen / 8) return dtype == DType::float64 ? c : 0;
      continue;
    }
    lo = std::max(lo, l);
    hi = std::min(hi, h);
  }
  return std::isfinite(hi) ? stored_scale(dtype, (lo + hi) / 2) : c;
}

// The scale of a block: of candidates from its smallest and largest magnitudes (the smallest at
// level 1..127, as small blocks need not hold level 1; the largest at the top level of an 8-bit or
// 4-bit grid, symmetric or not), the first that puts most elements on the grid.
double block_scale(DType dtype, const uint8_t* block, size_t n, size_t esize) {
  double smallest = INFINITY, largest = 0;
  for (size_t i = 0; i < n; ++i) {
    const double a = std::fabs(load_float(dtype, block + i * esize));
    if (std::isfinite(a) && a > 0) {
      smallest = std::min(smallest, a);
      largest = std::max(largest, a);
    }
  }
  if (!(largest > 0)) return 1.0;  // no finite nonzero element: zeros are on any grid
  // The magnitudes that decide a scale: the first 256 finite nonzero ones and the largest (whose
  // interval is the narrowest), ascending; every element is checked after.
  constexpr size_t kDeciding = 256;
  std::vector<double> deciding{largest};
  for (size_t i = 0; i < n && deciding.size() <= kDeciding; ++i) {
    const double a = std::fabs(load_float(dtype, block + i * esize));
    if (std::isfinite(a) && a > 0) deciding.push_back(a);
  }
  std::sort(deciding.begin(), deciding.end());
  // 127 magnitudes at most, and an eighth of exceptions: more distinct ones are no grid (trained
  // weights), found without trying a scale.
  if (deciding.size() > kDeciding &&
      std::unique(deciding.begin(), deciding.end()) - deciding.begin() > kGridMaxLevel + static_cast<long>(kDeciding / 8))
    return 1.0;
  std::vector<double> candidates;
  for (int top : {127, 128, 255, 7, 8, 15}) candidates.push_back(largest / top);
  for (int k = 1; k <= kGridMaxLevel; ++k) candidates.push_back(smallest / k);
  double best = 1.0;
  size_t best_exact = 0;
  const auto consider = [&](double c) {
    c = stored_scale(dtype, c);
    if (!(c > 0) || !std::isfinite(c)) return false;
    const double s = refined_scale(dtype, deciding, c);
    if (!(s > 0) || !std::isfinite(s)) return false;
    const size_t exact = count_on_grid(dtype, s, block, n, esize, false).exact;
    if (exact > best_exact) {
      best_exact = exact;
      best = s;
    }
    return exact == n;
  };
  for (double c : candidates)
    if (consider(c)) return best;
  return best;
}

// The first `limit` elements of block b: of a run in place, of a column gathered into `column`.
ByteSpan block_bytes(const TensorRef& t, GridLayout layout, uint32_t block, uint64_t b, std::vector<uint8_t>& column,
                     uint64_t limit = UINT64_MAX) {
  const size_t esize = static_cast<size_t>(dtype_bytes(t.dtype));
  if (layout == GridLayout::runs) {
    const uint64_t first = b * block;
    return ByteSpan{t.data + first * esize, static_cast<size_t>(std::min({uint64_t{block}, t.count - first, limit})) * esize};
  }
  column.clear();
  for (uint64_t i = b; i < t.count && column.size() < limit * esize; i += block)
    column.insert(column.end(), t.data + i * esize, t.data + (i + 1) * esize);
  return ByteSpan{column.data(), column.size()};
}

void put_scale(DType dtype, double s, uint8_t* out) {
  if (dtype == DType::float64) {
    std::memcpy(out, &s, 8);
  } else {
    const float f = static_cast<float>(s);  // already a float32 value
    std::memcpy(out, &f, 4);
  }
}

// Symbols of the chunk's n elements from `first`, with the tensor's scales; elements off their
// grid get symbol 0 and are listed as exceptions.
void encode_chunk(const TensorRef& t, const GridOptions& o, const std::vector<double>& scales, uint64_t first, size_t n,
                  std::vector<uint8_t>& out) {
  const size_t esize = static_cast<size_t>(dtype_bytes(t.dtype));
  const uint8_t* x = t.data + first * esize;
  std::vector<uint8_t> levels(n);
  std::vector<uint32_t> exceptions;
  for (size_t i = 0; i < n; ++i) {
    const double s = scales[static_cast<size_t>(grid_scale_index(o.layout, o.block, first + i))];
    if (!symbol_of(t.dtype, s, x + i * esize, esize, levels[i])) {
      levels[i] = 0;
      exceptions.push_back(static_cast<uint32_t>(i));
    }
  }
  encode_plane(levels.data(), n, 8, out);
  ByteWriter w(out);
  write_exception_list(w, exceptions, x, esize);
}

}  // namespace

double grid_exact_share(const TensorRef& tensor, GridLayout layout, uint32_t block, uint32_t sample_blocks) {
  if (!is_float_dtype(tensor.dtype) || tensor.count == 0 || block == 0) return 0;
  const size_t esize = static_cast<size_t>(dtype_bytes(tensor.dtype));
  const uint64_t blocks = grid_scale_count(layout, block, tensor.count);
  const uint64_t step = std::max<uint64_t>(1, blocks / std::max<uint32_t>(1, sample_blocks));
  std::vector<uint8_t> column;
  uint64_t exact = 0, seen = 0;
  for (uint64_t b = 0; b < blocks; b += step) {
    const ByteSpan bytes = block_bytes(tensor, layout, block, b, column, 1024);  // a block's head shows its grid
    const size_t m = bytes.size / esize;
    // Zeros lie on every grid: of a pruned tensor, only the others tell.
    const GridCount c = count_on_grid(tensor.dtype, block_scale(tensor.dtype, bytes.data, m, esize), bytes.data, m,
                                      esize, true);
    exact += c.exact;
    seen += c.seen;
    if (seen >= 16 && exact * 2 < seen) break;  // far from a grid (trained weights): the rest cannot tell more
  }
  return seen ? static_cast<double>(exact) / static_cast<double>(seen) : 1.0;
}

EncodedTensor LosslessGridCodec::encode(const TensorRef& tensor, const GridOptions& options) {
  NNZ_CHECK(is_float_dtype(tensor.dtype), invalid_argument, "lossless-grid: codes float tensors only");
  NNZ_CHECK(options.block >= 1 && options.block <= kGridMaxChunkElems, invalid_argument,
            "lossless-grid: the block must have 1 to 2^28 elements");
  const uint32_t units = std::max<uint32_t>(1, std::min(options.chunk_elems, kGridMaxChunkElems) / options.block);
  const uint64_t chunk_elems = static_cast<uint64_t>(units) * options.block;
  const size_t esize = static_cast<size_t>(dtype_bytes(tensor.dtype));
  std::vector<double> scales(to_size(grid_scale_count(options.layout, options.block, tensor.count), "lossless-grid scales"));
  parallel_for(scales.size(), options.threads, [&](size_t b) {
    std::vector<uint8_t> column;
    const ByteSpan bytes = block_bytes(tensor, options.layout, options.block, b, column);
    scales[b] = block_scale(tensor.dtype, bytes.data, bytes.size / esize, esize);
  });
  std::vector<std::vector<uint8_t>> chunks(to_size(ceil_div(tensor.count, chunk_elems), "lossless-grid chunk count"));
  parallel_for(chunks.size(), options.threads, [&](size_t c) {
    const uint64_t first = static_cast<uint64_t>(c) * chunk_elems;
    std::vector<uint8_t> coded;
    encode_chunk(tensor, options, scales, first, static_cast<size_t>(std::min<uint64_t>(chunk_elems, tensor.count - first)),
                 coded);
    chunks[c] = std::move(coded);
  });
  EncodedTensor result;
  result.codec = kLosslessGridCodecId;
  ByteWriter w(result.params);
  w.u8(kGridParamsVersion);
  w.u8(static_cast<uint8_t>(options.layout));
  w.u32(options.block);
  w.u32(units);
  const size_t scale_bytes = grid_scale_bytes(tensor.dtype);
  result.payload.resize(scales.size() * scale_bytes);
  for (size_t b = 0; b < scales.size(); ++b) put_scale(tensor.dtype, scales[b], result.payload.data() + b * scale_bytes);
  write_chunk_table(chunks, result, "lossless-grid");
  return result;
}

}  // namespace nnz
