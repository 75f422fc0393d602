#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "codecs/chunk_table.hpp"
#include "codecs/lossless/lossless.hpp"
#include "common/checked_math.hpp"
#include "common/error.hpp"
#include "common/parallel.hpp"
#include "entropy/plane_encode.hpp"

namespace nnz {
namespace {

// The top 16 bits of an element, rotated left by one: [exponent | high mantissa | sign].
template <typename U>
uint16_t rotated_top16(U x) {
  const auto top = static_cast<uint16_t>(x >> (sizeof(U) * 8 - 16));
  return static_cast<uint16_t>((top << 1) | (top >> 15));
}

template <typename U>
inline U load_element(const uint8_t* src, size_t i) {
  U v;
  std::memcpy(&v, src + i * sizeof(U), sizeof(U));
  return v;
}

// Per-thread scratch planes, reused across chunks (allocating them per chunk costs page faults).
uint16_t* plane_scratch(size_t n) {
  thread_local std::vector<uint16_t> scratch;
  if (scratch.size() < n) scratch.resize(n);
  return scratch.data();
}

// A middle plane of 8 bits decodes in place; any other width needs an unpacking pass that costs
// about as much as the whole decode of a float32 chunk otherwise does. So a k that leaves the
// middle plane unaligned must save at least this fraction of the chunk's size to be chosen.
constexpr double kUnalignedMinGain = 0.003;

// Chooses k (mantissa bits joined to the exponent symbol) by the size of both planes.
int choose_extra_bits(const uint16_t* top, int top_bits, const FloatSplit& fs, size_t n) {
  std::vector<uint64_t> hist(size_t{1} << top_bits, 0);
  for (size_t i = 0; i < n; ++i) hist[top[i]]++;
  int best_k = 0;
  uint64_t best_cost = UINT64_MAX;
  for (int k = fs.max_extra_bits; k >= 0; --k) {
    const int sym_bits = fs.exponent_bits + k;
    if (k != fs.max_extra_bits) {  // fold the histogram down by one bit
      std::vector<uint64_t> folded(size_t{1} << sym_bits, 0);
      for (size_t s = 0; s < hist.size(); ++s) folded[s >> 1] += hist[s];
      hist.swap(folded);
    }
    const int resid_bits = fs.width - sym_bits;  // estimated as packed: near-uniform bits
    const uint64_t size = plane_bytes_from_histogram(hist.data(), sym_bits, n) +
                          ceil_div(static_cast<uint64_t>(n) * static_cast<uint64_t>(resid_bits), 8);
    const bool aligned = residual_planes(fs, sym_bits).middle_bits == 8;
    const uint64_t cost = aligned ? size : size + static_cast<uint64_t>(static_cast<double>(size) * kUnalignedMinGain);
    if (cost <= best_cost) {
      best_cost = cost;
      best_k = k;
    }
  }
  return best_k;
}

template <typename U>
void encode_float_chunk(const uint8_t* src, size_t n, const FloatSplit& fs, std::vector<uint8_t>& out) {
  uint16_t* top = plane_scratch(2 * n);
  uint16_t* plane = top + n;
  for (size_t i = 0; i < n; ++i) top[i] = rotated_top16(load_element<U>(src, i));
  const int top_bits = fs.exponent_bits + fs.max_extra_bits;
  for (size_t i = 0; i < n; ++i) plane[i] = static_cast<uint16_t>(top[i] >> (16 - top_bits));
  const int k = choose_extra_bits(plane, top_bits, fs, n);
  const int sym_bits = fs.exponent_bits + k;
  const ResidualPlanes rp = residual_planes(fs, sym_bits);
  out.push_back(static_cast<uint8_t>(k));
  for (size_t i = 0; i < n; ++i) plane[i] = static_cast<uint16_t>(top[i] >> rp.middle_bits);
  encode_plane(plane, n, sym_bits, out);
  for (size_t i = 0; i < n; ++i) plane[i] = static_cast<uint16_t>(top[i] & ((1u << rp.middle_bits) - 1));
  encode_plane(plane, n, rp.middle_bits, out);
  for (int j = rp.low_planes - 1; j >= 0; --j) {
    for (size_t i = 0; i < n; ++i) plane[i] = static_cast<uint16_t>((load_element<U>(src, i) >> (8 * j)) & 0xFF);
    encode_plane(plane, n, 8, out);
  }
}

template <typename U>
void encode_int_chunk(const uint8_t* src, size_t n, bool is_signed, std::vector<uint8_t>& out) {
  constexpr int w = sizeof(U) * 8;
  out.push_back(0);
  uint16_t* plane = plane_scratch(n);
  for (int b = 0; b < w / 8; ++b) {
    for (size_t i = 0; i < n; ++i) {
      U x = load_element<U>(src, i);
      if (is_signed) x = static_cast<U>((x << 1) ^ (U{0} - (x >> (w - 1))));  // zigzag
      plane[i] = static_cast<uint16_t>((x >> (8 * b)) & 0xFF);
    }
    encode_plane(plane, n, 8, out);
  }
}

void encode_chunk(DType dtype, const uint8_t* src, size_t n, std::vector<uint8_t>& out) {
  const DTypeInfo& info = dtype_info(dtype);
  if (info.kind == DTypeKind::floating) {
    const FloatSplit fs = float_split(dtype);
    switch (info.bits) {
      case 16: return encode_float_chunk<uint16_t>(src, n, fs, out);
      case 32: return encode_float_chunk<uint32_t>(src, n, fs, out);
      case 64: return encode_float_chunk<uint64_t>(src, n, fs, out);
    }
  } else {
    const bool is_signed = info.kind == DTypeKind::signed_int;
    switch (info.bits) {
      case 8: return encode_int_chunk<uint8_t>(src, n, is_signed, out);
      case 16: return encode_int_chunk<uint16_t>(src, n, is_signed, out);
      case 32: return encode_int_chunk<uint32_t>(src, n, is_signed, out);
      case 64: return encode_int_chunk<uint64_t>(src, n, is_signed, out);
    }
  }
  fail(ErrorCode::internal, std::string("lossless: no layout for ") + info.name);
}

// Element byte j as the planes see it: floats with the top 16 bits rotated (exponent first),
// signed integers zigzagged. Only used to estimate how the planes' statistics vary.
template <typename U>
uint8_t plane_byte(U x, int j, bool is_float, bool is_signed) {
  constexpr int w = sizeof(U) * 8;
  if constexpr (sizeof(U) >= 2) {  // floats are 16 bits or wider
    if (is_float && j < 2) return static_cast<uint8_t>(rotated_top16(x) >> (8 - 8 * j));
  }
  if (is_signed) x = static_cast<U>((x << 1) ^ (U{0} - (x >> (w - 1))));
  return static_cast<uint8_t>(x >> (is_float ? 8 * (w / 8 - 1 - j) : 8 * j));
}

// Estimated bits of a byte plane with this histogram under the plane coder's rules: entropy plus
// a table, or 8 bits a symbol when coding would save less than the 3% the coder asks for.
double estimated_plane_bits(const uint32_t* hist, uint64_t n) {
  if (n == 0) return 0;
  double bits = 0;
  for (int s = 0; s < 256; ++s)
    if (hist[s]) bits -= static_cast<double>(hist[s]) * std::log2(static_cast<double>(hist[s]) / static_cast<double>(n));
  constexpr double kTableBits = 8 * 64;
  return std::min(8.0 * static_cast<double>(n), bits / 0.97 + kTableBits);
}

// Estimates of fine blocks b0 .. b0+3: each block's byte planes (fine[b * nbytes + j]) and the
// four merged (coarse[j]).
template <typename U>
void estimate_block_group(const uint8_t* src, uint64_t count, uint32_t fine, size_t b0, size_t blocks, bool is_float,
                          bool is_signed, double* fine_est, double* coarse_est) {
  constexpr int nbytes = sizeof(U);
  const size_t group = std::min(blocks, b0 + 4) - b0;
  // Even and odd elements count into two copies (merged below): neighbours share exponent bytes,
  // and increments of one counter in a row would wait on each other.
  const size_t block_size = static_cast<size_t>(nbytes) * 256;
  std::vector<uint32_t> hist(2 * group * block_size, 0);
  const uint64_t first = static_cast<uint64_t>(b0) * fine, end = std::min<uint64_t>(count, first + group * fine);
  for (uint64_t i = first; i < end; ++i) {
    const U x = load_element<U>(src, static_cast<size_t>(i));
    uint32_t* h = hist.data() + (2 * static_cast<size_t>((i - first) / fine) + (i & 1)) * block_size;
    for (int j = 0; j < nbytes; ++j) h[j * 256 + plane_byte(x, j, is_float, is_signed)]++;
  }
  for (size_t b = 0; b < group; ++b)
    for (size_t k = 0; k < block_size; ++k) hist[2 * b * block_size + k] += hist[(2 * b + 1) * block_size + k];
  uint32_t merged[256];
  for (int j = 0; j < nbytes; ++j) {
    std::fill(merged, merged + 256, 0);
    uint64_t merged_n = 0;
    for (size_t b = 0; b < group; ++b) {
      const uint32_t* h = hist.data() + 2 * b * block_size + static_cast<size_t>(j) * 256;
      const uint64_t n = std::min<uint64_t>(fine, count - (b0 + b) * fine);
      fine_est[(b0 + b) * nbytes + static_cast<size_t>(j)] = estimated_plane_bits(h, n);
      for (int k = 0; k < 256; ++k) merged[k] += h[k];
      merged_n += n;
    }
    coarse_est[j] = estimated_plane_bits(merged, merged_n);
  }
}

// Whether chunks of `fine` elements code smaller than chunks four times larger. The estimates
// are made in parallel and summed in one fixed order: the answer never depends on the threads.
template <typename U>
bool finer_chunks_pay(const uint8_t* src, uint64_t count, uint32_t fine, bool is_float, bool is_signed, int threads) {
  constexpr int nbytes = sizeof(U);
  const size_t blocks = static_cast<size_t>(ceil_div(count, fine)), groups = (blocks + 3) / 4;
  std::vector<double> fine_est(blocks * nbytes), coarse_est(groups * nbytes);
  parallel_for(groups, threads, [&](size_t g) {
    estimate_block_group<U>(src, count, fine, 4 * g, blocks, is_float, is_signed, fine_est.data(),
                            coarse_est.data() + g * nbytes);
  });
  double fine_bits = 0, coarse_bits = 0;
  for (size_t g = 0; g < groups; ++g) {
    for (int j = 0; j < nbytes; ++j) {
      for (size_t b = 4 * g; b < std::min(blocks, 4 * g + 4); ++b) fine_bits += fine_est[b * nbytes + static_cast<size_t>(j)];
      coarse_bits += coarse_est[g * nbytes + static_cast<size_t>(j)];
    }
  }
  constexpr double kMinGain = 0.001;  // finer chunks also cost decode time (more tables to build)
  return fine_bits < (1.0 - kMinGain) * coarse_bits;
}

uint32_t chunk_elems_for(const TensorRef& tensor, const LosslessOptions& options) {
  const uint32_t fine = options.chunk_elems / 4;
  if (!options.adaptive_chunks || fine < 4096 || tensor.count < 2 * static_cast<uint64_t>(fine)) return options.chunk_elems;
  const DTypeInfo& info = dtype_info(tensor.dtype);
  const bool is_float = info.kind == DTypeKind::floating, is_signed = info.kind == DTypeKind::signed_int;
  bool pays = false;
  switch (info.bits) {
    case 8: pays = finer_chunks_pay<uint8_t>(tensor.data, tensor.count, fine, is_float, is_signed, options.threads); break;
    case 16: pays = finer_chunks_pay<uint16_t>(tensor.data, tensor.count, fine, is_float, is_signed, options.threads); break;
    case 32: pays = finer_chunks_pay<uint32_t>(tensor.data, tensor.count, fine, is_float, is_signed, options.threads); break;
    case 64: pays = finer_chunks_pay<uint64_t>(tensor.data, tensor.count, fine, is_float, is_signed, options.threads); break;
  }
  return pays ? fine : options.chunk_elems;
}

}  // namespace

EncodedTensor LosslessCodec::encode(const TensorRef& tensor, const LosslessOptions& options) {
  NNZ_CHECK(options.chunk_elems >= 1 && options.chunk_elems <= kLosslessMaxChunkElems, invalid_argument,
            "lossless: chunk size must be between 1 and 2^28 elements");
  const size_t esize = static_cast<size_t>(dtype_bytes(tensor.dtype));
  const uint32_t chunk_elems = chunk_elems_for(tensor, options);
  const uint64_t nchunks = ceil_div(tensor.count, chunk_elems);
  std::vector<std::vector<uint8_t>> chunks(to_size(nchunks, "lossless chunk count"));
  parallel_for(chunks.size(), options.threads, [&](size_t c) {
    const uint64_t first = static_cast<uint64_t>(c) * chunk_elems;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk_elems, tensor.count - first));
    // Coded into a vector of this thread's stack: vectors next to each other in `chunks` share
    // cache lines, and two threads appending to neighbours would contend for them on every byte.
    std::vector<uint8_t> coded;
    encode_chunk(tensor.dtype, tensor.data + first * esize, n, coded);
    chunks[c] = std::move(coded);
  });
  EncodedTensor result;
  result.codec = kLosslessCodecId;
  ByteWriter params(result.params);
  params.u32(chunk_elems);
  write_chunk_table(chunks, result, "lossless");
  return result;
}

}  // namespace nnz
