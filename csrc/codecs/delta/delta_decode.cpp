#include <algorithm>
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

template <typename U>
inline U load_elem(const uint8_t* p, size_t i) {
  U v;
  std::memcpy(&v, p + i * sizeof(U), sizeof(U));
  return v;
}

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

// x = b + unzigzag(value of token t and its raw bits), for every element in order; tokens come
// from the plane of each element's context (ctx == nullptr: one plane).
template <typename U>
void rebuild(const uint8_t* base, const uint8_t* tokens, const uint8_t* ctx, const size_t* plane_start, size_t n,
             uint32_t token_limit, BitReader& raw, uint8_t* out) {
  size_t pos[kDeltaMaxContexts];
  for (int c = 0; c < kDeltaMaxContexts; ++c) pos[c] = plane_start[c];
  uint32_t bad = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t t = ctx ? tokens[pos[ctx[i]]++] : tokens[i];
    bad |= t >= token_limit ? 1u : 0u;
    const int len = delta_raw_len(t);
    uint64_t v = delta_token_high(t);
    if (len) v = (v << len) | read_raw<U>(raw, len);
    const U z = static_cast<U>(v);
    const U d = static_cast<U>((z >> 1) ^ (U{0} - (z & 1)));
    const U x = static_cast<U>(load_elem<U>(base, i) + d);
    std::memcpy(out + i * sizeof(U), &x, sizeof(U));
  }
  NNZ_CHECK(!bad, corrupt, "delta: a token too large for the dtype");
}

template <typename U>
void decode_coded_chunk(ByteReader& in, const uint8_t* base, size_t n, const KeyRule& rule, uint8_t* out) {
  const int nctx = in.u8();
  const uint32_t lo = in.u16();
  NNZ_CHECK(nctx >= 1 && nctx <= kDeltaMaxContexts, corrupt, "delta: bad context count");
  uint8_t* scratch = scratch_bytes(2 * n);
  uint8_t* tokens = scratch;
  uint8_t* ctx = nctx > 1 ? scratch + n : nullptr;
  size_t counts[kDeltaMaxContexts] = {};
  if (ctx) {
    const uint32_t top = static_cast<uint32_t>(nctx - 1);
    for (size_t i = 0; i < n; ++i) {
      const uint32_t key = delta_key<U>(load_elem<U>(base, i), rule.is_float, rule.is_signed, rule.mantissa_bits,
                                        rule.exponent_mask);
      const uint32_t c = key <= lo ? 0 : std::min(key - lo, top);
      ctx[i] = static_cast<uint8_t>(c);
      counts[c]++;
    }
  } else {
    counts[0] = n;
  }
  size_t start[kDeltaMaxContexts] = {};
  size_t at = 0;
  for (int c = 0; c < nctx; ++c) {
    start[c] = at;
    decode_plane(in, counts[c], 8, tokens + at);
    at += counts[c];
  }
  const ByteSpan raw_bytes = in.bytes(in.u32());
  in.expect_end();
  BitReader raw(raw_bytes.data, raw_bytes.size);
  rebuild<U>(base, tokens, ctx, start, n, delta_token_count(static_cast<int>(sizeof(U)) * 8), raw, out);
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
  NNZ_CHECK(transform <= static_cast<uint8_t>(DeltaTransform::sub), corrupt, "delta: bad transform");
  p.transform = static_cast<DeltaTransform>(transform);
  if (p.transform == DeltaTransform::sub) {
    p.chunk_elems = r.u32();
    NNZ_CHECK(p.chunk_elems >= 1 && p.chunk_elems <= kDeltaMaxChunkElems, corrupt, "delta: bad chunk size");
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
  decode_sub(req, p, base.data, out, threads);
}

CodecDescription DeltaCodec::describe(ByteSpan params) {
  read_delta_params(params);
  return kExactCodec;
}

}  // namespace nnz
