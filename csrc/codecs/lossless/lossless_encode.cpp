#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "codecs/chunk_table.hpp"
#include "codecs/lossless/lossless.hpp"
#include "common/bit_io.hpp"
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

// The middle and low planes of the elements `rest` (indices into src), after the symbol plane.
template <typename U>
void encode_residual_planes(const uint8_t* src, const uint16_t* top, const uint32_t* rest, size_t n_rest,
                            const ResidualPlanes& rp, uint16_t* plane, std::vector<uint8_t>& out) {
  const auto at = [&](size_t r) { return rest ? rest[r] : r; };
  for (size_t r = 0; r < n_rest; ++r) plane[r] = static_cast<uint16_t>(top[at(r)] & ((1u << rp.middle_bits) - 1));
  encode_plane(plane, n_rest, rp.middle_bits, out);
  for (int j = rp.low_planes - 1; j >= 0; --j) {
    for (size_t r = 0; r < n_rest; ++r) plane[r] = static_cast<uint16_t>((load_element<U>(src, at(r)) >> (8 * j)) & 0xFF);
    encode_plane(plane, n_rest, 8, out);
  }
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
  encode_residual_planes<U>(src, top, nullptr, n, rp, plane, out);
}

// Values to counts by open addressing (a power-of-two table at most half full): counting a
// chunk's values this way costs a few ns an element where sorting them cost 60.
template <typename U>
class ValueCounts {
 public:
  explicit ValueCounts(size_t capacity) {
    size_t slots = 16;
    while (slots < 2 * capacity) slots <<= 1;
    keys_.resize(slots);
    counts_.assign(slots, 0);
    mask_ = slots - 1;
  }
  void add(U x) { ++counts_[claim(x)]; }
  void set(U x, uint32_t count) { counts_[claim(x)] = count; }
  uint32_t find(U x) const { return counts_[probe(x)]; }  // 0: absent
  const std::vector<U>& keys() const { return keys_; }
  const std::vector<uint32_t>& counts() const { return counts_; }

 private:
  // x's slot, or the free slot where it would go (a slot is taken while its count is not 0).
  size_t probe(U x) const {
    size_t h = static_cast<size_t>((static_cast<uint64_t>(x) * 0x9E3779B97F4A7C15ull) >> 32) & mask_;
    while (counts_[h] && keys_[h] != x) h = (h + 1) & mask_;
    return h;
  }
  size_t claim(U x) {
    const size_t h = probe(x);
    keys_[h] = x;
    return h;
  }

  std::vector<U> keys_;
  std::vector<uint32_t> counts_;
  size_t mask_ = 0;
};

// Values of a chunk worth a symbol of their own: those occurring at least kMinValueCount times,
// the most frequent first, at most max_values. A sample decides first whether the chunk repeats
// values at all (trained weights almost never do), so that most chunks cost no count of all their
// values: one pass counts how often the sampled values occur in the chunk, and the chunk's values
// are counted only if at least 1/kRepeatShare of the sampled elements have a value that occurs
// kMinValueCount times or more.
constexpr size_t kValueSample = 2048;
constexpr uint32_t kMinValueCount = 3;
constexpr size_t kRepeatShare = 256;
// A chunk with a table decodes 3-4 times slower than one without (a wider symbol plane, a join
// that selects per element), so its table must save this fraction of the chunk.
constexpr double kValueTableMinGain = 0.02;

template <typename U>
bool chunk_repeats_values(const uint8_t* src, size_t n) {
  if (n <= 8 * kValueSample) return true;  // counting a small chunk costs less than sampling it
  ValueCounts<U> sampled(kValueSample), occurrences(kValueSample);
  // One bit per 16-bit hash: most elements are no sampled value, and one test of an 8 KiB bitmap
  // (a branch that rarely goes the other way) rejects them without probing the tables.
  std::vector<uint64_t> filter(size_t{1} << 10, 0);
  const auto hash16 = [](U x) { return (static_cast<uint64_t>(x) * 0x9E3779B97F4A7C15ull) >> 48; };
  const size_t stride = n / kValueSample;
  for (size_t j = 0; j < kValueSample; ++j) {
    const U x = load_element<U>(src, j * stride);
    const uint64_t h = hash16(x);
    filter[h >> 6] |= uint64_t{1} << (h & 63);
    sampled.add(x);
  }
  for (size_t i = 0; i < n; ++i) {
    const U x = load_element<U>(src, i);
    const uint64_t h = hash16(x);
    if (((filter[h >> 6] >> (h & 63)) & 1) && sampled.find(x)) occurrences.add(x);
  }
  size_t repeated = 0;
  for (size_t h = 0; h < sampled.counts().size(); ++h)
    if (sampled.counts()[h] && occurrences.find(sampled.keys()[h]) >= kMinValueCount) repeated += sampled.counts()[h];
  return repeated * kRepeatShare >= kValueSample;
}

template <typename U>
std::vector<U> frequent_values(const uint8_t* src, size_t n, size_t max_values) {
  if (n < kMinValueCount || !chunk_repeats_values<U>(src, n)) return {};
  ValueCounts<U> counts(n);
  for (size_t i = 0; i < n; ++i) counts.add(load_element<U>(src, i));
  std::vector<std::pair<uint32_t, U>> counted;  // (count, value)
  for (size_t h = 0; h < counts.counts().size(); ++h)
    if (counts.counts()[h] >= kMinValueCount) counted.emplace_back(counts.counts()[h], counts.keys()[h]);
  const size_t keep = std::min(max_values, counted.size());
  std::partial_sort(counted.begin(), counted.begin() + static_cast<std::ptrdiff_t>(keep), counted.end(),
                    [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
  std::vector<U> values;
  for (size_t j = 0; j < keep; ++j) values.push_back(counted[j].second);
  return values;
}

// Each element's index in the table (ascending `sorted`), or -1; the elements outside it.
template <typename U>
std::vector<uint32_t> index_values(const uint8_t* src, size_t n, const std::vector<U>& sorted, int32_t* value_of) {
  ValueCounts<U> index(sorted.size());  // "count" = table index + 1
  for (size_t j = 0; j < sorted.size(); ++j) index.set(sorted[j], static_cast<uint32_t>(j + 1));
  std::vector<uint32_t> rest;
  for (size_t i = 0; i < n; ++i) {
    value_of[i] = static_cast<int32_t>(index.find(load_element<U>(src, i))) - 1;
    if (value_of[i] < 0) rest.push_back(static_cast<uint32_t>(i));
  }
  return rest;
}

// The table in its stored order (increasing keys).
template <typename U>
std::vector<U> sorted_copy(std::vector<U> values) {
  std::sort(values.begin(), values.end(), [](U a, U b) { return table_key(a) < table_key(b); });
  return values;
}

template <typename U>
void write_value_table(const std::vector<U>& sorted, ByteWriter& w) {
  constexpr int kBits = static_cast<int>(sizeof(U)) * 8;
  std::vector<uint8_t> bits;
  BitWriter table(bits);
  U previous = table_key(sorted[0]);
  table.put_wide(previous, kBits);
  for (size_t j = 1; j < sorted.size(); ++j) {
    const U key = table_key(sorted[j]), gap = static_cast<U>(key - previous);
    const int length = bit_width(gap);
    table.put(static_cast<uint64_t>(length - 1), kTableGapLengthBits);
    table.put_wide(gap - (U{1} << (length - 1)), length - 1);
    previous = key;
  }
  table.finish();
  w.u16(static_cast<uint16_t>(sorted.size()));
  w.u32(static_cast<uint32_t>(bits.size()));
  w.bytes(bits);
}

// The chunk with a value table (lossless-values): table values' symbols after the 2^(E+k)
// others, the residual planes of the other elements only. `values` are the most frequent first;
// k is chosen on the elements outside the table, then the table cut to what that k leaves room for.
template <typename U>
void encode_float_chunk_with_values(const uint8_t* src, size_t n, const FloatSplit& fs, std::vector<U> values,
                                    std::vector<uint8_t>& out) {
  const int k_hi = max_extra_bits_with_table(fs);
  values.resize(std::min<size_t>(values.size(), max_table_values(fs.exponent_bits)));
  std::vector<U> sorted = sorted_copy(values);
  std::vector<int32_t> value_of(n);
  std::vector<uint32_t> rest = index_values<U>(src, n, sorted, value_of.data());
  uint16_t* top = plane_scratch(2 * n);
  uint16_t* plane = top + n;
  for (size_t i = 0; i < n; ++i) top[i] = rotated_top16(load_element<U>(src, i));
  const int top_bits = fs.exponent_bits + k_hi;
  const FloatSplit table_split{fs.width, fs.exponent_bits, k_hi};
  for (size_t r = 0; r < rest.size(); ++r) plane[r] = static_cast<uint16_t>(top[rest[r]] >> (16 - top_bits));
  const int k = rest.empty() ? 0 : choose_extra_bits(plane, top_bits, table_split, rest.size());
  const int sym_bits = fs.exponent_bits + k;
  if (values.size() > max_table_values(sym_bits)) {
    values.resize(max_table_values(sym_bits));
    sorted = sorted_copy(values);
    rest = index_values<U>(src, n, sorted, value_of.data());
  }
  const ResidualPlanes rp = residual_planes(fs, sym_bits);
  out.push_back(static_cast<uint8_t>(k | kValueTableFlag));
  ByteWriter w(out);
  write_value_table<U>(sorted, w);
  const uint32_t first_value = 1u << sym_bits;
  for (size_t i = 0; i < n; ++i)
    plane[i] = static_cast<uint16_t>(value_of[i] >= 0 ? first_value + static_cast<uint32_t>(value_of[i])
                                                        : top[i] >> rp.middle_bits);
  encode_plane(plane, n, value_plane_bits(sym_bits, static_cast<uint32_t>(sorted.size())), out);
  encode_residual_planes<U>(src, top, rest.data(), rest.size(), rp, plane, out);
}

// The chunk as lossless codes it, or with a value table where that is smaller. Returns whether
// it has a table.
template <typename U>
bool encode_float_chunk_best(const uint8_t* src, size_t n, const FloatSplit& fs, bool try_tables,
                             std::vector<uint8_t>& out) {
  encode_float_chunk<U>(src, n, fs, out);
  if (!try_tables) return false;
  std::vector<U> values = frequent_values<U>(src, n, max_table_values(fs.exponent_bits));
  if (values.empty()) return false;
  std::vector<uint8_t> with_table;
  encode_float_chunk_with_values<U>(src, n, fs, std::move(values), with_table);
  if (static_cast<double>(with_table.size()) >= (1.0 - kValueTableMinGain) * static_cast<double>(out.size())) return false;
  out.swap(with_table);
  return true;
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

// Codes one chunk; returns whether it carries a value table. 16-bit floats are not tried: their
// symbol and middle planes already hold the whole element.
bool encode_chunk(DType dtype, const uint8_t* src, size_t n, bool try_tables, std::vector<uint8_t>& out) {
  const DTypeInfo& info = dtype_info(dtype);
  if (info.kind == DTypeKind::floating) {
    const FloatSplit fs = float_split(dtype);
    switch (info.bits) {
      case 16: encode_float_chunk<uint16_t>(src, n, fs, out); return false;
      case 32: return encode_float_chunk_best<uint32_t>(src, n, fs, try_tables, out);
      case 64: return encode_float_chunk_best<uint64_t>(src, n, fs, try_tables, out);
    }
  } else {
    const bool is_signed = info.kind == DTypeKind::signed_int;
    switch (info.bits) {
      case 8: encode_int_chunk<uint8_t>(src, n, is_signed, out); return false;
      case 16: encode_int_chunk<uint16_t>(src, n, is_signed, out); return false;
      case 32: encode_int_chunk<uint32_t>(src, n, is_signed, out); return false;
      case 64: encode_int_chunk<uint64_t>(src, n, is_signed, out); return false;
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
  std::vector<uint8_t> has_table(chunks.size(), 0);
  parallel_for(chunks.size(), options.threads, [&](size_t c) {
    const uint64_t first = static_cast<uint64_t>(c) * chunk_elems;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(chunk_elems, tensor.count - first));
    // Coded into a vector of this thread's stack: vectors next to each other in `chunks` share
    // cache lines, and two threads appending to neighbours would contend for them on every byte.
    std::vector<uint8_t> coded;
    has_table[c] = encode_chunk(tensor.dtype, tensor.data + first * esize, n, options.value_tables, coded);
    chunks[c] = std::move(coded);
  });
  EncodedTensor result;
  const bool tables = std::find(has_table.begin(), has_table.end(), 1) != has_table.end();
  result.codec = tables ? kLosslessValuesCodecId : kLosslessCodecId;
  ByteWriter params(result.params);
  params.u32(chunk_elems);
  write_chunk_table(chunks, result, "lossless");
  return result;
}

EncodedTensor LosslessValuesCodec::encode(const TensorRef& tensor, const LosslessOptions& options) {
  return LosslessCodec::encode(tensor, options);
}

}  // namespace nnz
