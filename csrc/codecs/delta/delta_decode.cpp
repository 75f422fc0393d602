#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "codecs/chunk_table.hpp"
#include "codecs/delta/delta.hpp"
#include "codecs/delta/delta_rebuild.hpp"
#include "common/bit_io.hpp"
#include "common/checked_math.hpp"
#include "common/error.hpp"
#include "common/parallel.hpp"
#include "entropy/lane_rans_decode.hpp"
#include "entropy/plane_decode.hpp"
#include "entropy/rans_decode.hpp"
#include "codecs/codec_table.hpp"
#include "transform/float_convert.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#endif

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

// The raw bits of a token (up to 61 for 64-bit elements, which BitReader reads in two).
template <typename U>
inline uint64_t read_raw(BitReader& raw, int len) {
  if constexpr (sizeof(U) == 8) return raw.read_wide(len);
  return raw.read(len);
}

// Tokens a U element can have (4 x its width: a power of two).
template <typename U>
inline uint32_t token_limit() {
  return delta_token_count(static_cast<int>(sizeof(U)) * 8);
}

// What a token of an element of up to 32 bits stands for: its value is `high[t] | raw bits`, with
// `len[t]` raw bits (at most 29: high fits 32 bits). Looked up, not computed, in the hot loop, in
// two flat tables (indexed without the address arithmetic a table of structs takes).
struct TokenMeanings {
  uint32_t high[256];
  uint8_t len[256];
  explicit TokenMeanings(uint32_t token_limit) {
    for (uint32_t t = 0; t < 256; ++t) {
      const int n = t < token_limit ? delta_raw_len(t) : 0;  // never used: tokens are checked first
      high[t] = static_cast<uint32_t>(n ? delta_token_high(t) << n : t);
      len[t] = static_cast<uint8_t>(n);
    }
  }
};

template <typename U>
inline U add_unzigzag(U base, uint64_t v) {
  const U z = static_cast<U>(v);
  return static_cast<U>(base + static_cast<U>((z >> 1) ^ (U{0} - (z & 1))));
}

// out[k] = base[k] + unzigzag(out[k]) for k < n: a pass of its own, which vectorizes (inside the
// token loop it did not). `out` is the tensor's own buffer, never the base's.
template <typename U>
__attribute__((always_inline)) inline void add_values(const uint8_t* __restrict base, size_t n, uint8_t* __restrict out) {
  for (size_t k = 0; k < n; ++k) {
    const U x = add_unzigzag<U>(load_elem<U>(base, k), load_elem<U>(out, k));
    std::memcpy(out + k * sizeof(U), &x, sizeof(U));
  }
}

// Keys of base elements, as delta_key: a float's exponent field, an integer's bit length (of its
// zigzagged value if signed); one type per kind so that the merge loop has no test of the kind.
struct FloatKey {
  int mantissa_bits;
  uint32_t exponent_mask;
  template <typename U>
  inline uint32_t operator()(U b) const { return static_cast<uint32_t>(b >> mantissa_bits) & exponent_mask; }
};

template <bool kSigned>
struct IntKey {
  template <typename U>
  inline uint32_t operator()(U b) const { return delta_key<U>(b, false, kSigned, 0, 0); }
};

// The tokens in element order, from the plane of each base element's context (planes[c]: the
// next unread token of context c; context_of maps a key to its context, clamped to the stored
// range). A pass of its own: the tokens of most elements of a fine-tune stand for their value
// without raw bits (89-98% in bfloat16), which the next pass then handles 16 at a time.
template <typename U, typename Key>
void merge_contexts(const uint8_t* base, size_t n, const Key key, const uint8_t* context_of, const uint8_t** planes,
                    uint8_t* tokens) {
  for (size_t i = 0; i < n; ++i) tokens[i] = *planes[context_of[key(load_elem<U>(base, i))]]++;
}

constexpr size_t kTokenBlock = 16;

// Bit j set: token j of the block has raw bits (token >= 16).
__attribute__((always_inline)) inline uint32_t raw_token_mask(const uint8_t* tokens) {
#if defined(__SSE2__)
  const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(tokens));
  return static_cast<uint32_t>(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(t, _mm_set1_epi8(16)), t)));
#else
  uint32_t mask = 0;
  for (size_t j = 0; j < kTokenBlock; ++j) mask |= static_cast<uint32_t>(tokens[j] >= kDeltaLiteralTokens) << j;
  return mask;
#endif
}

// The 16 tokens at t as U values at o (zero-extended: compilers do not vectorize the plain loop).
template <typename U>
__attribute__((always_inline)) inline void store_widened(const uint8_t* t, uint8_t* o) {
#if defined(__SSE2__)
  if constexpr (sizeof(U) == 2 || sizeof(U) == 4) {
    const __m128i zero = _mm_setzero_si128();
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(t));
    const __m128i lo = _mm_unpacklo_epi8(v, zero), hi = _mm_unpackhi_epi8(v, zero);
    __m128i* dst = reinterpret_cast<__m128i*>(o);
    if constexpr (sizeof(U) == 2) {
      _mm_storeu_si128(dst, lo);
      _mm_storeu_si128(dst + 1, hi);
    } else {
      _mm_storeu_si128(dst, _mm_unpacklo_epi16(lo, zero));
      _mm_storeu_si128(dst + 1, _mm_unpackhi_epi16(lo, zero));
      _mm_storeu_si128(dst + 2, _mm_unpacklo_epi16(hi, zero));
      _mm_storeu_si128(dst + 3, _mm_unpackhi_epi16(hi, zero));
    }
    return;
  }
#endif
  for (size_t j = 0; j < kTokenBlock; ++j) {
    const U v = t[j];
    std::memcpy(o + j * sizeof(U), &v, sizeof(U));
  }
}

// value = high[t] | raw bits, with len[t] raw bits (at most 29: high fits 32 bits) at bit `at`
// of the raw stream, where 8 bytes lie; `at` advances past them.
struct RawReader {
  const uint32_t* high;
  const uint8_t* len;
  const uint8_t* raw;
  template <typename U>
  inline U value(uint32_t t, uint64_t& at) const {
    const uint32_t n_bits = len[t];
    const uint64_t bits = (load64_le(raw + (at >> 3)) >> (at & 7)) & ((uint64_t{1} << n_bits) - 1);
    at += n_bits;
    return static_cast<U>(high[t] | bits);
  }
};

// x = b + unzigzag(value of the token and its raw bits) for elements of up to 32 bits, in blocks
// of 16: each block stores its tokens as values, then overwrites those with raw bits where 8
// bytes of the stream lie at the element's bit offset: one by one where few have any (each read
// checked, as the streams of small changes are short), all in a row where most do (the loop over
// set bits would mispredict its exit each time; the block is checked once). The offsets are a
// running sum of lengths, so elements do not wait for each other's reads. Everything the loop
// reads is in locals: the byte stores to `out` could otherwise alias them.
template <typename U>
__attribute__((always_inline)) inline DeltaProgress fast_elements(const uint8_t* base, size_t n, ByteSpan raw, const uint8_t* tokens, uint8_t* out) {
  static const TokenMeanings meanings(token_limit<U>());
  const RawReader reader{meanings.high, meanings.len, raw.data};
  constexpr uint64_t kBlockBits = kTokenBlock * (8 * sizeof(U) - 2);  // raw bits of a token: at most W - 2
  // Bit offsets below this have 8 bytes at them.
  const uint64_t window_end = raw.size >= 8 ? (static_cast<uint64_t>(raw.size) - 8) * 8 + 1 : 0;
  uint64_t at = 0;
  size_t i = 0;
  for (; i + kTokenBlock <= n; i += kTokenBlock) {
    const uint8_t* t = tokens + i;
    uint8_t* o = out + i * sizeof(U);
    store_widened<U>(t, o);
    uint32_t mask = raw_token_mask(t);
    if (mask == 0) continue;
    if (__builtin_popcount(mask) > static_cast<int>(kTokenBlock / 2) && at + kBlockBits < window_end) {
      for (size_t j = 0; j < kTokenBlock; ++j) {
        const U v = reader.value<U>(t[j], at);
        std::memcpy(o + j * sizeof(U), &v, sizeof(U));
      }
      continue;
    }
    for (; mask; mask &= mask - 1) {
      const size_t j = static_cast<size_t>(__builtin_ctz(mask));
      if (at >= window_end) {  // the checked reader takes over from this element
        add_values<U>(base, i + j, out);
        return DeltaProgress{i + j, at};
      }
      const U v = reader.value<U>(t[j], at);
      std::memcpy(o + j * sizeof(U), &v, sizeof(U));
    }
  }
  add_values<U>(base, i, out);
  return DeltaProgress{i, at};
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// With BMI2 the variable shifts need no count register, and AVX2 doubles the width of the add
// pass (chosen at run time, as huffman_decode's).
template <typename U>
__attribute__((target("avx2,bmi2,popcnt"))) DeltaProgress fast_elements_avx2(const uint8_t* base, size_t n, ByteSpan raw,
                                                                    const uint8_t* tokens, uint8_t* out) {
  return fast_elements<U>(base, n, raw, tokens, out);
}
template <typename U>
DeltaProgress fast_elements_for_this_cpu(const uint8_t* base, size_t n, ByteSpan raw, const uint8_t* tokens, uint8_t* out) {
  static const bool avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi2");
  return avx2 ? fast_elements_avx2<U>(base, n, raw, tokens, out) : fast_elements<U>(base, n, raw, tokens, out);
}
#else
template <typename U>
DeltaProgress fast_elements_for_this_cpu(const uint8_t* base, size_t n, ByteSpan raw, const uint8_t* tokens, uint8_t* out) {
  return fast_elements<U>(base, n, raw, tokens, out);
}
#endif

// Every element of the chunk from its token (in element order): a fast path (the vector kernel of
// 16-bit elements, else fast_elements), then the checked bit reader for the last ones (and for 64-bit elements, whose raw bits may not fit one load).
// The raw bits must end exactly.
template <typename U>
void rebuild(const uint8_t* base, size_t n, ByteSpan raw_bytes, const uint8_t* tokens, uint8_t* out) {
  DeltaProgress done{0, 0};
  if constexpr (sizeof(U) == 2) done = delta_rebuild16_avx2(base, n, raw_bytes, tokens, out);
  if constexpr (sizeof(U) <= 4) {
    if (done.element == 0) done = fast_elements_for_this_cpu<U>(base, n, raw_bytes, tokens, out);
  }
  NNZ_CHECK(done.bit <= static_cast<uint64_t>(raw_bytes.size) * 8, corrupt, "delta: raw bits end before the elements do");
  BitReader raw(raw_bytes.data, raw_bytes.size);
  raw.seek(done.bit);
  for (size_t i = done.element; i < n; ++i) {
    const uint32_t t = tokens[i];
    const int len = delta_raw_len(t);
    const uint64_t v = len ? (delta_token_high(t) << len) | read_raw<U>(raw, len) : t;
    const U x = add_unzigzag<U>(load_elem<U>(base, i), v);
    std::memcpy(out + i * sizeof(U), &x, sizeof(U));
  }
  NNZ_CHECK(raw.finished_exactly(), corrupt, "delta: raw bits do not end where the elements do");
}

// Token limits are powers of two, so one OR over the tokens (which vectorizes) checks them all
// before any is used.
template <typename U>
void check_tokens(const uint8_t* tokens, size_t n) {
  uint8_t bits_used = 0;
  for (size_t i = 0; i < n; ++i) bits_used |= tokens[i];
  NNZ_CHECK(bits_used < token_limit<U>(), corrupt, "delta: a token too large for the dtype");
}

// Planes of context c hold the tokens of the elements whose base element is in context c; their
// lengths are stored (u32 each). Elements read their planes within the planes plus n zero bytes
// of slack, so contexts that disagree with the stored lengths stay in bounds and are caught after.
template <typename U>
void decode_context_chunk(ByteReader& in, const uint8_t* base, size_t n, const KeyRule& rule, int nctx, uint32_t lo,
                          uint8_t* out) {
  uint8_t* planes = scratch_bytes(3 * n);  // the planes, n zero bytes of slack, the merged tokens
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
  check_tokens<U>(planes, n);
  // Keys: a float's exponent field (up to 11 bits), an integer's bit length (up to 64).
  uint8_t context_of[2048];
  const uint32_t keys = rule.is_float ? rule.exponent_mask + 1 : 65;
  for (uint32_t key = 0; key < keys; ++key)
    context_of[key] = static_cast<uint8_t>(std::min(std::max(key, lo) - lo, static_cast<uint32_t>(nctx - 1)));
  const ByteSpan raw_bytes = in.bytes(in.u32());
  in.expect_end();
  uint8_t* tokens = planes + 2 * n;
  if (rule.is_float) {
    merge_contexts<U>(base, n, FloatKey{rule.mantissa_bits, rule.exponent_mask}, context_of, next, tokens);
  } else if (rule.is_signed) {
    merge_contexts<U>(base, n, IntKey<true>{}, context_of, next, tokens);
  } else {
    merge_contexts<U>(base, n, IntKey<false>{}, context_of, next, tokens);
  }
  for (int c = 0; c < nctx; ++c)
    NNZ_CHECK(next[c] == ends[c], corrupt, "delta: plane lengths disagree with the contexts of the base");
  rebuild<U>(base, n, raw_bytes, tokens, out);
}

// contexts[i] = min(max(key, lo) - lo, nctx - 1) of base element i: arithmetic, not a lookup, so
// that the pass vectorizes, in 16 bits: keys are below 2^11 (floats) or 65 (integers), so a lo
// beyond 2^11 gives what 2^11 gives. Inlined always, so that the AVX2 copy below is AVX2 code.
template <typename U, typename Key>
__attribute__((always_inline)) inline void base_contexts(const uint8_t* __restrict base, size_t n, const Key key, uint32_t lo, uint32_t nctx,
                          uint8_t* __restrict contexts) {
  const int16_t low = static_cast<int16_t>(std::min<uint32_t>(lo, 2048));
  const int16_t high = static_cast<int16_t>(low + static_cast<int16_t>(nctx - 1));
  for (size_t i = 0; i < n; ++i) {
    const int16_t k = static_cast<int16_t>(key(load_elem<U>(base, i)));
    contexts[i] = static_cast<uint8_t>(std::min(std::max(k, low), high) - low);
  }
}

template <typename U>
__attribute__((always_inline)) inline void compute_contexts(const uint8_t* base, size_t n, const KeyRule& rule, uint32_t lo, uint32_t nctx, uint8_t* contexts) {
  if (rule.is_float) {
    base_contexts<U>(base, n, FloatKey{rule.mantissa_bits, rule.exponent_mask}, lo, nctx, contexts);
  } else if (rule.is_signed) {
    base_contexts<U>(base, n, IntKey<true>{}, lo, nctx, contexts);
  } else {
    base_contexts<U>(base, n, IntKey<false>{}, lo, nctx, contexts);
  }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
// Contexts of float base elements in AVX2, 32 elements a step: exponent fields clamped to
// [low, high] in 16-bit (16-bit elements) or 32-bit lanes, packed to bytes. The compiler leaves
// base_contexts scalar.
struct FloatContextRule {
  int mantissa_bits;
  uint32_t exponent_mask;
  int16_t low, high;
};

__attribute__((target("avx2"))) inline __m256i clamped_keys16(const uint8_t* p, const FloatContextRule& r) {
  const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  const __m256i key = _mm256_and_si256(_mm256_srl_epi16(x, _mm_cvtsi32_si128(r.mantissa_bits)),
                                       _mm256_set1_epi16(static_cast<int16_t>(r.exponent_mask)));
  const __m256i low = _mm256_set1_epi16(r.low);
  return _mm256_sub_epi16(_mm256_min_epi16(_mm256_max_epi16(key, low), _mm256_set1_epi16(r.high)), low);
}

__attribute__((target("avx2"))) inline __m256i clamped_keys32(const uint8_t* p, const FloatContextRule& r) {
  const __m256i x = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
  const __m256i key = _mm256_and_si256(_mm256_srl_epi32(x, _mm_cvtsi32_si128(r.mantissa_bits)),
                                       _mm256_set1_epi32(static_cast<int32_t>(r.exponent_mask)));
  const __m256i low = _mm256_set1_epi32(r.low);
  return _mm256_sub_epi32(_mm256_min_epi32(_mm256_max_epi32(key, low), _mm256_set1_epi32(r.high)), low);
}

// Elements [0, n - n % 32) of a 16- or 32-bit float tensor; returns how many were done.
template <typename U>
__attribute__((target("avx2"))) size_t float_contexts_avx2(const uint8_t* base, size_t n, const FloatContextRule& r,
                                                             uint8_t* contexts) {
  size_t i = 0;
  for (; i + 32 <= n; i += 32) {
    const uint8_t* p = base + i * sizeof(U);
    __m256i bytes;
    if (sizeof(U) == 2) {  // packus interleaves the 128-bit halves: a0-7 b0-7 a8-15 b8-15
      bytes = _mm256_permute4x64_epi64(_mm256_packus_epi16(clamped_keys16(p, r), clamped_keys16(p + 32, r)), 0xD8);
    } else {
      const __m256i ab = _mm256_packus_epi32(clamped_keys32(p, r), clamped_keys32(p + 32, r));
      const __m256i cd = _mm256_packus_epi32(clamped_keys32(p + 64, r), clamped_keys32(p + 96, r));
      bytes = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(ab, cd), _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
    }
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(contexts + i), bytes);
  }
  return i;
}

template <typename U>
void compute_contexts_for_this_cpu(const uint8_t* base, size_t n, const KeyRule& rule, uint32_t lo, uint32_t nctx,
                                   uint8_t* contexts) {
  static const bool avx2 = __builtin_cpu_supports("avx2");
  size_t done = 0;
  if ((sizeof(U) == 2 || sizeof(U) == 4) && rule.is_float && avx2) {
    const int16_t low = static_cast<int16_t>(std::min<uint32_t>(lo, 2048));
    done = float_contexts_avx2<U>(base, n, {rule.mantissa_bits, rule.exponent_mask, low,
                                            static_cast<int16_t>(low + static_cast<int16_t>(nctx - 1))}, contexts);
  }
  compute_contexts<U>(base + done * sizeof(U), n - done, rule, lo, nctx, contexts + done);
}
#else
template <typename U>
void compute_contexts_for_this_cpu(const uint8_t* base, size_t n, const KeyRule& rule, uint32_t lo, uint32_t nctx,
                                   uint8_t* contexts) {
  compute_contexts<U>(base, n, rule, lo, nctx, contexts);
}
#endif

// Mode lanes: u8 scale_bits, a rANS table per context over the dtype's tokens, u32 + the lane
// rANS stream of the tokens in element order, u32 + raw bits. Tokens come from the tables, so
// they are within the dtype's limit without a check.
template <typename U>
void decode_lane_chunk(ByteReader& in, const uint8_t* base, size_t n, const KeyRule& rule, uint8_t* out) {
  const int nctx = in.u8();
  const uint32_t lo = in.u16();
  const int scale_bits = in.u8();
  NNZ_CHECK(nctx >= 1 && nctx <= kDeltaMaxContexts, corrupt, "delta: bad context count");
  NNZ_CHECK(scale_bits >= kRansMinScaleBits && scale_bits <= kRansMaxScaleBits, corrupt, "delta: bad rANS precision");
  thread_local std::vector<uint32_t> tables;
  tables.resize(static_cast<size_t>(nctx) << scale_bits);
  for (int c = 0; c < nctx; ++c)
    rans_fill_dec_table(rans_normalize(rans_read_table(in, token_limit<U>()), scale_bits), scale_bits,
                        tables.data() + (static_cast<size_t>(c) << scale_bits));
  const ByteSpan stream = in.bytes(in.u32());
  const ByteSpan raw_bytes = in.bytes(in.u32());
  in.expect_end();
  uint8_t* contexts = scratch_bytes(2 * n);
  uint8_t* tokens = contexts + n;
  compute_contexts_for_this_cpu<U>(base, n, rule, lo, static_cast<uint32_t>(nctx), contexts);
  lane_rans_decode(stream, tables.data(), scale_bits, contexts, n, tokens);
  rebuild<U>(base, n, raw_bytes, tokens, out);
}

template <typename U>
void decode_coded_chunk(ByteReader& in, const uint8_t* base, size_t n, const KeyRule& rule, uint8_t* out) {
  const int nctx = in.u8();
  const uint32_t lo = in.u16();
  NNZ_CHECK(nctx >= 1 && nctx <= kDeltaMaxContexts, corrupt, "delta: bad context count");
  if (nctx > 1) return decode_context_chunk<U>(in, base, n, rule, nctx, lo, out);
  uint8_t* tokens = scratch_bytes(n);
  decode_plane(in, n, 8, tokens);
  check_tokens<U>(tokens, n);
  const ByteSpan raw_bytes = in.bytes(in.u32());
  in.expect_end();
  rebuild<U>(base, n, raw_bytes, tokens, out);
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
  if (mode == static_cast<uint8_t>(DeltaChunkMode::lanes)) return decode_lane_chunk<U>(in, base, n, rule, out);
  NNZ_CHECK(mode == static_cast<uint8_t>(DeltaChunkMode::coded), corrupt, "delta: bad chunk mode");
  decode_coded_chunk<U>(in, base, n, rule, out);
}

void decode_sub(const DecodeRequest& req, const DeltaParams& p, const uint8_t* base, uint8_t* out, int threads) {
  const DTypeInfo& info = dtype_info(req.dtype);
  const KeyRule rule = key_rule(info);
  const size_t esize = static_cast<size_t>(info.bits / 8);
  decode_chunks(req.payload, req.count, p.chunk_elems, threads, "delta payload", [&](ByteSpan chunk, uint64_t first,
                                                                                   size_t n) {
    const TrimScratch trim;
    const size_t at = static_cast<size_t>(first) * esize;
    switch (esize) {
      case 1: return decode_chunk<uint8_t>(chunk, base + at, n, rule, out + at);
      case 2: return decode_chunk<uint16_t>(chunk, base + at, n, rule, out + at);
      case 4: return decode_chunk<uint32_t>(chunk, base + at, n, rule, out + at);
      default: return decode_chunk<uint64_t>(chunk, base + at, n, rule, out + at);
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
