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

// Eight elements: z from the token and its raw bits at bit `r` (< 8) of `raw` onwards, then
// x = b + unzigzag(z). 16-bit elements have at most 14 raw bits, so the eight take at most 112
// bits after r: one 16-byte load holds them, and each element's bits lie in the 3 bytes from its
// first, which a byte shuffle moves into its lane (no gather). Returns the raw bits used.
__attribute__((target("avx2"))) inline uint32_t rebuild8(const uint8_t* tokens, const uint8_t* base, const uint8_t* raw,
                                                         uint32_t r, uint8_t* out) {
  const __m256i t = _mm256_cvtepu8_epi32(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(tokens)));
  const __m256i has_raw = _mm256_cmpgt_epi32(t, _mm256_set1_epi32(15));
  const __m256i len = _mm256_and_si256(
      has_raw, _mm256_add_epi32(_mm256_srli_epi32(_mm256_sub_epi32(t, _mm256_set1_epi32(16)), 2), _mm256_set1_epi32(2)));
  const __m256i ends = prefix_sum8(len);
  const __m256i at = _mm256_add_epi32(_mm256_sub_epi32(ends, len), _mm256_set1_epi32(static_cast<int>(r)));
  // Byte k of lane j's window is byte (at_j >> 3) + k of the 16 loaded, for k < 3; byte 3 is zero.
  const __m256i first = _mm256_srli_epi32(at, 3);
  const __m256i spread = _mm256_shuffle_epi8(first, _mm256_setr_epi8(0, 0, 0, -1, 4, 4, 4, -1, 8, 8, 8, -1, 12, 12, 12, -1,
                                                                     0, 0, 0, -1, 4, 4, 4, -1, 8, 8, 8, -1, 12, 12, 12, -1));
  const __m256i select = _mm256_add_epi8(spread, _mm256_set1_epi32(0x00020100));
  const __m256i window = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(raw)));
  const __m256i words = _mm256_shuffle_epi8(window, select);
  const __m256i ones = _mm256_set1_epi32(1);
  const __m256i bits = _mm256_and_si256(_mm256_srlv_epi32(words, _mm256_and_si256(at, _mm256_set1_epi32(7))),
                                        _mm256_sub_epi32(_mm256_sllv_epi32(ones, len), ones));
  const __m256i high = _mm256_sllv_epi32(_mm256_or_si256(_mm256_and_si256(t, _mm256_set1_epi32(3)), _mm256_set1_epi32(4)), len);
  const __m256i z = _mm256_blendv_epi8(t, _mm256_or_si256(high, bits), has_raw);
  const __m256i d = _mm256_xor_si256(_mm256_srli_epi32(z, 1), _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_and_si256(z, ones)));
  const __m256i b = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(base)));
  const __m256i x = _mm256_and_si256(_mm256_add_epi32(b, d), _mm256_set1_epi32(0xFFFF));
  const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(x, x), 0x08);
  _mm_storeu_si128(reinterpret_cast<__m128i*>(out), _mm256_castsi256_si128(packed));
  return static_cast<uint32_t>(_mm256_extract_epi32(ends, 7));
}

// Sixteen elements whose tokens have no raw bits (z = token), in 16-bit lanes; false (nothing
// written) if any has. Most blocks of a fine-tune's bfloat16 tensors are such blocks.
__attribute__((target("avx2"))) inline bool literal16(const uint8_t* tokens, const uint8_t* base, uint8_t* out) {
  const __m128i t8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(tokens));
  if (_mm_movemask_epi8(_mm_cmpgt_epi8(t8, _mm_set1_epi8(15))) != 0 || _mm_movemask_epi8(t8) != 0) return false;
  const __m256i z = _mm256_cvtepu8_epi16(t8);
  const __m256i d = _mm256_xor_si256(_mm256_srli_epi16(z, 1),
                                     _mm256_sub_epi16(_mm256_setzero_si256(), _mm256_and_si256(z, _mm256_set1_epi16(1))));
  const __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(base));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm256_add_epi16(b, d));
  return true;
}

// Sixteen elements at bit r of raw (which holds 32 bytes from there): returns the raw bits used.
__attribute__((target("avx2"))) inline uint32_t rebuild16_block(const uint8_t* tokens, const uint8_t* base,
                                                                const uint8_t* raw, uint32_t r, uint8_t* out) {
  if (literal16(tokens, base, out)) return 0;
  const uint32_t first = rebuild8(tokens, base, raw, r, out);
  const uint32_t at = r + first;
  return first + rebuild8(tokens + 8, base + 16, raw + (at >> 3), at & 7, out + 16);
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
