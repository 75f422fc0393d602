#include <cstring>
#include <string>

#include "codecs/lossless.hpp"
#include "common/checked_math.hpp"
#include "common/error.hpp"
#include "common/parallel.hpp"
#include "entropy/plane_coder.hpp"

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

}  // namespace

EncodedTensor lossless_encode(const TensorRef& tensor, const LosslessOptions& options) {
  NNZ_CHECK(options.chunk_elems >= 1 && options.chunk_elems <= kLosslessMaxChunkElems, invalid_argument,
            "lossless: chunk size must be between 1 and 2^28 elements");
  const size_t esize = static_cast<size_t>(dtype_bytes(tensor.dtype));
  const uint64_t nchunks = ceil_div(tensor.count, options.chunk_elems);
  std::vector<std::vector<uint8_t>> chunks(to_size(nchunks, "lossless chunk count"));
  parallel_for(chunks.size(), options.threads, [&](size_t c) {
    const uint64_t first = static_cast<uint64_t>(c) * options.chunk_elems;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(options.chunk_elems, tensor.count - first));
    encode_chunk(tensor.dtype, tensor.data + first * esize, n, chunks[c]);
  });
  EncodedTensor result;
  result.codec = kLosslessCodecId;
  ByteWriter params(result.params);
  params.u32(options.chunk_elems);
  size_t total = 4 * chunks.size();
  for (const std::vector<uint8_t>& chunk : chunks) total += chunk.size();
  result.payload.reserve(total);
  ByteWriter payload(result.payload);
  for (const std::vector<uint8_t>& chunk : chunks) {
    NNZ_CHECK(chunk.size() <= UINT32_MAX, internal, "lossless: chunk larger than 4 GiB");
    payload.u32(static_cast<uint32_t>(chunk.size()));
  }
  for (const std::vector<uint8_t>& chunk : chunks) payload.bytes(chunk);
  return result;
}

}  // namespace nnz
