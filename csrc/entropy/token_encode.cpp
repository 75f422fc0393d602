#include "entropy/token_encode.hpp"

#include <cmath>
#include <limits>
#include <string>

#include "common/byte_io.hpp"
#include "common/error.hpp"
#include "common/scratch.hpp"
#include "entropy/rans_encode.hpp"
#include "entropy/rans_table.hpp"

namespace nnz {
namespace {

using Histogram = std::vector<uint64_t>;

int bit_length(uint64_t v) { return v ? 64 - __builtin_clzll(v) : 0; }

// Estimated bits of coding a histogram with its own table: order-0 entropy plus table size.
double cluster_bits(const Histogram& h) {
  uint64_t n = 0;
  size_t end = 0, used = 0;
  double sum_hlogh = 0;
  for (size_t s = 0; s < h.size(); ++s) {
    if (!h[s]) continue;
    n += h[s];
    end = s + 1;
    ++used;
    sum_hlogh += static_cast<double>(h[s]) * std::log2(static_cast<double>(h[s]));
  }
  const double entropy = n ? static_cast<double>(n) * std::log2(static_cast<double>(n)) - sum_hlogh : 0.0;
  return entropy + 16.0 + 4.0 * static_cast<double>(end) + 3.0 * static_cast<double>(used);
}

Histogram merged(const Histogram& a, const Histogram& b) {
  Histogram m(a.size());
  for (size_t s = 0; s < a.size(); ++s) m[s] = a[s] + b[s];
  return m;
}

// Greedy agglomerative clustering of the contexts' histograms: merge the pair that saves the most
// bits (or costs the fewest, while there are more clusters than tables) until no merge saves any
// and at most kTokenMaxTables clusters are left. Returns the cluster of each context.
std::vector<uint8_t> cluster_contexts(const std::vector<Histogram>& hist, int& nclusters) {
  const size_t k = hist.size();
  std::vector<Histogram> h = hist;
  std::vector<double> bits(k);
  std::vector<int> owner(k);  // context -> representative cluster index
  std::vector<bool> active(k);
  for (size_t i = 0; i < k; ++i) {
    owner[i] = static_cast<int>(i);
    uint64_t n = 0;
    for (uint64_t c : h[i]) n += c;
    active[i] = n > 0;
    bits[i] = cluster_bits(h[i]);
  }
  const double kInf = std::numeric_limits<double>::infinity();
  std::vector<std::vector<double>> gain(k, std::vector<double>(k, kInf));  // bits(i u j) - bits(i) - bits(j)
  auto update = [&](size_t i, size_t j) {
    gain[i][j] = gain[j][i] = (active[i] && active[j] && i != j) ? cluster_bits(merged(h[i], h[j])) - bits[i] - bits[j] : kInf;
  };
  for (size_t i = 0; i < k; ++i)
    for (size_t j = i + 1; j < k; ++j) update(i, j);
  size_t clusters = 0;
  for (size_t i = 0; i < k; ++i) clusters += active[i];
  for (;; --clusters) {
    size_t bi = 0, bj = 0;
    double best = kInf;
    for (size_t i = 0; i < k; ++i)
      for (size_t j = i + 1; j < k; ++j)
        if (gain[i][j] < best) best = gain[i][j], bi = i, bj = j;
    if (!(best < 0) && !(clusters > kTokenMaxTables && best < kInf)) break;
    h[bi] = merged(h[bi], h[bj]);
    bits[bi] = cluster_bits(h[bi]);
    active[bj] = false;
    for (size_t c = 0; c < k; ++c)
      if (owner[c] == static_cast<int>(bj)) owner[c] = static_cast<int>(bi);
    for (size_t c = 0; c < k; ++c) {
      update(bi, c);
      update(bj, c);
    }
  }
  // Number the surviving clusters 0.. in context order; empty contexts join cluster 0.
  std::vector<int> number(k, -1);
  nclusters = 0;
  std::vector<uint8_t> table_of(k, 0);
  for (size_t c = 0; c < k; ++c) {
    if (!active[static_cast<size_t>(owner[c])]) continue;
    int& num = number[static_cast<size_t>(owner[c])];
    if (num < 0) num = nclusters++;
    table_of[c] = static_cast<uint8_t>(num);
  }
  if (nclusters == 0) nclusters = 1;
  return table_of;
}

}  // namespace

void encode_token_stream(const TokenStreamInput& in, std::vector<uint8_t>& out) {
  NNZ_CHECK(in.nctx >= 1 && in.nctx <= kTokenMaxContexts, invalid_argument, "token stream: bad context count");
  NNZ_CHECK(in.n < (uint64_t{1} << 32), invalid_argument, "token stream: more than 2^32 - 1 values");
  NNZ_CHECK(in.max_scale_bits >= 10 && in.max_scale_bits <= kRansMaxScaleBits, invalid_argument,
            "token stream: bad precision");
  const size_t n = in.n;
  const size_t nctx = static_cast<size_t>(in.nctx);
  // Pass 1: tokens, per-context histograms, raw bits (written forward: the decoder reads them in
  // value order, independent of the rANS stream).
  // (Pointers in locals: the byte stores below may alias anything, which would otherwise force
  // the compiler to reload every field after each of them.)
  const uint32_t* const values = in.values;
  const uint8_t* const contexts = in.contexts;
  const uint8_t* const negative = in.negative;
  const std::unique_ptr<uint8_t[]> token_buf = scratch_array<uint8_t>(n);
  uint8_t* const tokens = token_buf.get();
  // Four interleaved copies of the histograms: increments of the same counter in a row would
  // otherwise wait on each other (store-to-load forwarding).
  const size_t alphabet = token_alphabet(in.scheme);
  const size_t hist_size = nctx * alphabet;
  std::vector<uint32_t> flat_hist(4 * hist_size, 0);  // counts < 2^32: chunks are < 2^28 values
  uint32_t* const hist_data = flat_hist.data();
  const std::unique_ptr<uint8_t[]> raw = scratch_array<uint8_t>(4 * n + 8);  // <= 29 raw + 1 sign bit per value
  uint8_t* raw_out = raw.get();
  uint64_t acc = 0;
  int fill = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t v = values[i];
    const Token t = value_to_token(v, in.scheme);
    const uint8_t c = contexts ? contexts[i] : 0;
    NNZ_CHECK(c < nctx, invalid_argument, "token stream: context out of range");
    tokens[i] = static_cast<uint8_t>(t.token);
    hist_data[(i & 3) * hist_size + c * alphabet + t.token]++;
    // Signed streams append a sign bit to every value but 0 (branch-free: zero is frequent).
    const int has_sign = negative ? (v != 0) : 0;
    const uint64_t bits = t.raw | (static_cast<uint64_t>(negative ? (negative[i] & has_sign) : 0) << t.raw_len);
    const int len = t.raw_len + has_sign;
    // Branch-free flush: at most 30 bits join fewer than 32, so the window never overflows.
    acc |= bits << fill;
    fill += len;
    for (int b = 0; b < 4; ++b) raw_out[b] = static_cast<uint8_t>(acc >> (8 * b));
    const int flushed = (fill >> 5) << 5;  // 0 or 32
    raw_out += flushed >> 3;
    acc = flushed ? acc >> 32 : acc;
    fill -= flushed;
  }
  for (; fill > 0; fill -= 8, acc >>= 8) *raw_out++ = static_cast<uint8_t>(acc);
  const size_t raw_bytes = static_cast<size_t>(raw_out - raw.get());

  std::vector<Histogram> hist(nctx, Histogram(alphabet, 0));
  for (size_t copy = 0; copy < 4; ++copy)
    for (size_t c = 0; c < nctx; ++c)
      for (size_t t = 0; t < alphabet; ++t) hist[c][t] += hist_data[copy * hist_size + c * alphabet + t];
  int ntables = 1;
  const std::vector<uint8_t> table_of = cluster_contexts(hist, ntables);
  std::vector<Histogram> table_hist(static_cast<size_t>(ntables), Histogram(alphabet, 0));
  for (size_t c = 0; c < nctx; ++c)
    for (size_t s = 0; s < alphabet; ++s) table_hist[table_of[c]][s] += hist[c][s];

  const int scale_bits = std::min(in.max_scale_bits, std::max(10, bit_length(n)));
  ByteWriter w(out);
  w.u8(static_cast<uint8_t>(scale_bits));
  w.u8(static_cast<uint8_t>(ntables));
  for (size_t c = 0; c < nctx; c += 2)
    w.u8(static_cast<uint8_t>(table_of[c] | (c + 1 < nctx ? table_of[c + 1] << 4 : 0)));
  std::vector<RansEncTable> tables;
  for (const Histogram& th : table_hist) {
    const std::vector<uint32_t> weights = rans_weights_from_counts(th.data(), th.size());
    rans_write_table(w, weights);
    tables.emplace_back(rans_normalize(weights, scale_bits), scale_bits);
  }
  // Pass 2: the rANS stream, last symbol first; symbol i uses state i % 4.
  const RansEncTable* ctx_table[kTokenMaxContexts];
  for (size_t c = 0; c < nctx; ++c) ctx_table[c] = &tables[table_of[c]];
  auto sym = [&](size_t i) -> const RansEncSymbol& { return (*ctx_table[contexts ? contexts[i] : 0])[tokens[i]]; };
  RansEncoder rans(n);
  size_t i = n;
  for (; i % kRansStates != 0; --i) rans.put(sym(i - 1), i - 1);
  uint32_t* st = rans.states();
  uint32_t s0 = st[0], s1 = st[1], s2 = st[2], s3 = st[3];
  uint8_t* cursor = rans.cursor();
  for (; i > 0; i -= 4) {
    RansEncoder::put(s3, cursor, sym(i - 1));
    RansEncoder::put(s2, cursor, sym(i - 2));
    RansEncoder::put(s1, cursor, sym(i - 3));
    RansEncoder::put(s0, cursor, sym(i - 4));
  }
  rans.cursor() = cursor;
  st[0] = s0, st[1] = s1, st[2] = s2, st[3] = s3;
  const ByteSpan stream = rans.finish();
  w.u64(stream.size);
  w.bytes(stream.data, stream.size);
  w.u64(raw_bytes);
  w.bytes(raw.get(), raw_bytes);
}

}  // namespace nnz
