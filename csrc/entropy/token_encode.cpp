#include "entropy/token_encode.hpp"

#include <cmath>
#include <limits>
#include <string>

#include "common/bit_io.hpp"
#include "common/byte_io.hpp"
#include "common/error.hpp"
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
// bits until no merge saves any. Returns the cluster of each context.
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
  for (;;) {
    size_t bi = 0, bj = 0;
    double best = kInf;
    for (size_t i = 0; i < k; ++i)
      for (size_t j = i + 1; j < k; ++j)
        if (gain[i][j] < best) best = gain[i][j], bi = i, bj = j;
    if (!(best < 0)) break;
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
  const size_t n = in.n;
  const size_t nctx = static_cast<size_t>(in.nctx);
  std::vector<uint8_t> tokens(n);
  std::vector<Histogram> hist(nctx, Histogram(kTokenAlphabet, 0));
  std::vector<uint8_t> raw;
  BitWriter raw_bits(raw);
  for (size_t i = 0; i < n; ++i) {
    const Token t = value_to_token(in.values[i]);
    const uint8_t c = in.contexts ? in.contexts[i] : 0;
    NNZ_CHECK(c < nctx, invalid_argument, "token stream: context out of range");
    tokens[i] = static_cast<uint8_t>(t.token);
    hist[c][t.token]++;
    if (t.raw_len) raw_bits.put(t.raw, t.raw_len);
    if (in.negative && in.values[i] != 0) raw_bits.put(in.negative[i] ? 1 : 0, 1);
  }
  raw_bits.finish();

  int ntables = 1;
  const std::vector<uint8_t> table_of = cluster_contexts(hist, ntables);
  std::vector<Histogram> table_hist(static_cast<size_t>(ntables), Histogram(kTokenAlphabet, 0));
  for (size_t c = 0; c < nctx; ++c)
    for (size_t s = 0; s < kTokenAlphabet; ++s) table_hist[table_of[c]][s] += hist[c][s];

  const int scale_bits = std::min(kRansMaxScaleBits, std::max(10, bit_length(n)));
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
  RansEncoder rans;
  for (size_t i = n; i-- > 0;) {
    const uint8_t c = in.contexts ? in.contexts[i] : 0;
    rans.put(tables[table_of[c]][tokens[i]], i);
  }
  const std::vector<uint8_t> stream = rans.finish();
  w.u64(stream.size());
  w.bytes(stream);
  w.u64(raw.size());
  w.bytes(raw);
}

}  // namespace nnz
