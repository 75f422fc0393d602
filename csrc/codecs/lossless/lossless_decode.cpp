#include <algorithm>
#include <cstring>
#include <string>

#include "codecs/chunk_table.hpp"
#include "codecs/lossless/lossless.hpp"
#include "common/checked_math.hpp"
#include "common/error.hpp"
#include "common/parallel.hpp"
#include "common/bit_io.hpp"
#include "entropy/plane_decode.hpp"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace nnz {
namespace {


// Per-thread scratch for decoded symbols: chunks are decoded many times in a row, so the buffer
// is allocated once per thread instead of once per chunk.
thread_local std::vector<uint16_t> t_symbol_scratch;

uint16_t* symbol_scratch(size_t n) {
  if (t_symbol_scratch.size() < n) t_symbol_scratch.resize(n);
  return t_symbol_scratch.data();
}

// The calling thread (an application's, through the C API) keeps its scratch for the next tensor,
// but not more than default-size chunks need: a file with 2^28-element chunks must not leave
// gigabytes allocated behind. Worker threads release theirs when they end.
struct TrimSymbolScratch {
  ~TrimSymbolScratch() {
    constexpr size_t kKeptElems = size_t{1} << 22;  // 8 MiB; a default float64 chunk needs 4
    if (t_symbol_scratch.capacity() > kKeptElems) std::vector<uint16_t>().swap(t_symbol_scratch);
  }
};

template <typename U>
inline void store(uint8_t* dst, size_t i, U v) {
  std::memcpy(dst + i * sizeof(U), &v, sizeof(U));
}

inline uint16_t load_u16(const uint8_t* p, size_t i) {
  return static_cast<uint16_t>(p[2 * i] | (p[2 * i + 1] << 8));
}

// A plane ready for the join loop: little-endian symbols of `stride` bytes (1 or 2), or nibbles
// (stride kNibbles: symbol i in bits [4i, 4i+4), as a packed plane of width 4 stores them), read
// in place when the plane is packed at that width, else expanded into scratch.
constexpr int kNibbles = 0;

struct PlaneSource {
  const uint8_t* bytes;
  int stride;
};

inline uint32_t symbol_at(const PlaneSource& plane, size_t i) {
  if (plane.stride == 1) return plane.bytes[i];
  if (plane.stride == kNibbles) return (plane.bytes[i >> 1] >> (4 * (i & 1))) & 15u;
  return load_u16(plane.bytes, i);
}

PlaneSource plane_source(ByteReader& in, size_t n, int bits, uint16_t* scratch) {
  const PlaneView view = read_plane(in, n, bits);
  if (view.mode == PlaneMode::packed && (bits == 8 || bits == 16)) return PlaneSource{view.bytes.data, bits / 8};
  if (view.mode == PlaneMode::packed && bits == 4) return PlaneSource{view.bytes.data, kNibbles};
  if (bits > 8) {
    expand_plane(view, n, bits, scratch);
    return PlaneSource{reinterpret_cast<const uint8_t*>(scratch), 2};
  }
  uint8_t* narrow = reinterpret_cast<uint8_t*>(scratch);
  expand_plane(view, n, bits, narrow);
  return PlaneSource{narrow, 1};
}

// Element i: top 16 bits t = symbol << middle_bits | middle, rotated back right by one; below
// them the L byte planes, most significant first (L = 0, 2 or 6 for 16-, 32- and 64-bit floats).
template <typename U>
inline U join_one(uint32_t sym, uint32_t mid, int middle_bits, const uint8_t* const* low, size_t i) {
  constexpr int L = static_cast<int>(sizeof(U)) - 2;
  const uint32_t t = (static_cast<uint32_t>(sym) << middle_bits) | mid;
  U v = static_cast<U>(static_cast<U>(((t >> 1) | (t << 15)) & 0xFFFF) << (8 * L));
  for (int j = 0; j < L; ++j) v |= static_cast<U>(static_cast<U>(low[j][i]) << (8 * (L - 1 - j)));
  return v;
}

#if defined(__SSE2__)
// The join of 16 elements at a time for the common layouts (16- and 32-bit floats whose middle
// plane is bytes or packed nibbles): byte interleaves and a 16-bit rotate, about twice as fast as
// what compilers make of join_one. Returns the number of elements joined, a multiple of 16.
template <typename U, int MidStride, typename Sym>
size_t join_planes_sse2(const Sym* sym, int middle_bits, const uint8_t* mid, const uint8_t* const* low, size_t n,
                        uint8_t* dst) {
  static_assert(sizeof(U) == 2 || sizeof(U) == 4, "16- and 32-bit elements only");
  const auto load = [](const void* p) { return _mm_loadu_si128(static_cast<const __m128i*>(p)); };
  const auto put = [](uint8_t* p, __m128i v) { _mm_storeu_si128(reinterpret_cast<__m128i*>(p), v); };
  const auto rotate_right_1 = [](__m128i t) { return _mm_or_si128(_mm_srli_epi16(t, 1), _mm_slli_epi16(t, 15)); };
  const __m128i shift = _mm_cvtsi32_si128(middle_bits), zero = _mm_setzero_si128(), low_nibble = _mm_set1_epi8(15);
  // The 16 middle symbols of elements i..i+15, one a byte (nibbles: element 2j is byte j's low half).
  const auto middle = [&](size_t i) {
    if constexpr (MidStride == kNibbles) {
      const __m128i packed = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(mid + i / 2));
      return _mm_unpacklo_epi8(_mm_and_si128(packed, low_nibble), _mm_and_si128(_mm_srli_epi16(packed, 4), low_nibble));
    } else {
      return load(mid + i);
    }
  };
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m128i m = middle(i);
    __m128i t0, t1;  // elements i..i+7 and i+8..i+15: symbol << middle_bits | middle
    if constexpr (sizeof(Sym) == 1) {  // middle_bits is 8: the symbol is the high byte
      const __m128i s = load(sym + i);
      t0 = _mm_unpacklo_epi8(m, s);
      t1 = _mm_unpackhi_epi8(m, s);
    } else {
      t0 = _mm_or_si128(_mm_sll_epi16(load(sym + i), shift), _mm_unpacklo_epi8(m, zero));
      t1 = _mm_or_si128(_mm_sll_epi16(load(sym + i + 8), shift), _mm_unpackhi_epi8(m, zero));
    }
    const __m128i top0 = rotate_right_1(t0), top1 = rotate_right_1(t1);
    uint8_t* out = dst + i * sizeof(U);
    if constexpr (sizeof(U) == 2) {
      put(out, top0);
      put(out + 16, top1);
    } else {
      const __m128i high = load(low[0] + i), low_byte = load(low[1] + i);
      const __m128i l0 = _mm_unpacklo_epi8(low_byte, high), l1 = _mm_unpackhi_epi8(low_byte, high);
      put(out, _mm_unpacklo_epi16(l0, top0));
      put(out + 16, _mm_unpackhi_epi16(l0, top0));
      put(out + 32, _mm_unpacklo_epi16(l1, top1));
      put(out + 48, _mm_unpackhi_epi16(l1, top1));
    }
  }
  return i;
}
#endif

// The planes are copied to locals first so the compiler knows the output does not alias them.
template <typename U, int MidStride, typename Sym>
void join_planes(const Sym* sym, int middle_bits, const uint8_t* mid, const uint8_t* const* low_planes, size_t n,
                 uint8_t* dst) {
  constexpr int L = static_cast<int>(sizeof(U)) - 2;
  const uint8_t* low[L > 0 ? L : 1];
  for (int j = 0; j < L; ++j) low[j] = low_planes[j];
  size_t i = 0;
#if defined(__SSE2__)
  if constexpr (MidStride != 2 && (sizeof(U) == 2 || sizeof(U) == 4))
    i = join_planes_sse2<U, MidStride>(sym, middle_bits, mid, low, n, dst);
#endif
  const PlaneSource middle{mid, MidStride};
  for (; i < n; ++i) store<U>(dst, i, join_one<U>(sym[i], symbol_at(middle, i), middle_bits, low, i));
}

// Symbols of up to 8 bits (the exponent alone, for 16- and 32-bit floats) decode into bytes.
template <typename U, typename Sym>
void decode_float_planes(ByteReader& in, size_t n, int sym_bits, const ResidualPlanes& rp, uint8_t* dst) {
  uint16_t* scratch = symbol_scratch(n * static_cast<size_t>(2 + rp.low_planes));
  Sym* sym = reinterpret_cast<Sym*>(scratch);
  decode_plane(in, n, sym_bits, sym);
  const PlaneSource mid = plane_source(in, n, rp.middle_bits, scratch + n);
  const uint8_t* low[6] = {};
  for (int j = 0; j < rp.low_planes; ++j) low[j] = plane_source(in, n, 8, scratch + n * static_cast<size_t>(2 + j)).bytes;
  if (mid.stride == 1) return join_planes<U, 1>(sym, rp.middle_bits, mid.bytes, low, n, dst);
  if (mid.stride == kNibbles) return join_planes<U, kNibbles>(sym, rp.middle_bits, mid.bytes, low, n, dst);
  join_planes<U, 2>(sym, rp.middle_bits, mid.bytes, low, n, dst);
}

// The table of a chunk with a value table (lossless.hpp: keys in increasing order, gap-coded).
template <typename U>
std::vector<U> read_value_table(ByteReader& in, int sym_bits) {
  constexpr int kBits = static_cast<int>(sizeof(U)) * 8;
  const uint32_t count = in.u16();
  NNZ_CHECK(count >= 1 && count <= max_table_values(sym_bits), corrupt, "lossless: bad value table size");
  const ByteSpan bytes = in.bytes(in.u32());
  BitReader table(bytes.data, bytes.size);
  std::vector<U> values(count);
  U key = static_cast<U>(table.read_wide(kBits));
  values[0] = table_value(key);
  for (uint32_t j = 1; j < count; ++j) {
    const int length = static_cast<int>(table.read(kTableGapLengthBits)) + 1;
    NNZ_CHECK(length <= kBits, corrupt, "lossless: bad value table gap");
    const U gap = static_cast<U>((U{1} << (length - 1)) | table.read_wide(length - 1));
    NNZ_CHECK(gap <= static_cast<U>(~key), corrupt, "lossless: value table keys past the largest");
    key = static_cast<U>(key + gap);
    values[j] = table_value(key);
  }
  NNZ_CHECK(table.finished_exactly(), corrupt, "lossless: value table bits do not end where the table does");
  return values;
}

// The join of a chunk with a value table: both candidates of every element, then a select (table
// and other elements interleave at random, and a branch on which one an element is would be
// mispredicted about as often). The residual index stops at the last residual so that elements
// after it read inside the planes.
template <typename U>
struct ValueJoin {
  const U* values;
  uint32_t first_value;
  int middle_bits;
  const uint8_t* const* low;
  size_t residuals;  // at least 1
};

template <typename U, int MidStride>
void join_with_values(const ValueJoin<U>& j, const uint16_t* sym, const uint8_t* mid, size_t n, uint8_t* dst) {
  constexpr int L = static_cast<int>(sizeof(U)) - 2;
  const uint8_t* low[L > 0 ? L : 1];
  for (int k = 0; k < L; ++k) low[k] = j.low[k];
  const PlaneSource middle{mid, MidStride};
  const size_t last = j.residuals - 1;
  size_t r = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t sv = sym[i];
    const bool is_value = sv >= j.first_value;
    const size_t at = std::min(r, last);
    const U joined = join_one<U>(sv, symbol_at(middle, at), j.middle_bits, low, at);
    // Masks, not ?: (which compilers made branches of): the table index is 0 for other elements.
    const U value = j.values[(sv - j.first_value) & (0u - static_cast<uint32_t>(is_value))];
    const U take_value = static_cast<U>(U{0} - static_cast<U>(is_value));
    store<U>(dst, i, static_cast<U>((value & take_value) | (joined & static_cast<U>(~take_value))));
    r += !is_value;
  }
}

// A chunk with a value table: symbols >= 2^sym_bits are values of the table (the plane is as wide
// as the largest symbol); the middle and low planes hold the other elements only, in order.
template <typename U>
void decode_float_planes_with_values(ByteReader& in, size_t n, int sym_bits, const ResidualPlanes& rp, uint8_t* dst) {
  const std::vector<U> values = read_value_table<U>(in, sym_bits);
  uint16_t* scratch = symbol_scratch(n * static_cast<size_t>(2 + rp.low_planes));
  uint16_t* sym = scratch;
  decode_plane(in, n, value_plane_bits(sym_bits, static_cast<uint32_t>(values.size())), sym);
  const uint32_t first_value = 1u << sym_bits, end = first_value + static_cast<uint32_t>(values.size());
  size_t rest = 0;
  uint32_t largest = 0;
  for (size_t i = 0; i < n; ++i) {  // one pass the compiler vectorizes; checked after it
    largest = std::max<uint32_t>(largest, sym[i]);
    rest += sym[i] < first_value;
  }
  NNZ_CHECK(largest < end, corrupt, "lossless: a value symbol past the table");
  const PlaneSource mid = plane_source(in, rest, rp.middle_bits, scratch + n);
  const uint8_t* low[6] = {};
  for (int j = 0; j < rp.low_planes; ++j)
    low[j] = plane_source(in, rest, 8, scratch + n * static_cast<size_t>(2 + j)).bytes;
  if (rest == 0) {
    for (size_t i = 0; i < n; ++i) store<U>(dst, i, values[sym[i] - first_value]);
    return;
  }
  const ValueJoin<U> join{values.data(), first_value, rp.middle_bits, low, rest};
  if (mid.stride == 1) return join_with_values<U, 1>(join, sym, mid.bytes, n, dst);
  if (mid.stride == kNibbles) return join_with_values<U, kNibbles>(join, sym, mid.bytes, n, dst);
  join_with_values<U, 2>(join, sym, mid.bytes, n, dst);
}

template <typename U>
void decode_float_chunk(ByteReader& in, size_t n, const FloatSplit& fs, bool tables_allowed, uint8_t* dst) {
  const int header = in.u8();
  const int k = header & ~kValueTableFlag;
  const bool has_table = (header & kValueTableFlag) != 0;
  NNZ_CHECK(!has_table || tables_allowed, corrupt, "lossless: a value table in a chunk of codec lossless");
  NNZ_CHECK(k <= (has_table ? max_extra_bits_with_table(fs) : fs.max_extra_bits), corrupt,
            "lossless: bad mantissa split in chunk header");
  const int sym_bits = fs.exponent_bits + k;
  const ResidualPlanes rp = residual_planes(fs, sym_bits);
  if (has_table) return decode_float_planes_with_values<U>(in, n, sym_bits, rp, dst);
  if (sym_bits <= 8) return decode_float_planes<U, uint8_t>(in, n, sym_bits, rp, dst);
  decode_float_planes<U, uint16_t>(in, n, sym_bits, rp, dst);
}

template <typename U>
void decode_int_chunk(ByteReader& in, size_t n, bool is_signed, uint8_t* dst) {
  constexpr int w = sizeof(U) * 8;
  NNZ_CHECK(in.u8() == 0, corrupt, "lossless: bad integer chunk header");
  std::vector<U> v(n, 0);
  uint8_t* plane = reinterpret_cast<uint8_t*>(symbol_scratch(n));
  for (int b = 0; b < w / 8; ++b) {
    decode_plane(in, n, 8, plane);
    for (size_t i = 0; i < n; ++i) v[i] |= static_cast<U>(static_cast<U>(plane[i]) << (8 * b));
  }
  if (is_signed)
    for (U& x : v) x = static_cast<U>((x >> 1) ^ (U{0} - (x & 1)));  // undo zigzag
  if (n) std::memcpy(dst, v.data(), n * sizeof(U));
}

void decode_chunk(DType dtype, ByteSpan chunk, size_t n, bool tables_allowed, uint8_t* dst) {
  ByteReader in(chunk, "lossless chunk");
  const DTypeInfo& info = dtype_info(dtype);
  if (info.kind == DTypeKind::floating) {
    const FloatSplit fs = float_split(dtype);
    switch (info.bits) {
      case 16: decode_float_chunk<uint16_t>(in, n, fs, tables_allowed, dst); break;
      case 32: decode_float_chunk<uint32_t>(in, n, fs, tables_allowed, dst); break;
      case 64: decode_float_chunk<uint64_t>(in, n, fs, tables_allowed, dst); break;
    }
  } else {
    const bool is_signed = info.kind == DTypeKind::signed_int;
    switch (info.bits) {
      case 8: decode_int_chunk<uint8_t>(in, n, is_signed, dst); break;
      case 16: decode_int_chunk<uint16_t>(in, n, is_signed, dst); break;
      case 32: decode_int_chunk<uint32_t>(in, n, is_signed, dst); break;
      case 64: decode_int_chunk<uint64_t>(in, n, is_signed, dst); break;
    }
  }
  in.expect_end();
}

uint32_t read_chunk_elems(ByteSpan params_bytes) {
  ByteReader params(params_bytes, "lossless parameters");
  const uint32_t chunk_elems = params.u32();
  params.expect_end();
  NNZ_CHECK(chunk_elems >= 1 && chunk_elems <= kLosslessMaxChunkElems, corrupt, "lossless: bad chunk size");
  return chunk_elems;
}

void decode_lossless(const DecodeRequest& req, bool tables_allowed, uint8_t* out, int threads) {
  const TrimSymbolScratch trim;
  const uint32_t chunk_elems = read_chunk_elems(req.params);
  const size_t esize = static_cast<size_t>(dtype_bytes(req.dtype));
  decode_chunks(req.payload, req.count, chunk_elems, threads, "lossless payload", [&](ByteSpan chunk, uint64_t first,
                                                                                      size_t n) {
    decode_chunk(req.dtype, chunk, n, tables_allowed, out + first * esize);
  });
}

}  // namespace

void LosslessCodec::decode(const DecodeRequest& req, uint8_t* out, int threads) {
  decode_lossless(req, false, out, threads);
}

void LosslessValuesCodec::decode(const DecodeRequest& req, uint8_t* out, int threads) {
  decode_lossless(req, true, out, threads);
}

CodecDescription LosslessCodec::describe(ByteSpan params) {
  read_chunk_elems(params);
  return kExactCodec;
}

CodecDescription LosslessValuesCodec::describe(ByteSpan params) { return LosslessCodec::describe(params); }

}  // namespace nnz
