#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "codecs/chunk_table.hpp"
#include "codecs/delta/delta_encode.hpp"
#include "common/bit_io.hpp"
#include "common/checked_math.hpp"
#include "common/error.hpp"
#include "common/parallel.hpp"
#include "entropy/lane_rans_encode.hpp"
#include "entropy/plane_encode.hpp"
#include "entropy/rans_encode.hpp"

namespace nnz {
namespace {

struct ChunkTokens {
  std::vector<uint8_t> tokens;
  std::vector<uint32_t> keys;
  uint32_t key_min = UINT32_MAX, key_max = 0;
};

// How the contexts split the keys: context of key k is 0 for k <= lo, else min(k - lo, nctx - 1).
struct ContextSplit {
  int nctx = 1;
  uint32_t lo = 0;
  uint64_t plane_bytes = 0;  // the token planes with this split (mode coded)
};

inline uint32_t context_of(uint32_t key, const ContextSplit& s) {
  return key <= s.lo ? 0 : std::min(key - s.lo, static_cast<uint32_t>(s.nctx - 1));
}

// The window of nctx consecutive keys holding the most elements: the split for nctx contexts.
ContextSplit window_split(const std::vector<uint64_t>& key_counts, uint32_t key_min, int nctx) {
  ContextSplit best{nctx, key_min};
  uint64_t best_mass = 0;
  for (size_t start = 0; start < key_counts.size(); ++start) {
    uint64_t mass = 0;
    for (size_t k = start; k < std::min(key_counts.size(), start + static_cast<size_t>(nctx)); ++k) mass += key_counts[k];
    if (mass > best_mass) {
      best_mass = mass;
      // Key lo lands in context 0 together with every smaller key: the window starts at lo.
      best.lo = key_min + static_cast<uint32_t>(start);
    }
  }
  return best;
}

// Bytes the token planes take with this split (the raw bits do not depend on it).
uint64_t split_cost(const std::vector<uint64_t>& hist, uint32_t key_min, const ContextSplit& s) {
  std::vector<uint64_t> per_ctx(static_cast<size_t>(s.nctx) * 256, 0);
  std::vector<uint64_t> n(static_cast<size_t>(s.nctx), 0);
  for (size_t k = 0; k < hist.size() / 256; ++k) {
    const uint32_t c = context_of(key_min + static_cast<uint32_t>(k), s);
    for (size_t t = 0; t < 256; ++t) {
      per_ctx[c * 256 + t] += hist[k * 256 + t];
      n[c] += hist[k * 256 + t];
    }
  }
  uint64_t bytes = 0;
  for (int c = 0; c < s.nctx; ++c)
    if (n[static_cast<size_t>(c)])
      bytes += plane_bytes_from_histogram(per_ctx.data() + static_cast<size_t>(c) * 256, 8, static_cast<size_t>(n[static_cast<size_t>(c)]));
  return bytes;
}

ContextSplit choose_split(const ChunkTokens& ct, int max_contexts) {
  if (max_contexts <= 1 || ct.key_min >= ct.key_max) return ContextSplit{};
  const size_t nkeys = static_cast<size_t>(ct.key_max - ct.key_min) + 1;
  std::vector<uint64_t> hist(nkeys * 256, 0), key_counts(nkeys, 0);
  for (size_t i = 0; i < ct.tokens.size(); ++i) {
    const size_t k = ct.keys[i] - ct.key_min;
    hist[k * 256 + ct.tokens[i]]++;
    key_counts[k]++;
  }
  ContextSplit best{};
  best.plane_bytes = split_cost(hist, ct.key_min, best);
  uint64_t best_cost = best.plane_bytes;
  for (int nctx = 2; nctx <= max_contexts; nctx *= 2) {
    ContextSplit s = window_split(key_counts, ct.key_min, nctx);
    s.plane_bytes = split_cost(hist, ct.key_min, s) + 4 * static_cast<uint64_t>(nctx);
    // Contexts cost decode time (a gather pass, or larger tables): they must save 1% of the tokens.
    const uint64_t cost = s.plane_bytes + best_cost / 100;
    if (cost < best_cost) {
      best_cost = cost;
      best = s;
    }
  }
  return best;
}

// Mode lanes for the tokens of a chunk: one table per context, at the precision whose coded size
// is within 0.2% of the best (smaller tables decode faster), if the whole is at most 1% larger
// than the token planes would be. Returns false (nothing written) otherwise.
bool write_lane_chunk(const ChunkTokens& ct, const ContextSplit& split, size_t alphabet, const std::vector<uint8_t>& raw,
                      std::vector<uint8_t>& out) {
  const size_t n = ct.tokens.size(), nctx = static_cast<size_t>(split.nctx);
  std::vector<uint8_t> contexts(n);
  std::vector<uint64_t> hist(nctx * alphabet, 0);
  for (size_t i = 0; i < n; ++i) {
    contexts[i] = static_cast<uint8_t>(split.nctx == 1 ? 0 : context_of(ct.keys[i], split));
    hist[contexts[i] * alphabet + ct.tokens[i]]++;
  }
  std::vector<std::vector<uint32_t>> weights(nctx);
  uint64_t table_bytes = 0;
  for (size_t c = 0; c < nctx; ++c) {
    weights[c] = rans_weights_from_counts(hist.data() + c * alphabet, alphabet);
    table_bytes += rans_table_bytes(weights[c]);
  }
  std::vector<double> bits(kRansMaxScaleBits + 1, 0);
  for (int scale = kRansMinScaleBits; scale <= kRansMaxScaleBits; ++scale)
    for (size_t c = 0; c < nctx; ++c) {
      const std::vector<uint32_t> f = rans_normalize(weights[c], scale);
      for (size_t t = 0; t < alphabet; ++t)
        if (hist[c * alphabet + t]) bits[scale] += static_cast<double>(hist[c * alphabet + t]) * (scale - std::log2(f[t]));
    }
  const double best_bits = *std::min_element(bits.begin() + kRansMinScaleBits, bits.end());
  int scale = kRansMinScaleBits;
  while (bits[scale] > best_bits * 1.002) ++scale;
  const uint64_t lane_bytes = 5 + table_bytes + 4 + lane_rans_stream_bytes(bits[scale]);
  if (lane_bytes > split.plane_bytes + split.plane_bytes / 100 + kLaneRansStateBytes) return false;
  std::vector<std::vector<uint32_t>> freq(nctx);
  for (size_t c = 0; c < nctx; ++c) freq[c] = rans_normalize(weights[c], scale);
  ByteWriter w(out);
  w.u8(static_cast<uint8_t>(DeltaChunkMode::lanes));
  w.u8(static_cast<uint8_t>(split.nctx));
  w.u16(static_cast<uint16_t>(split.lo));
  w.u8(static_cast<uint8_t>(scale));
  for (const std::vector<uint32_t>& wc : weights) rans_write_table(w, wc);
  std::vector<uint8_t> stream;
  lane_rans_encode(ct.tokens.data(), contexts.data(), n, freq, scale, stream);
  NNZ_CHECK(stream.size() <= UINT32_MAX && raw.size() <= UINT32_MAX, internal, "delta: a chunk over 4 GiB");
  w.u32(static_cast<uint32_t>(stream.size()));
  w.bytes(stream);
  w.u32(static_cast<uint32_t>(raw.size()));
  w.bytes(raw);
  return true;
}

template <typename U>
void encode_chunk(const uint8_t* x, const uint8_t* b, size_t n, const DTypeInfo& info, int max_contexts,
                  std::vector<uint8_t>& out) {
  constexpr int w = sizeof(U) * 8;
  if (std::memcmp(x, b, n * sizeof(U)) == 0) {
    out.push_back(static_cast<uint8_t>(DeltaChunkMode::equal));
    return;
  }
  const bool is_float = info.kind == DTypeKind::floating, is_signed = info.kind == DTypeKind::signed_int;
  const int mbits = is_float ? info.mantissa_bits : 0;
  const uint32_t emask = is_float ? (1u << info.exponent_bits) - 1 : 0;
  ChunkTokens ct;
  ct.tokens.resize(n);
  ct.keys.resize(n);
  std::vector<uint8_t> raw;
  BitWriter bits(raw);
  for (size_t i = 0; i < n; ++i) {
    const U bi = load_elem<U>(b, i);
    const U d = static_cast<U>(load_elem<U>(x, i) - bi);
    const U z = static_cast<U>((d << 1) ^ (U{0} - (d >> (w - 1))));
    int len;
    ct.tokens[i] = delta_token(static_cast<uint64_t>(z), len);
    if (len) bits.put_wide(static_cast<uint64_t>(z) & ((uint64_t{1} << len) - 1), len);
    ct.keys[i] = delta_key<U>(bi, is_float, is_signed, mbits, emask);
    ct.key_min = std::min(ct.key_min, ct.keys[i]);
    ct.key_max = std::max(ct.key_max, ct.keys[i]);
  }
  bits.finish();
  const ContextSplit split = choose_split(ct, max_contexts);
  if (n >= kDeltaLanesMinElems && write_lane_chunk(ct, split, delta_token_count(w), raw, out)) return;
  ByteWriter header(out);
  header.u8(static_cast<uint8_t>(DeltaChunkMode::coded));
  header.u8(static_cast<uint8_t>(split.nctx));
  header.u16(static_cast<uint16_t>(split.lo));
  std::vector<std::vector<uint8_t>> planes(static_cast<size_t>(split.nctx));
  for (size_t i = 0; i < n; ++i) planes[split.nctx == 1 ? 0 : context_of(ct.keys[i], split)].push_back(ct.tokens[i]);
  if (split.nctx > 1)
    for (const std::vector<uint8_t>& plane : planes) header.u32(static_cast<uint32_t>(plane.size()));
  for (const std::vector<uint8_t>& plane : planes) encode_plane(plane.data(), plane.size(), 8, out);
  NNZ_CHECK(raw.size() <= UINT32_MAX, internal, "delta: raw bits of a chunk over 4 GiB");
  header.u32(static_cast<uint32_t>(raw.size()));
  header.bytes(raw);
}

void encode_any_chunk(const uint8_t* x, const uint8_t* b, size_t n, const DTypeInfo& info, int max_contexts,
                      std::vector<uint8_t>& out) {
  switch (info.bits) {
    case 8: return encode_chunk<uint8_t>(x, b, n, info, max_contexts, out);
    case 16: return encode_chunk<uint16_t>(x, b, n, info, max_contexts, out);
    case 32: return encode_chunk<uint32_t>(x, b, n, info, max_contexts, out);
    default: return encode_chunk<uint64_t>(x, b, n, info, max_contexts, out);
  }
}

void write_params(const DeltaOptions& options, DeltaTransform transform, uint32_t chunk_elems, std::vector<uint8_t>& out) {
  ByteWriter w(out);
  w.u8(kDeltaParamsVersion);
  w.u8(static_cast<uint8_t>(options.source));
  w.u32(options.index);
  w.u8(static_cast<uint8_t>(transform));
  if (transform == DeltaTransform::sub) w.u32(chunk_elems);
}

void write_residual(double bound, const std::string& codec, ByteSpan params, std::vector<uint8_t>& out) {
  NNZ_CHECK(std::isfinite(bound) && bound > 0, invalid_argument, "delta: the bound must be finite and > 0");
  NNZ_CHECK(!codec.empty() && codec.size() <= 32 && codec != kDeltaCodecId, invalid_argument, "delta: bad residual codec");
  ByteWriter w(out);
  uint64_t bits;
  std::memcpy(&bits, &bound, 8);
  w.u64(bits);
  w.u8(static_cast<uint8_t>(codec.size()));
  w.bytes(codec.data(), codec.size());
  w.u32(static_cast<uint32_t>(params.size));
  w.bytes(params.data, params.size);
}

}  // namespace

EncodedTensor DeltaCodec::encode(const TensorRef& tensor, const DeltaOptions& options) {
  NNZ_CHECK(options.chunk_elems >= 1 && options.chunk_elems <= kDeltaMaxChunkElems, invalid_argument,
            "delta: chunk size must be between 1 and 2^28 elements");
  NNZ_CHECK(options.base != nullptr || tensor.count == 0, invalid_argument, "delta: no base tensor");
  NNZ_CHECK(options.max_contexts >= 1 && options.max_contexts <= kDeltaMaxContexts, invalid_argument,
            "delta: contexts must be between 1 and 16");
  const DTypeInfo& info = dtype_info(tensor.dtype);
  const size_t esize = static_cast<size_t>(info.bits / 8);
  const size_t bytes = to_size(checked_mul(tensor.count, esize, "delta: tensor size"), "delta: tensor size");
  EncodedTensor result;
  result.codec = kDeltaCodecId;
  if (bytes == 0 || std::memcmp(tensor.data, options.base, bytes) == 0) {
    write_params(options, DeltaTransform::copy, 0, result.params);
    return result;
  }
  const uint32_t chunk_elems = options.chunk_elems;
  std::vector<std::vector<uint8_t>> chunks(to_size(ceil_div(tensor.count, chunk_elems), "delta chunk count"));
  parallel_for(chunks.size(), options.threads, [&](size_t c) {
    const uint64_t first = static_cast<uint64_t>(c) * chunk_elems;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk_elems, tensor.count - first));
    const size_t at = static_cast<size_t>(first) * esize;
    std::vector<uint8_t> coded;  // on this thread's stack, as lossless does (no shared cache lines)
    encode_any_chunk(tensor.data + at, options.base + at, n, info, options.max_contexts, coded);
    chunks[c] = std::move(coded);
  });
  write_params(options, DeltaTransform::sub, chunk_elems, result.params);
  write_chunk_table(chunks, result, "delta");
  return result;
}

EncodedTensor delta_with_ref(const EncodedTensor& encoded, DeltaSource source, uint32_t index) {
  NNZ_CHECK(encoded.codec == kDeltaCodecId, invalid_argument, "not a delta tensor");
  const DeltaParams p = read_delta_params(ByteSpan{encoded.params.data(), encoded.params.size()});
  EncodedTensor out{encoded.codec, {}, encoded.payload, encoded.chunks};
  DeltaOptions options;
  options.source = source;
  options.index = index;
  write_params(options, p.transform, p.chunk_elems, out.params);
  if (p.transform == DeltaTransform::residual) write_residual(p.bound, p.inner_codec, p.inner_params, out.params);
  return out;
}

EncodedTensor delta_residual(const EncodedTensor& inner, double bound, DeltaSource source, uint32_t index) {
  EncodedTensor out{kDeltaCodecId, {}, inner.payload, inner.chunks};
  DeltaOptions options;
  options.source = source;
  options.index = index;
  write_params(options, DeltaTransform::residual, 0, out.params);
  write_residual(bound, inner.codec, ByteSpan{inner.params.data(), inner.params.size()}, out.params);
  return out;
}

}  // namespace nnz
