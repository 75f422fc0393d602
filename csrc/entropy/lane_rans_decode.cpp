#include "entropy/lane_rans_decode.hpp"

#include <algorithm>
#include <cstring>

#include "common/error.hpp"

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>
#define NNZ_LANE_RANS_AVX2 1
#endif

namespace nnz {
namespace {

struct LaneStream {
  uint32_t x[kLaneRansLanes];
  const uint8_t* words;
  size_t nwords;
  size_t pos = 0;  // words read; past nwords only in a stream that is corrupt (finish() says so)
};

inline uint32_t load16(const uint8_t* p) { return uint32_t{p[0]} | (uint32_t{p[1]} << 8); }

// One symbol of one lane; kChecked: the word may lie past the stream's end (read as zero).
template <bool kChecked>
inline uint8_t decode_step(LaneStream& s, uint32_t& x, const uint32_t* table, int scale_bits) {
  const uint32_t e = table[x & ((uint32_t{1} << scale_bits) - 1)];
  x = ((e >> 20) + 1) * (x >> scale_bits) + ((e >> 8) & 0xFFF);
  const bool need = x < kLaneRansLowerBound;
  uint32_t word;
  if (kChecked) {
    word = s.pos < s.nwords ? load16(s.words + 2 * (s.pos < s.nwords ? s.pos : 0)) : 0;
  } else {
    word = load16(s.words + 2 * s.pos);
  }
  x = need ? (x << 16) | word : x;
  s.pos += need;
  return static_cast<uint8_t>(e);
}

// Symbols [i, n) one lane at a time: whole rounds of 64 unchecked while 64 words remain, the rest
// checked. Returns nothing: the states and position are in s.
void decode_scalar(LaneStream& s, const uint32_t* tables, int scale_bits, const uint8_t* contexts, size_t i, size_t n,
                   uint8_t* out) {
  for (; i + kLaneRansLanes <= n && s.pos + kLaneRansLanes <= s.nwords; i += kLaneRansLanes)
    for (size_t lane = 0; lane < kLaneRansLanes; ++lane)
      out[i + lane] = decode_step<false>(s, s.x[lane], tables + (size_t{contexts[i + lane]} << scale_bits), scale_bits);
  for (; i < n; ++i)
    out[i] = decode_step<true>(s, s.x[i % kLaneRansLanes], tables + (size_t{contexts[i]} << scale_bits), scale_bits);
}

#if NNZ_LANE_RANS_AVX2
// Word j of the 8 loaded goes to the j-th lane (in order) that needs one: permutations by mask.
struct WordRoutes {
  alignas(32) uint32_t index[256][8];
  WordRoutes() {
    for (uint32_t m = 0; m < 256; ++m) {
      uint32_t k = 0;
      for (int j = 0; j < 8; ++j) index[m][j] = (m >> j) & 1 ? k++ : 0;
    }
  }
};

// Eight lanes in one register: their symbols (in the low byte of each entry) and new states.
__attribute__((target("avx2,popcnt"))) inline __m256i decode8(__m256i& x, const uint32_t* tables, __m128i ctx8,
                                                               int scale_bits, const uint8_t* words, size_t& pos,
                                                               const WordRoutes& routes) {
  const __m256i slot_mask = _mm256_set1_epi32(static_cast<int>((uint32_t{1} << scale_bits) - 1));
  const __m128i shift = _mm_cvtsi32_si128(scale_bits);
  const __m256i index = _mm256_or_si256(_mm256_sll_epi32(_mm256_cvtepu8_epi32(ctx8), shift), _mm256_and_si256(x, slot_mask));
  const __m256i e = _mm256_i32gather_epi32(reinterpret_cast<const int*>(tables), index, 4);
  const __m256i freq = _mm256_add_epi32(_mm256_srli_epi32(e, 20), _mm256_set1_epi32(1));
  const __m256i bias = _mm256_and_si256(_mm256_srli_epi32(e, 8), _mm256_set1_epi32(0xFFF));
  __m256i y = _mm256_add_epi32(_mm256_mullo_epi32(freq, _mm256_srl_epi32(x, shift)), bias);
  const __m256i need = _mm256_cmpeq_epi32(_mm256_srli_epi32(y, 16), _mm256_setzero_si256());
  const uint32_t mask = static_cast<uint32_t>(_mm256_movemask_ps(_mm256_castsi256_ps(need)));
  const __m256i loaded = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(words + 2 * pos)));
  const __m256i routed = _mm256_permutevar8x32_epi32(loaded, _mm256_load_si256(reinterpret_cast<const __m256i*>(routes.index[mask])));
  x = _mm256_blendv_epi8(y, _mm256_or_si256(_mm256_slli_epi32(y, 16), routed), need);
  pos += static_cast<size_t>(__builtin_popcount(mask));
  return _mm256_and_si256(e, _mm256_set1_epi32(0xFF));
}

// 32 symbols of 32 consecutive lanes in four registers, their bytes stored in order.
__attribute__((target("avx2,popcnt"))) inline void decode32(__m256i* x, const uint32_t* tables, const uint8_t* contexts,
                                                            int scale_bits, const uint8_t* words, size_t& pos,
                                                            const WordRoutes& routes, uint8_t* out) {
  const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(contexts));
  const __m256i s0 = decode8(x[0], tables, _mm256_castsi256_si128(c), scale_bits, words, pos, routes);
  const __m256i s1 = decode8(x[1], tables, _mm_srli_si128(_mm256_castsi256_si128(c), 8), scale_bits, words, pos, routes);
  const __m256i s2 = decode8(x[2], tables, _mm256_extracti128_si256(c, 1), scale_bits, words, pos, routes);
  const __m256i s3 = decode8(x[3], tables, _mm_srli_si128(_mm256_extracti128_si256(c, 1), 8), scale_bits, words, pos, routes);
  // The packs work within 128-bit halves: a permutation puts the 32 bytes in order.
  const __m256i packed = _mm256_packus_epi16(_mm256_packus_epi32(s0, s1), _mm256_packus_epi32(s2, s3));
  _mm256_storeu_si256(reinterpret_cast<__m256i*>(out), _mm256_permutevar8x32_epi32(packed, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7)));
}

// Rounds of 64 symbols in eight registers while 64 words remain (each register loads 8 at its
// position); returns the symbols done. Eight independent chains of gather, multiply and
// renormalization keep the core busy where four wait on each other's latency.
__attribute__((target("avx2,popcnt"))) size_t decode_rounds(LaneStream& s, const uint32_t* tables, int scale_bits,
                                                             const uint8_t* contexts, size_t n, uint8_t* out) {
  static_assert(kLaneRansLanes == 64, "the rounds hold the lanes in eight registers");
  static const WordRoutes routes;
  __m256i x[8];
  for (int r = 0; r < 8; ++r) x[r] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(s.x + 8 * r));
  size_t i = 0, pos = s.pos;
  for (; i + kLaneRansLanes <= n && pos + kLaneRansLanes <= s.nwords; i += kLaneRansLanes) {
    decode32(x, tables, contexts + i, scale_bits, s.words, pos, routes, out + i);
    decode32(x + 4, tables, contexts + i + 32, scale_bits, s.words, pos, routes, out + i + 32);
  }
  for (int r = 0; r < 8; ++r) _mm256_storeu_si256(reinterpret_cast<__m256i*>(s.x + 8 * r), x[r]);
  s.pos = pos;
  return i;
}

// The rounds, then those after the stream's last 64 words on a zero-padded copy of them: streams
// of skewed symbols are short, and would otherwise leave most rounds to the scalar decoder. (The
// copy's zeros are read only by a stream that is corrupt, which then ends past its last word.)
__attribute__((target("avx2,popcnt"))) size_t decode_avx2(LaneStream& s, const uint32_t* tables, int scale_bits,
                                                           const uint8_t* contexts, size_t n, uint8_t* out) {
  size_t done = decode_rounds(s, tables, scale_bits, contexts, n, out);
  if (done + kLaneRansLanes > n) return done;
  uint8_t tail[4 * kLaneRansLanes] = {};
  const size_t first = s.pos < s.nwords ? s.pos : s.nwords;
  std::memcpy(tail, s.words + 2 * first, 2 * std::min(s.nwords - first, size_t{2 * kLaneRansLanes}));
  LaneStream padded = s;
  padded.words = tail;
  padded.nwords = 2 * kLaneRansLanes;
  padded.pos = s.pos - first;
  done += decode_rounds(padded, tables, scale_bits, contexts + done, n - done, out + done);
  std::memcpy(s.x, padded.x, sizeof s.x);
  s.pos = first + padded.pos;
  return done;
}
#endif

}  // namespace

void lane_rans_decode(ByteSpan stream, const uint32_t* tables, int scale_bits, const uint8_t* contexts, size_t n,
                      uint8_t* out) {
  NNZ_CHECK(stream.size >= kLaneRansStateBytes && (stream.size - kLaneRansStateBytes) % 2 == 0, corrupt,
            "lane rANS: bad stream size");
  LaneStream s;
  for (int j = 0; j < kLaneRansLanes; ++j) {
    s.x[j] = static_cast<uint32_t>(load_le(stream.data + 4 * j, 4));
    NNZ_CHECK(s.x[j] >= kLaneRansLowerBound, corrupt, "lane rANS: bad initial state");
  }
  s.words = stream.data + kLaneRansStateBytes;
  s.nwords = (stream.size - kLaneRansStateBytes) / 2;
  size_t done = 0;
#if NNZ_LANE_RANS_AVX2
  static const bool avx2 = __builtin_cpu_supports("avx2");
  if (avx2) done = decode_avx2(s, tables, scale_bits, contexts, n, out);
#endif
  decode_scalar(s, tables, scale_bits, contexts, done, n, out);
  bool ended = s.pos == s.nwords;
  for (uint32_t x : s.x) ended = ended && x == kLaneRansLowerBound;
  NNZ_CHECK(ended, corrupt, "lane rANS: stream does not end where its symbols do");
}

}  // namespace nnz
