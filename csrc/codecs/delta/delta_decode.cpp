#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "codecs/chunk_table.hpp"
#include "codecs/delta/delta.hpp"
#include "common/bit_io.hpp"
#include "common/checked_math.hpp"
#include "common/error.hpp"
#include "common/parallel.hpp"
#include "entropy/plane_decode.hpp"
#include "codecs/codec_table.hpp"
#include "transform/float_convert.hpp"

namespace nnz {
namespace {

// Per-thread scratch (contexts and tokens of a chunk), reused across chunks; trimmed as lossless
// trims its own so that a file of huge chunks leaves nothing large allocated behind.
thread_local std::vector<uint8_t> t_scratch;

uint8_t* scratch_bytes(size_t n) {
  if (t_scratch.size() < n) t_scratch.resize(n);
  return t_scratch.data();
}

struct TrimScratch {
  ~TrimScratch() {
    constexpr size_t kKept = size_t{1} << 23;
    if (t_scratch.capacity() > kKept) std::vector<uint8_t>().swap(t_scratch);
  }
};

struct KeyRule {
  bool is_float, is_signed;
  int mantissa_bits;
  uint32_t exponent_mask;
};

KeyRule key_rule(const DTypeInfo& info) {
  const bool is_float = info.kind == DTypeKind::floating;
  return KeyRule{is_float, info.kind == DTypeKind::signed_int, is_float ? info.mantissa_bits : 0,
                 is_float ? (1u << info.exponent_bits) - 1 : 0};
}

// The raw bits of a token (up to 61 for 64-bit elements; BitReader reads at most 56 at once).
template <typename U>
inline uint64_t read_raw(BitReader& raw, int len) {
  if constexpr (sizeof(U) == 8) {
    if (len > 32) {
      const uint64_t low = raw.read(32);
      return low | (raw.read(len - 32) << 32);
    }
  }
  return raw.read(len);
}

template <typename U>
inline U element_from(U base, uint32_t t, uint64_t raw_bits, int len) {
  const uint64_t v = len ? (delta_token_high(t) << len) | raw_bits : t;
  const U z = static_cast<U>(v);
  return static_cast<U>(base + static_cast<U>((z >> 1) ^ (U{0} - (z & 1))));
}

// x = b + unzigzag(value of the token and its raw bits), for every element in order. While 8
// bytes of raw bits remain, elements of up to 32 bits (at most 30 raw bits each) read them from an
// unchecked window refilled once per element; the rest goes through the checked reader.
template <typename U>
void rebuild(const uint8_t* base, const uint8_t* tokens, size_t n, uint32_t token_limit, BitReader& raw, uint8_t* out) {
  uint32_t bad = 0;
  size_t i = 0;
  if constexpr (sizeof(U) <= 4) {
    BitCursor cur = raw.detach();
    const uint8_t* safe_end = cur.ptr + (raw.bytes_ahead() >= 8 ? raw.bytes_ahead() - 8 : 0);
    for (; i < n && cur.ptr < safe_end; ++i) {
      cur.refill();
      const U b = load_elem<U>(base, i);
      const uint32_t t = tokens[i];
      bad |= t >= token_limit ? 1u : 0u;
      const int len = t >= token_limit ? 0 : delta_raw_len(t);  // within the window even for bad tokens
      const uint64_t bits = cur.peek(len);
      cur.consume(len);
      const U x = element_from<U>(b, t, bits, len);
      std::memcpy(out + i * sizeof(U), &x, sizeof(U));
    }
    raw.attach(cur);
  }
  for (; i < n; ++i) {
    const U b = load_elem<U>(base, i);
    const uint32_t t = tokens[i];
    bad |= t >= token_limit ? 1u : 0u;
    const int len = t >= token_limit ? 0 : delta_raw_len(t);
    const U x = element_from<U>(b, t, len ? read_raw<U>(raw, len) : 0, len);
    std::memcpy(out + i * sizeof(U), &x, sizeof(U));
  }
  NNZ_CHECK(!bad, corrupt, "delta: a token too large for the dtype");
}

// The tokens in element order, each from the plane of its base element's context (planes[c]: the
// next unread token of context c). Returns false if a context's plane is read past its end.
template <typename U>
bool gather_tokens(const uint8_t* base, size_t n, const KeyRule& rule, uint32_t lo, uint32_t top,
                   const uint8_t** planes, const uint8_t* const* ends, uint8_t* tokens) {
  for (size_t i = 0; i < n; ++i) {
    const uint32_t key = delta_key<U>(load_elem<U>(base, i), rule.is_float, rule.is_signed, rule.mantissa_bits,
                                      rule.exponent_mask);
    const uint32_t c = std::min(std::max(key, lo) - lo, top);  // branch-free: contexts alternate at random
    tokens[i] = *planes[c]++;
  }
  for (uint32_t c = 0; c <= top; ++c)
    if (planes[c] != ends[c]) return false;
  return true;
}

// Planes of context c hold the tokens of the elements whose base element is in context c; their
// lengths are stored (u32 each). Gathering reads within the planes plus n zero bytes of slack, so
// contexts that disagree with the stored lengths stay in bounds and are caught after it.
template <typename U>
void read_context_planes(ByteReader& in, const uint8_t* base, size_t n, const KeyRule& rule, int nctx, uint32_t lo,
                         uint8_t* tokens) {
  uint8_t* planes = scratch_bytes(3 * n) + n;
  const uint8_t* next[kDeltaMaxContexts];
  const uint8_t* ends[kDeltaMaxContexts];
  size_t counts[kDeltaMaxContexts], at = 0;
  for (int c = 0; c < nctx; ++c) {
    counts[c] = in.u32();
    NNZ_CHECK(counts[c] <= n - at, corrupt, "delta: plane lengths exceed the chunk");
    next[c] = planes + at;
    at += counts[c];
    ends[c] = planes + at;
  }
  NNZ_CHECK(at == n, corrupt, "delta: plane lengths do not add up to the chunk");
  for (int c = 0; c < nctx; ++c) decode_plane(in, counts[c], 8, planes + (next[c] - planes));
  std::memset(planes + n, 0, n);
  NNZ_CHECK(gather_tokens<U>(base, n, rule, lo, static_cast<uint32_t>(nctx - 1), next, ends, tokens), corrupt,
            "delta: plane lengths disagree with the contexts of the base");
}

template <typename U>
void decode_coded_chunk(ByteReader& in, const uint8_t* base, size_t n, const KeyRule& rule, uint8_t* out) {
  const int nctx = in.u8();
  const uint32_t lo = in.u16();
  NNZ_CHECK(nctx >= 1 && nctx <= kDeltaMaxContexts, corrupt, "delta: bad context count");
  uint8_t* tokens = scratch_bytes(nctx > 1 ? 3 * n : n);
  if (nctx > 1) {
    read_context_planes<U>(in, base, n, rule, nctx, lo, tokens);
  } else {
    decode_plane(in, n, 8, tokens);
  }
  const ByteSpan raw_bytes = in.bytes(in.u32());
  in.expect_end();
  BitReader raw(raw_bytes.data, raw_bytes.size);
  rebuild<U>(base, tokens, n, delta_token_count(static_cast<int>(sizeof(U)) * 8), raw, out);
  NNZ_CHECK(raw.finished_exactly(), corrupt, "delta: raw bits do not end where the elements do");
}

template <typename U>
void decode_chunk(ByteSpan chunk, const uint8_t* base, size_t n, const KeyRule& rule, uint8_t* out) {
  ByteReader in(chunk, "delta chunk");
  const uint8_t mode = in.u8();
  if (mode == static_cast<uint8_t>(DeltaChunkMode::equal)) {
    in.expect_end();
    if (n) std::memcpy(out, base, n * sizeof(U));
    return;
  }
  NNZ_CHECK(mode == static_cast<uint8_t>(DeltaChunkMode::coded), corrupt, "delta: bad chunk mode");
  decode_coded_chunk<U>(in, base, n, rule, out);
}

void decode_sub(const DecodeRequest& req, const DeltaParams& p, const uint8_t* base, uint8_t* out, int threads) {
  const std::vector<ByteSpan> chunks = read_chunk_table(req.payload, ceil_div(req.count, p.chunk_elems), "delta payload");
  const DTypeInfo& info = dtype_info(req.dtype);
  const KeyRule rule = key_rule(info);
  const size_t esize = static_cast<size_t>(info.bits / 8);
  parallel_for(chunks.size(), threads, [&](size_t c) {
    const TrimScratch trim;
    const uint64_t first = static_cast<uint64_t>(c) * p.chunk_elems;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(p.chunk_elems, req.count - first));
    const size_t at = static_cast<size_t>(first) * esize;
    switch (esize) {
      case 1: return decode_chunk<uint8_t>(chunks[c], base + at, n, rule, out + at);
      case 2: return decode_chunk<uint16_t>(chunks[c], base + at, n, rule, out + at);
      case 4: return decode_chunk<uint32_t>(chunks[c], base + at, n, rule, out + at);
      default: return decode_chunk<uint64_t>(chunks[c], base + at, n, rule, out + at);
    }
  });
}

// x = dtype(b + r) with r the residual decoded by its codec as float64 (the sum in binary64,
// rounded once into the dtype); a non-finite sum is corrupt (the encoder never makes one).
void decode_residual(const DecodeRequest& req, const DeltaParams& p, const uint8_t* base, uint8_t* out, int threads) {
  const DTypeInfo& info = dtype_info(req.dtype);
  NNZ_CHECK(info.kind == DTypeKind::floating, corrupt, "delta: a residual of a non-float tensor");
  NNZ_CHECK(p.inner_codec != kDeltaCodecId, corrupt, "delta: a residual coded as delta");
  std::vector<uint8_t> residual(to_size(checked_mul(req.count, 8, "delta: residual size"), "delta: residual size"));
  decode_tensor(DecodeRequest{p.inner_codec, DType::float64, req.count, p.inner_params, req.payload}, residual.data(),
                threads);
  const size_t esize = static_cast<size_t>(info.bits / 8);
  for (size_t i = 0; i < static_cast<size_t>(req.count); ++i) {
    double r;
    std::memcpy(&r, residual.data() + 8 * i, 8);
    const double v = load_float(req.dtype, base + i * esize) + r;
    NNZ_CHECK(std::isfinite(v), corrupt, "delta: a residual gives a non-finite weight");
    store_float(req.dtype, v, out + i * esize);
  }
}

}  // namespace

DeltaParams read_delta_params(ByteSpan params) {
  ByteReader r(params, "delta parameters");
  const uint8_t version = r.u8();
  NNZ_CHECK(version == kDeltaParamsVersion, unsupported,
            "delta: parameter version " + std::to_string(version) + " (written by a newer nncodec?)");
  DeltaParams p;
  const uint8_t source = r.u8();
  NNZ_CHECK(source <= static_cast<uint8_t>(DeltaSource::container), corrupt, "delta: bad base source");
  p.source = static_cast<DeltaSource>(source);
  p.index = r.u32();
  const uint8_t transform = r.u8();
  NNZ_CHECK(transform <= static_cast<uint8_t>(DeltaTransform::residual), corrupt, "delta: bad transform");
  p.transform = static_cast<DeltaTransform>(transform);
  if (p.transform == DeltaTransform::sub) {
    p.chunk_elems = r.u32();
    NNZ_CHECK(p.chunk_elems >= 1 && p.chunk_elems <= kDeltaMaxChunkElems, corrupt, "delta: bad chunk size");
  } else if (p.transform == DeltaTransform::residual) {
    const uint64_t bits = r.u64();
    std::memcpy(&p.bound, &bits, 8);
    NNZ_CHECK(std::isfinite(p.bound) && p.bound > 0, corrupt, "delta: bad error bound");
    p.inner_codec = r.str(r.u8());
    p.inner_params = r.bytes(r.u32());
  }
  r.expect_end();
  return p;
}

void DeltaCodec::decode(const DecodeRequest& req, uint8_t* out, int threads) {
  const DeltaParams p = read_delta_params(req.params);
  NNZ_CHECK(req.base != nullptr, base,
            "coded against a base model that was not given (decode it with its base: --base, base=)");
  std::vector<uint8_t> scratch;
  const ByteSpan base = req.base->resolve(static_cast<uint8_t>(p.source), p.index, req.dtype, req.count, scratch);
  const uint64_t bytes = checked_mul(req.count, static_cast<uint64_t>(dtype_bytes(req.dtype)), "delta: tensor size");
  NNZ_CHECK(base.size == bytes, internal, "delta: the base resolver gave the wrong size");
  if (p.transform == DeltaTransform::copy) {
    NNZ_CHECK(req.payload.size == 0, corrupt, "delta: a copy has no payload");
    if (bytes) std::memcpy(out, base.data, static_cast<size_t>(bytes));
    return;
  }
  if (p.transform == DeltaTransform::residual) return decode_residual(req, p, base.data, out, threads);
  decode_sub(req, p, base.data, out, threads);
}

CodecDescription DeltaCodec::describe(ByteSpan params) {
  const DeltaParams p = read_delta_params(params);
  if (p.transform != DeltaTransform::residual) return kExactCodec;
  const Codec* inner = find_codec(p.inner_codec);
  NNZ_CHECK(inner != nullptr && p.inner_codec != kDeltaCodecId, unsupported, "delta: unknown residual codec");
  inner->describe(p.inner_params);
  return CodecDescription{p.bound, p.bound};
}

}  // namespace nnz
