#include "codecs/delta/delta_rebuild.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

#include <algorithm>
#include <cstring>

namespace nnz {
namespace {

// Inclusive prefix sum of eight u32 lanes (the byte shifts work within 128-bit halves: the low
// half's total is then added to the high half).
__attribute__((target("avx2"))) inline __m256i prefix_sum8(__m256i x) {
  x = _mm256_add_epi32(x, _mm256_slli_si256(x, 4));
  x = _mm256_add_epi32(x, _mm256_slli_si256(x, 8));
  const __m256i low_total = _mm256_permutevar8x32_epi32(x, _mm256_set1_epi32(3));
  return _mm256_add_epi32(x, _mm256_blend_epi32(_mm256_setzero_si256(), low_total, 0xF0));
}

// z of eight elements (u32 lanes) from their tokens and raw bits at bit `r` (< 8) of `raw` on;
// `used` gets the raw bits they take. 16-bit elements have at most 14 raw bits, so the eight take
// at most 112 bits after r: one 16-byte load holds them, and each element's bits lie in the 3
// bytes from its first, which a byte shuffle moves into its lane (no gather).
__attribute__((target("avx2"))) inline __m256i values8(const uint8_t* tokens, const uint8_t* raw, uint32_t r,
                                                       uint32_t& used) {
  const __m256i t = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(tokens)));
  const __m256i has_raw = _mm256_cmpgt_epi32(t, _mm256_set1_epi32(15));
  // Token t >= 16 has (t >> 2) - 2 raw bits.
  const __m256i len = _mm256_and_si256(has_raw, _mm256_sub_epi32(_mm256_srli_epi32(t, 2), _mm256_set1_epi32(2)));
  const __m256i ends = prefix_sum8(len);
  const __m256i at = _mm256_add_epi32(_mm256_sub_epi32(ends, len), _mm256_set1_epi32(static_cast<int>(r)));
  // Byte k of lane j's window is byte (at_j >> 3) + k of the 16 loaded, for k < 3; byte 3 is zero.
  const __m256i spread = _mm256_shuffle_epi8(_mm256_srli_epi32(at, 3),
                                             _mm256_setr_epi8(0, 0, 0, -1, 4, 4, 4, -1, 8, 8, 8, -1, 12, 12, 12, -1,
                                                              0, 0, 0, -1, 4, 4, 4, -1, 8, 8, 8, -1, 12, 12, 12, -1));
  const __m256i window = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(raw)));
  const __m256i words = _mm256_shuffle_epi8(window, _mm256_add_epi8(spread, _mm256_set1_epi32(0x00020100)));
  // The len bits from bit (at_j & 7): shifted up to the top, then down (by 32, to 0, where len = 0).
  const __m256i top = _mm256_sub_epi32(_mm256_set1_epi32(32), len);
  const __m256i bits = _mm256_srlv_epi32(
      _mm256_sllv_epi32(words, _mm256_sub_epi32(top, _mm256_and_si256(at, _mm256_set1_epi32(7)))), top);
  const __m256i high = _mm256_sllv_epi32(_mm256_or_si256(_mm256_and_si256(t, _mm256_set1_epi32(3)), _mm256_set1_epi32(4)), len);
  used = static_cast<uint32_t>(_mm256_extract_epi32(ends, 7));
  return _mm256_blendv_epi8(t, _mm256_or_si256(high, bits), has_raw);
}

// x = b + unzigzag(z) of sixteen elements, z in 16-bit lanes.
__attribute__((target("avx2"))) inline void add16(__m256i z, const uint8_t* base, uint8_t* out) {
  const __m256i d = _mm256_xor_si256(_mm256_srli_epi16(z, 1),
                                     _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_and_si256(z, _mm256_set1_epi16(1))));
  const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(base));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm256_add_epi16(b, d));
}

// Sixteen elements at bit r of raw (which holds 32 bytes from there): returns the raw bits used.
// Most blocks of a fine-tune's bfloat16 tensors have no token with raw bits (z = token).
__attribute__((target("avx2"))) inline uint32_t rebuild16_block(const uint8_t* tokens, const uint8_t* base,
                                                                const uint8_t* raw, uint32_t r, uint8_t* out) {
  const __m128i t8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(tokens));
  if (_mm_movemask_epi8(_mm_cmpgt_epi8(t8, _mm_set1_epi8(15))) == 0 && _mm_movemask_epi8(t8) == 0) {
    add16(_mm256_cvtepu8_epi16(t8), base, out);
    return 0;
  }
  uint32_t first, second;
  const __m256i z0 = values8(tokens, raw, r, first);
  const uint32_t at = r + first;
  const __m256i z1 = values8(tokens + 8, raw + (at >> 3), at & 7, second);
  // z < 2^16: the pack keeps it; it works within 128-bit halves, so a permutation orders the result.
  add16(_mm256_permute4x64_epi64(_mm256_packus_epi32(z0, z1), 0xD8), base, out);
  return first + second;
}

__attribute__((target("avx2"))) DeltaProgress rebuild16(const uint8_t* base, size_t n, ByteSpan raw,
                                                        const uint8_t* tokens, uint8_t* out) {
  // Sixteen elements load 16 bytes twice, the second from at most 14 bytes on: inside `size`
  // bytes while at + 240 <= 8 x size.
  constexpr uint64_t kBlockReach = 240;
  const uint64_t end_bits = static_cast<uint64_t>(raw.size) * 8;
  uint64_t at = 0;
  size_t i = 0;
  for (; i + 16 <= n && at + kBlockReach <= end_bits; i += 16)
    at += rebuild16_block(tokens + i, base + 2 * i, raw.data + (at >> 3), static_cast<uint32_t>(at & 7), out + 2 * i);
  // The last raw bytes (fewer than 30) in a zero-padded copy, so that the blocks after them (most
  // have no raw bits) stay in the kernel; one that reads past the stream's end is corrupt, which the
  // caller sees as raw bits that do not end where the elements do.
  uint8_t tail[96] = {};
  const size_t first = static_cast<size_t>(std::min(at, end_bits) >> 3);
  if (raw.size > first) std::memcpy(tail, raw.data + first, std::min(raw.size - first, sizeof tail));
  uint64_t local = at - 8 * static_cast<uint64_t>(first);
  for (; i + 16 <= n && local + kBlockReach <= 8 * sizeof tail; i += 16)
    local += rebuild16_block(tokens + i, base + 2 * i, tail + (local >> 3), static_cast<uint32_t>(local & 7), out + 2 * i);
  return DeltaProgress{i, 8 * static_cast<uint64_t>(first) + local};
}

}  // namespace

DeltaProgress delta_rebuild16_avx2(const uint8_t* base, size_t n, ByteSpan raw, const uint8_t* tokens, uint8_t* out) {
  static const bool avx2 = __builtin_cpu_supports("avx2");
  return avx2 ? rebuild16(base, n, raw, tokens, out) : DeltaProgress{0, 0};
}

}  // namespace nnz
#else
namespace nnz {
DeltaProgress delta_rebuild16_avx2(const uint8_t*, size_t, ByteSpan, const uint8_t*, uint8_t*) { return DeltaProgress{0, 0}; }
}  // namespace nnz
#endif
