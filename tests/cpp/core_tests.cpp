// C++ tests of the core, run under ASan/UBSan in CI. No framework: each test is a function.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "codecs/codec_table.hpp"
#include "codecs/delta/delta.hpp"
#include "codecs/dq/dq.hpp"
#include "codecs/eb/eb.hpp"
#include "codecs/grid/grid_encode.hpp"
#include "codecs/lossless/lossless.hpp"
#include "extras/matrix_formats.hpp"
#include "codecs/pl/pl.hpp"
#include "codecs/sparse/sparse.hpp"
#include "common/error.hpp"
#include "entropy/huffman_decode.hpp"
#include "entropy/huffman_encode.hpp"
#include "entropy/lane_rans_decode.hpp"
#include "entropy/lane_rans_encode.hpp"
#include "entropy/rans_decode.hpp"
#include "entropy/rans_encode.hpp"
#include "entropy/rans_table.hpp"
#include "entropy/positions_decode.hpp"
#include "entropy/positions_encode.hpp"
#include "entropy/token_decode.hpp"
#include "entropy/token_encode.hpp"
#include "extras/prune_select.hpp"
#include "extras/rowcol_prune.hpp"
#include "transform/float_convert.hpp"
#include "expect.hpp"

namespace {

// A coded tensor with its payload in one piece (the tests read and damage it byte by byte).
nnz::EncodedTensor gathered(nnz::EncodedTensor e) {
  for (const std::vector<uint8_t>& chunk : e.chunks) e.payload.insert(e.payload.end(), chunk.begin(), chunk.end());
  e.chunks.clear();
  return e;
}

void test_huffman_round_trip() {
  std::mt19937 rng(1);
  for (size_t alphabet : {2u, 7u, 256u, 4096u}) {
    for (size_t n : {1u, 2u, 255u, 256u, 1000u, 100003u}) {
      std::geometric_distribution<int> geo(0.3);
      std::vector<uint16_t> syms(n);
      for (auto& s : syms) s = static_cast<uint16_t>(std::min<size_t>(static_cast<size_t>(geo(rng)), alphabet - 1));
      syms[0] = 0;
      if (n > 1) syms[1] = 1;
      std::vector<uint64_t> freq(alphabet, 0);
      for (auto s : syms) freq[s]++;
      size_t used = 0;
      for (auto f : freq) used += f != 0;
      if (used < 2) continue;
      auto lengths = nnz::huffman_code_lengths(freq.data(), alphabet, nnz::kHuffmanMaxBits);
      std::vector<uint8_t> block;
      nnz::huffman_encode_block(syms.data(), n, alphabet, lengths, block);
      EXPECT(block.size() <= nnz::huffman_block_bytes(freq.data(), alphabet, lengths));
      std::vector<uint16_t> back(n);
      nnz::huffman_decode_block(nnz::ByteSpan{block.data(), block.size()}, n, alphabet, back.data());
      EXPECT(back == syms);
      // Every truncation is an error, never a crash.
      for (size_t cut = 0; cut < block.size(); cut += 1 + block.size() / 64) {
        EXPECT(throws_code([&] { nnz::huffman_decode_block(nnz::ByteSpan{block.data(), cut}, n, alphabet, back.data()); },
                           nnz::ErrorCode::corrupt));
      }
    }
  }
}

// Both output widths, across skews (one to six codes per table lookup), around the sizes where the
// decoder switches tables and the batched loop hands over to the checked tails. Symbols are
// mapped to random alphabet positions so codes do not follow symbol order.
void test_huffman_byte_and_wide_outputs_agree() {
  std::mt19937 rng(2);
  for (size_t alphabet : {2u, 3u, 256u, 4096u}) {
    std::vector<uint16_t> position(alphabet);
    for (size_t s = 0; s < alphabet; ++s) position[s] = static_cast<uint16_t>(s);
    std::shuffle(position.begin(), position.end(), rng);
    for (double p : {0.02, 0.3, 0.9}) {
      for (size_t n : {4095u, 4096u, 4097u, 4123u, 20000u, 262144u}) {
        std::geometric_distribution<int> geo(p);
        std::vector<uint16_t> syms(n);
        for (auto& s : syms) s = position[std::min<size_t>(static_cast<size_t>(geo(rng)), alphabet - 1)];
        syms[0] = position[0];
        syms[1] = position[1];
        std::vector<uint64_t> freq(alphabet, 0);
        for (auto s : syms) freq[s]++;
        const auto lengths = nnz::huffman_code_lengths(freq.data(), alphabet, nnz::kHuffmanMaxBits);
        std::vector<uint8_t> block;
        nnz::huffman_encode_block(syms.data(), n, alphabet, lengths, block);
        const nnz::ByteSpan span{block.data(), block.size()};
        std::vector<uint16_t> wide(n);
        nnz::huffman_decode_block(span, n, alphabet, wide.data());
        EXPECT(wide == syms);
        std::vector<uint8_t> narrow(n);
        if (alphabet > 256) {
          EXPECT(throws_code([&] { nnz::huffman_decode_block(span, n, alphabet, narrow.data()); }, nnz::ErrorCode::internal));
          continue;
        }
        nnz::huffman_decode_block(span, n, alphabet, narrow.data());
        EXPECT(std::equal(narrow.begin(), narrow.end(), syms.begin()));
        // Damage near the end of the last stream (where the checked tail decodes) and in the
        // middle: an error or other symbols, never a read or write out of bounds (ASan build).
        for (size_t at : {block.size() - 1, block.size() - 9, block.size() / 2}) {
          std::vector<uint8_t> bad = block;
          bad[at] ^= 0x5A;
          try {
            nnz::huffman_decode_block(nnz::ByteSpan{bad.data(), bad.size()}, n, alphabet, narrow.data());
          } catch (const nnz::Error& e) {
            EXPECT(e.code() == nnz::ErrorCode::corrupt);
          }
        }
      }
    }
  }
}

void test_hostile_tables() {
  // first=0, count=3, lengths 1,1,1: over-subscribed.
  std::vector<uint8_t> over = {0, 0, 3, 0, 0x11, 0x01};
  nnz::ByteReader r1(over.data(), over.size(), "t");
  EXPECT(throws_code([&] { nnz::huffman_read_table(r1, 16); }, nnz::ErrorCode::corrupt));
  // lengths 1,2: incomplete.
  std::vector<uint8_t> incomplete = {0, 0, 2, 0, 0x21};
  nnz::ByteReader r2(incomplete.data(), incomplete.size(), "t");
  EXPECT(throws_code([&] { nnz::huffman_read_table(r2, 16); }, nnz::ErrorCode::corrupt));
  // length 13: too long.
  std::vector<uint8_t> too_long = {0, 0, 2, 0, 0xD1};
  nnz::ByteReader r3(too_long.data(), too_long.size(), "t");
  EXPECT(throws_code([&] { nnz::huffman_read_table(r3, 16); }, nnz::ErrorCode::corrupt));
  // range past the alphabet.
  std::vector<uint8_t> past = {15, 0, 2, 0, 0x11};
  nnz::ByteReader r4(past.data(), past.size(), "t");
  EXPECT(throws_code([&] { nnz::huffman_read_table(r4, 16); }, nnz::ErrorCode::corrupt));
}

void test_lossless_all_dtypes() {
  std::mt19937_64 rng(2);
  for (nnz::DType dt : {nnz::DType::float32, nnz::DType::float16, nnz::DType::bfloat16, nnz::DType::float64,
                        nnz::DType::int8, nnz::DType::uint8, nnz::DType::int16, nnz::DType::uint16, nnz::DType::int32,
                        nnz::DType::uint32, nnz::DType::int64, nnz::DType::uint64, nnz::DType::boolean}) {
    for (uint64_t count : {0u, 1u, 5u, 1000u, 70000u}) {
      const size_t bytes = count * static_cast<size_t>(nnz::dtype_bytes(dt));
      std::vector<uint8_t> data(bytes);
      for (auto& b : data) b = static_cast<uint8_t>(rng() & (rng() % 3 ? 0x0F : 0xFF));
      nnz::EncodedTensor e = gathered(nnz::LosslessCodec::encode(nnz::TensorRef{dt, count, data.data()}, nnz::LosslessOptions{4096, 2}));
      std::vector<uint8_t> out(bytes);
      nnz::decode_tensor(nnz::DecodeRequest{e.codec, dt, count, nnz::ByteSpan{e.params.data(), e.params.size()},
                                            nnz::ByteSpan{e.payload.data(), e.payload.size()}},
                         out.data(), 2);
      EXPECT(out == data);
      // Flipping any byte of a small payload gives an error or some output, never UB.
      if (count == 5) {
        for (size_t i = 0; i < e.payload.size(); ++i) {
          std::vector<uint8_t> bad = e.payload;
          bad[i] ^= 0x5A;
          try {
            nnz::decode_tensor(nnz::DecodeRequest{e.codec, dt, count, nnz::ByteSpan{e.params.data(), e.params.size()},
                                                  nnz::ByteSpan{bad.data(), bad.size()}},
                               out.data(), 1);
          } catch (const nnz::Error&) {
          }
        }
      }
    }
  }
}

std::vector<float> pl_test_values(std::mt19937_64& rng, size_t n, float scale) {
  std::normal_distribution<float> normal(0.0f, scale);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  const float specials[] = {NAN, INFINITY, -INFINITY, 0.0f, -0.0f, 1e-45f, 3.4e38f};
  for (size_t i = 0; i < n && i < 7; ++i) v[(i * 7919) % n] = specials[i];
  return v;
}

void test_pl_bound_and_damage() {
  std::mt19937_64 rng(3);
  for (bool exact : {false, true}) {
    for (size_t n : {0u, 1u, 100u, 5000u}) {
      for (double p : {0.0, 1e-3, 0.3}) {
        std::vector<float> v = pl_test_values(rng, n, 1.0f);
        nnz::PlOptions options;
        options.fit = nnz::PlFitOptions{p, 2, 0.05, exact};
        options.block_elems = exact ? 100 : 1024;
        options.threads = 2;
        nnz::PlStats stats;
        const auto* bytes = reinterpret_cast<const uint8_t*>(v.data());
        nnz::EncodedTensor e = nnz::pl_encode_with_stats(nnz::TensorRef{nnz::DType::float32, n, bytes}, options, stats);
        std::vector<float> out(n);
        nnz::DecodeRequest req{e.codec, nnz::DType::float32, n, nnz::ByteSpan{e.params.data(), e.params.size()},
                               nnz::ByteSpan{e.payload.data(), e.payload.size()}};
        nnz::decode_tensor(req, reinterpret_cast<uint8_t*>(out.data()), 2);
        double worst = 0;
        for (size_t i = 0; i < n; ++i) {
          if (std::isfinite(v[i])) {
            worst = std::max(worst, std::fabs(static_cast<double>(out[i]) - v[i]));
          } else {
            EXPECT(std::memcmp(&out[i], &v[i], 4) == 0);
          }
        }
        EXPECT(worst <= p);
        EXPECT(worst == stats.max_error);
        // Damaged payloads: an error or some output, never undefined behaviour.
        if (n == 100) {
          for (size_t i = 0; i < e.payload.size(); ++i) {
            std::vector<uint8_t> bad = e.payload;
            bad[i] ^= static_cast<uint8_t>(1 + rng() % 255);
            try {
              nnz::decode_tensor(nnz::DecodeRequest{e.codec, nnz::DType::float32, n, req.params,
                                                    nnz::ByteSpan{bad.data(), bad.size()}},
                                 reinterpret_cast<uint8_t*>(out.data()), 1);
            } catch (const nnz::Error&) {
            }
          }
          EXPECT(throws_code([&] {
            nnz::decode_tensor(nnz::DecodeRequest{e.codec, nnz::DType::float32, n, req.params,
                                                  nnz::ByteSpan{e.payload.data(), e.payload.size() - 1}},
                               reinterpret_cast<uint8_t*>(out.data()), 1);
          }, nnz::ErrorCode::corrupt));
        }
      }
    }
  }
}

void test_matrix_formats_round_trip() {
  std::mt19937_64 rng(4);
  for (const char* name : {"dense", "csr32", "csr", "cer", "cser"}) {
    const nnz::MatrixFormat f = nnz::matrix_format_by_name(name);
    for (uint64_t rows : {1u, 3u, 16u}) {
      const uint64_t count = rows * 24;
      std::vector<float> v(count);
      for (float& x : v) x = rng() % 3 == 0 ? 0.0f : static_cast<float>(static_cast<int>(rng() % 7) - 3);
      const nnz::TensorRef t{nnz::DType::float32, count, reinterpret_cast<const uint8_t*>(v.data())};
      const std::vector<uint8_t> bytes = nnz::matrix_format_encode(f, t, rows);
      EXPECT(bytes.size() == nnz::matrix_format_bytes(f, t, rows));
      std::vector<float> out(count);
      nnz::matrix_format_decode(f, nnz::ByteSpan{bytes.data(), bytes.size()}, nnz::DType::float32, count, rows,
                                reinterpret_cast<uint8_t*>(out.data()));
      EXPECT(std::memcmp(out.data(), v.data(), count * 4) == 0);
      for (size_t i = 0; i < bytes.size(); ++i) {
        std::vector<uint8_t> bad = bytes;
        bad[i] ^= static_cast<uint8_t>(1 + rng() % 255);
        try {
          nnz::matrix_format_decode(f, nnz::ByteSpan{bad.data(), bad.size()}, nnz::DType::float32, count, rows,
                                    reinterpret_cast<uint8_t*>(out.data()));
        } catch (const nnz::Error&) {
        }
      }
    }
  }
}

void test_prune_selection() {
  EXPECT(nnz::required_removed(0.9, 100) == 90);
  EXPECT(nnz::required_removed(0.5, 3) == 2);
  EXPECT(nnz::required_removed(1.0, 0) == 0);
  EXPECT(throws_code([] { nnz::required_removed(1.5, 3); }, nnz::ErrorCode::invalid_argument));
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const std::vector<float> a = {3, nan, -1, 0, 2}, b = {1, 1};
  // 7 items, half: at least 4 go: 0, -1 (|.|=1), then the tie at 1 in order (b[0], b[1]) -> only b[0] needed.
  auto removed = nnz::select_smallest_groups({{a.data(), a.size(), 1}, {b.data(), b.size(), 1}}, 0.5);
  EXPECT((removed[0] == std::vector<uint8_t>{0, 0, 1, 1, 0}));
  EXPECT((removed[1] == std::vector<uint8_t>{1, 1}));
  removed = nnz::select_smallest_groups({{a.data(), a.size(), 1}}, 1.0);
  EXPECT((removed[0] == std::vector<uint8_t>{1, 1, 1, 1, 1}));
  // Groups of 3: at least 40% of 6 parameters = 3 -> the one group of smallest score.
  removed = nnz::select_smallest_groups({{b.data(), b.size(), 3}}, 0.4);
  EXPECT((removed[0] == std::vector<uint8_t>{1, 0}));
}

double brute_force_rowcol(const nnz::RowColMatrix& w, double sparsity) {
  const uint64_t limit = nnz::rowcol_kept_limit(w.rows, w.cols, sparsity);
  double best = std::numeric_limits<double>::infinity();
  for (uint32_t rm = 0; rm < (1u << w.rows); ++rm)
    for (uint32_t cm = 0; cm < (1u << w.cols); ++cm) {
      std::vector<uint8_t> rows(w.rows), cols(w.cols);
      uint64_t kr = 0, kc = 0;
      for (size_t i = 0; i < w.rows; ++i) kr += (rows[i] = (rm >> i) & 1u) == 0;
      for (size_t j = 0; j < w.cols; ++j) kc += (cols[j] = (cm >> j) & 1u) == 0;
      if (kr * kc <= limit) best = std::min(best, nnz::rowcol_removed_magnitude(w, rows, cols));
    }
  return best;
}

void test_rowcol_against_brute_force() {
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  for (int trial = 0; trial < 200; ++trial) {
    const size_t m = 1 + rng() % 5, n = 1 + rng() % 5;
    const double sparsity = static_cast<double>(rng() % 21) / 20.0;
    std::vector<float> data(m * n);
    for (auto& v : data) v = rng() % 4 ? normal(rng) : 0.0f;
    const nnz::RowColMatrix w{data.data(), m, n};
    const double optimum = brute_force_rowcol(w, sparsity);
    const uint64_t limit = nnz::rowcol_kept_limit(m, n, sparsity);
    const auto line = nnz::rowcol_line_sums(w, sparsity);
    const auto cond = nnz::rowcol_conditional(w, sparsity);
    const auto annealed = nnz::rowcol_anneal(w, sparsity, line, nnz::AnnealOptions{500, 9});
    const auto again = nnz::rowcol_anneal(w, sparsity, line, nnz::AnnealOptions{500, 9});
    for (const auto* s : {&line, &cond, &annealed}) {
      uint64_t kr = 0, kc = 0;
      for (uint8_t f : s->removed_rows) kr += f == 0;
      for (uint8_t f : s->removed_cols) kc += f == 0;
      EXPECT(kr * kc <= limit);
      EXPECT(s->removed_magnitude <= 2 * optimum + 1e-9);
      EXPECT(s->removed_magnitude >= optimum - 1e-9);
    }
    EXPECT(annealed.removed_magnitude <= line.removed_magnitude);
    EXPECT(again.removed_rows == annealed.removed_rows && again.removed_cols == annealed.removed_cols);
  }
  std::vector<float> bad = {1.0f, std::numeric_limits<float>::infinity()};
  EXPECT(throws_code([&] { nnz::rowcol_conditional(nnz::RowColMatrix{bad.data(), 1, 2}, 0.5); },
                     nnz::ErrorCode::invalid_argument));
}

nnz::DecodeRequest request(const nnz::EncodedTensor& e, nnz::DType dt, uint64_t count,
                           const std::vector<uint8_t>& payload) {
  return nnz::DecodeRequest{e.codec, dt, count, nnz::ByteSpan{e.params.data(), e.params.size()},
                            nnz::ByteSpan{payload.data(), payload.size()}};
}

// Decoding damaged bytes must end in an nnz::Error or some output: never a crash (ASan/UBSan).
template <typename Decode>
void damage_everywhere(const std::vector<uint8_t>& bytes, Decode decode) {
  for (size_t cut = 0; cut < bytes.size(); cut += 1 + bytes.size() / 50) {
    std::vector<uint8_t> truncated(bytes.begin(), bytes.begin() + static_cast<long>(cut));
    EXPECT(throws_code([&] { decode(truncated); }, nnz::ErrorCode::corrupt));
  }
  std::mt19937 rng(7);
  for (int k = 0; k < 300; ++k) {
    std::vector<uint8_t> bad = bytes;
    bad[rng() % bad.size()] ^= static_cast<uint8_t>(1 + rng() % 255);
    try {
      decode(bad);
    } catch (const nnz::Error&) {
    }
  }
}

// damage_everywhere on a coded tensor's payload, then on its parameters.
void damage_payload_and_params(const nnz::EncodedTensor& e, nnz::DType dtype, uint64_t n, std::vector<uint8_t>& out) {
  damage_everywhere(e.payload, [&](const std::vector<uint8_t>& bytes) {
    nnz::decode_tensor(request(e, dtype, n, bytes), out.data(), 1);
  });
  damage_everywhere(e.params, [&](const std::vector<uint8_t>& params) {
    nnz::EncodedTensor damaged = e;
    damaged.params = params;
    nnz::decode_tensor(request(damaged, dtype, n, e.payload), out.data(), 1);
  });
}

// Both token schemes, 5 and 64 contexts (more contexts than tables), and both ways of reading:
// value by value, and tokens first, then the values (two passes).
void test_token_streams() {
  std::mt19937 rng(3);
  for (const nnz::TokenScheme scheme : {nnz::TokenScheme::plain, nnz::TokenScheme::parity})
    for (const int nctx : {5, 64})
      for (size_t n : {0u, 1u, 3u, 4u, 5u, 1000u, 70001u}) {
        std::vector<uint32_t> values(n);
        std::vector<uint8_t> ctx(n), neg(n);
        for (size_t i = 0; i < n; ++i) {
          values[i] = i % 97 == 0 ? static_cast<uint32_t>(rng()) : static_cast<uint32_t>(rng() % 40);
          ctx[i] = static_cast<uint8_t>((values[i] + i / 64) % static_cast<uint32_t>(nctx));
          neg[i] = static_cast<uint8_t>(rng() & 1);
        }
        std::vector<uint8_t> stream;
        nnz::TokenStreamInput input{values.data(), ctx.data(), neg.data(), n, nctx, scheme};
        nnz::encode_token_stream(input, stream);
        auto decode = [&](const std::vector<uint8_t>& bytes, bool two_passes) {
          nnz::ByteReader in(bytes.data(), bytes.size(), "test");
          nnz::TokenStreamDecoder dec(in, nctx, scheme);
          std::vector<int64_t> out(n);
          if (two_passes) {
            std::vector<uint32_t> tokens(n);
            for (size_t i = 0; i < n; ++i) tokens[i] = dec.token(ctx[i]);
            for (size_t i = 0; i < n; ++i) out[i] = dec.signed_value(tokens[i]);
          } else {
            for (size_t i = 0; i < n; ++i) out[i] = dec.next_signed(ctx[i]);
          }
          dec.finish();
          in.expect_end();
          return out;
        };
        for (const bool two_passes : {false, true}) {
          const std::vector<int64_t> back = decode(stream, two_passes);
          bool same = true;
          for (size_t i = 0; i < n; ++i)
            same = same && back[i] == (neg[i] && values[i] ? -int64_t{values[i]} : int64_t{values[i]});
          EXPECT(same);
        }
        if (n == 1000 && nctx == 64) damage_everywhere(stream, [&](const std::vector<uint8_t>& b) { decode(b, true); });
      }
}

// Lane rANS: skewed symbols with up to 16 contexts round-trip at the lowest and highest precision,
// for counts below one round of 64 lanes, around it and long enough for the vector decoder;
// truncated streams are corrupt and damaged ones end in an error or some output.
void test_lane_rans_round_trip_and_damage() {
  std::mt19937 rng(5);
  for (const int nctx : {1, 3, 16})
    for (const int scale_bits : {8, 12})
      for (size_t n : {0u, 1u, 63u, 64u, 65u, 1000u, 12293u, 100000u}) {
        std::vector<uint8_t> symbols(n), contexts(n);
        std::vector<std::vector<uint64_t>> counts(static_cast<size_t>(nctx), std::vector<uint64_t>(32, 0));
        for (size_t i = 0; i < n; ++i) {
          contexts[i] = static_cast<uint8_t>(rng() % static_cast<uint32_t>(nctx));
          const uint32_t r = static_cast<uint32_t>(rng() % 100);
          symbols[i] = static_cast<uint8_t>(r < 60 ? contexts[i] % 4 : r < 95 ? r % 12 : rng() % 32);
          ++counts[contexts[i]][symbols[i]];
        }
        std::vector<std::vector<uint32_t>> freq;
        std::vector<uint32_t> tables(static_cast<size_t>(nctx) << scale_bits);
        for (int c = 0; c < nctx; ++c) {
          counts[static_cast<size_t>(c)][0] += 1;  // every table codes something
          freq.push_back(nnz::rans_normalize(nnz::rans_weights_from_counts(counts[static_cast<size_t>(c)].data(), 32),
                                             scale_bits));
          nnz::rans_fill_dec_table(freq.back(), scale_bits, tables.data() + (static_cast<size_t>(c) << scale_bits));
        }
        std::vector<uint8_t> stream;
        nnz::lane_rans_encode(symbols.data(), contexts.data(), n, freq, scale_bits, stream);
        auto decode = [&](const std::vector<uint8_t>& bytes) {
          std::vector<uint8_t> out(n);
          nnz::lane_rans_decode(nnz::ByteSpan{bytes.data(), bytes.size()}, tables.data(), scale_bits, contexts.data(), n,
                                out.data());
          return out;
        };
        EXPECT(decode(stream) == symbols);
        if (n == 1000 || n == 12293) damage_everywhere(stream, decode);
      }
}

// dq: every dtype within its RMSE bound, NaN and infinities exact, the same bytes at any thread
// count, damaged payloads and parameters rejected or decoded without undefined behaviour.
void test_dq_rmse_bound_and_damage() {
  std::mt19937 rng(6);
  std::normal_distribution<double> normal(0.0, 1.0);
  for (const nnz::DType dtype : {nnz::DType::float32, nnz::DType::float16, nnz::DType::bfloat16, nnz::DType::float64})
    for (size_t n : {1u, 7u, 5000u, 70000u}) {
      const size_t esize = static_cast<size_t>(nnz::dtype_bytes(dtype));
      std::vector<uint8_t> data(n * esize);
      for (size_t i = 0; i < n; ++i) {
        const double scale = 0.02 * (1 + static_cast<double>((i / 300) % 5));  // rows of different scales
        const double v = i == 2 ? NAN : i == 5 ? -INFINITY : i == 6 ? 40.0 : normal(rng) * scale;
        nnz::store_float(dtype, v, data.data() + i * esize);
      }
      const double bound = 0.004;
      const nnz::TensorRef t{dtype, n, data.data()};
      const nnz::EncodedTensor e = gathered(nnz::DqCodec::encode(t, nnz::DqOptions{bound, 16384, 2}));
      EXPECT(gathered(nnz::DqCodec::encode(t, nnz::DqOptions{bound, 16384, 1})).payload == e.payload);
      std::vector<uint8_t> out(data.size());
      nnz::decode_tensor(request(e, dtype, n, e.payload), out.data(), 2);
      double squared = 0;
      bool exact_specials = true;
      for (size_t i = 0; i < n; ++i) {
        const double w = nnz::load_float(dtype, data.data() + i * esize), d = nnz::load_float(dtype, out.data() + i * esize);
        if (std::isfinite(w)) squared += (d - w) * (d - w);
        else exact_specials = exact_specials && std::memcmp(&data[i * esize], &out[i * esize], esize) == 0;
      }
      EXPECT(exact_specials);
      EXPECT(std::sqrt(squared / static_cast<double>(n)) <= bound);
      const nnz::CodecDescription d = nnz::DqCodec::describe(nnz::ByteSpan{e.params.data(), e.params.size()});
      EXPECT(d.rmse_bound == bound && d.rmse <= bound && d.max_error >= d.rmse);
      if (dtype == nnz::DType::float32 && n == 5000) {
        damage_payload_and_params(e, dtype, n, out);
      }
    }
}

void test_eb_bound_and_hostile_payloads() {
  std::mt19937 rng(4);
  std::normal_distribution<float> normal(0.0f, 0.1f);
  std::vector<float> w(20000);
  for (float& x : w) x = normal(rng);
  w[3] = NAN;
  w[9] = -INFINITY;
  const double error = 0.004;
  const nnz::TensorRef t{nnz::DType::float32, w.size(), reinterpret_cast<const uint8_t*>(w.data())};
  const nnz::EncodedTensor e = gathered(nnz::EbCodec::encode(t, nnz::EbOptions{error, 4096, 2}));
  std::vector<float> out(w.size());
  nnz::decode_tensor(request(e, nnz::DType::float32, w.size(), e.payload), reinterpret_cast<uint8_t*>(out.data()), 2);
  bool ok = std::isnan(out[3]) && out[9] == -INFINITY;
  for (size_t i = 0; i < w.size(); ++i)
    if (std::isfinite(w[i])) ok = ok && std::fabs(static_cast<double>(out[i]) - w[i]) <= error;
  EXPECT(ok);
  damage_everywhere(e.payload, [&](const std::vector<uint8_t>& bytes) {
    nnz::decode_tensor(request(e, nnz::DType::float32, w.size(), bytes), reinterpret_cast<uint8_t*>(out.data()), 1);
  });
}

void test_sparse_and_positions() {
  std::mt19937 rng(5);
  std::vector<float> w(30000, 0.0f);
  for (size_t i = 0; i < w.size(); ++i)
    if (rng() % 10 == 0) w[i] = static_cast<float>(rng() % 1000) / 7.0f + 1.0f;
  const nnz::TensorRef t{nnz::DType::float32, w.size(), reinterpret_cast<const uint8_t*>(w.data())};
  const std::vector<uint8_t> values = nnz::sparse_values(t);
  const nnz::TensorRef vt{nnz::DType::float32, values.size() / 4, values.data()};
  const nnz::EncodedTensor e =
      gathered(nnz::SparseCodec::encode(t, nnz::SparseSettings{nnz::LosslessCodec::encode(vt, nnz::LosslessOptions{})}));
  std::vector<float> out(w.size());
  nnz::decode_tensor(request(e, nnz::DType::float32, w.size(), e.payload), reinterpret_cast<uint8_t*>(out.data()), 1);
  EXPECT(out == w);
  damage_everywhere(e.payload, [&](const std::vector<uint8_t>& bytes) {
    nnz::decode_tensor(request(e, nnz::DType::float32, w.size(), bytes), reinterpret_cast<uint8_t*>(out.data()), 1);
  });
  for (double density : {0.0, 0.01, 0.5, 1.0}) {
    std::vector<uint8_t> mask(5000);
    for (uint8_t& m : mask) m = static_cast<uint8_t>(static_cast<double>(rng() % 1000) < density * 1000);
    std::vector<uint8_t> stream;
    nnz::encode_positions(mask.data(), mask.size(), stream);
    std::vector<uint8_t> back(mask.size());
    nnz::ByteReader in(stream.data(), stream.size(), "test");
    nnz::decode_positions(in, back.size(), back.data());
    EXPECT(back == mask && in.at_end());
  }
}

}  // namespace

// A base for delta tensors: one tensor's bytes, whatever the reference says (the reader checks those).
struct FixedBase : nnz::BaseResolver {
  nnz::ByteSpan bytes;
  nnz::ByteSpan resolve(uint8_t, uint32_t, nnz::DType, uint64_t, std::vector<uint8_t>&) const override { return bytes; }
};

void test_delta_all_dtypes_and_damage() {
  std::mt19937 rng(11);
  const nnz::DType dtypes[] = {nnz::DType::float32, nnz::DType::float16, nnz::DType::bfloat16, nnz::DType::float64,
                               nnz::DType::int8,    nnz::DType::uint8,   nnz::DType::int16,    nnz::DType::int32,
                               nnz::DType::uint64,  nnz::DType::boolean};
  for (nnz::DType dt : dtypes) {
    const size_t esize = static_cast<size_t>(nnz::dtype_bytes(dt));
    for (size_t n : {0u, 1u, 7u, 1000u, 70001u}) {
      std::vector<uint8_t> base(n * esize), x;
      for (uint8_t& b : base) b = static_cast<uint8_t>(rng());
      if (dt == nnz::DType::boolean) for (uint8_t& b : base) b &= 1;
      x = base;
      for (size_t i = 0; i < n; ++i)  // a few bits of most elements, some elements entirely
        x[i * esize] = static_cast<uint8_t>(i % 13 == 0 ? rng() : x[i * esize] + rng() % 5);
      if (dt == nnz::DType::boolean) for (uint8_t& b : x) b &= 1;
      for (int contexts : {1, 16}) {
        nnz::DeltaOptions o;
        o.base = base.data();
        o.chunk_elems = 4096;
        o.max_contexts = contexts;
        const nnz::EncodedTensor e = gathered(nnz::DeltaCodec::encode(nnz::TensorRef{dt, n, x.data()}, o));
        FixedBase fb;
        fb.bytes = nnz::ByteSpan{base.data(), base.size()};
        auto decode = [&](const std::vector<uint8_t>& payload) {
          std::vector<uint8_t> out(n * esize);
          nnz::DecodeRequest req = request(e, dt, n, payload);
          req.base = &fb;
          nnz::decode_tensor(req, out.data(), 2);
          return out;
        };
        EXPECT(decode(e.payload) == x);
        EXPECT(throws_code([&] { nnz::decode_tensor(request(e, dt, n, e.payload), x.data(), 1); }, nnz::ErrorCode::base));
        if (n == 1000 && !e.payload.empty()) damage_everywhere(e.payload, decode);
      }
    }
  }
  // Equal tensors are a reference alone; parameters are checked.
  std::vector<uint8_t> same(64, 3);
  nnz::DeltaOptions o;
  o.base = same.data();
  const nnz::EncodedTensor copy = gathered(nnz::DeltaCodec::encode(nnz::TensorRef{nnz::DType::float32, 16, same.data()}, o));
  EXPECT(copy.payload.empty());
  EXPECT(nnz::read_delta_params(nnz::ByteSpan{copy.params.data(), copy.params.size()}).transform ==
         nnz::DeltaTransform::copy);
  for (size_t cut = 0; cut < copy.params.size(); ++cut)
    EXPECT(throws_code([&] { nnz::read_delta_params(nnz::ByteSpan{copy.params.data(), cut}); }, nnz::ErrorCode::corrupt));
  std::vector<uint8_t> newer = copy.params;
  newer[0] = 2;
  EXPECT(throws_code([&] { nnz::read_delta_params(nnz::ByteSpan{newer.data(), newer.size()}); },
                     nnz::ErrorCode::unsupported));
}

// lossless-grid: fake-quantized elements (per run or per column) with elements off the grid
// (NaN, infinities, -0, an outlier) round-trip bit for bit in every float dtype and both
// layouts, whatever the threads; damaged payloads and parameters fail cleanly. (Scales are
// found from the elements: 16-bit elements rounded from products with a wider scale are not.)
void test_grid_round_trip_and_damage() {
  std::mt19937 rng(8);
  std::uniform_int_distribution<int> level(-127, 127);
  for (const nnz::DType dtype : {nnz::DType::float32, nnz::DType::float16, nnz::DType::bfloat16, nnz::DType::float64})
    for (const nnz::GridLayout layout : {nnz::GridLayout::runs, nnz::GridLayout::columns})
      for (size_t n : {1u, 7u, 5000u, 70000u}) {
        const uint32_t block = n < 100 ? 3 : n < 10000 ? 250 : 2000;  // runs of 2000 decode by a table
        const size_t esize = static_cast<size_t>(nnz::dtype_bytes(dtype));
        std::vector<uint8_t> data(n * esize);
        for (size_t i = 0; i < n; ++i) {
          const uint64_t b = nnz::grid_scale_index(layout, block, i);
          // A scale the dtype holds (16-bit models keep their scales in their dtype).
          uint8_t* x = data.data() + i * esize;
          const double s = nnz::store_float(dtype, std::ldexp(1.0 + 0.37 * static_cast<double>(b % 7), -9), x);
          nnz::grid_element(dtype, level(rng), s, x);
          if (i == 2) nnz::store_float(dtype, NAN, x);
          if (i == 4) nnz::store_float(dtype, -INFINITY, x);
          if (i == 5) nnz::store_float(dtype, -0.0, x);
          if (i == 6) nnz::store_float(dtype, 3.3, x);
        }
        const nnz::TensorRef t{dtype, n, data.data()};
        const nnz::GridOptions options{layout, block, 4096, 2};
        EXPECT(nnz::grid_exact_share(t, layout, block, 16) > (n < 100 ? 0.3 : 0.99));
        const nnz::EncodedTensor e = gathered(nnz::LosslessGridCodec::encode(t, options));
        nnz::GridOptions one_thread = options;
        one_thread.threads = 1;
        EXPECT(gathered(nnz::LosslessGridCodec::encode(t, one_thread)).payload == e.payload);
        std::vector<uint8_t> out(data.size());
        nnz::decode_tensor(request(e, dtype, n, e.payload), out.data(), 2);
        EXPECT(out == data);
        if (n == 5000 && dtype == nnz::DType::bfloat16) {
          // A byte per level, the scales (float32), tables and the four exceptions.
          EXPECT(e.payload.size() < n + 4 * nnz::grid_scale_count(layout, block, n) + 600);
          damage_payload_and_params(e, dtype, n, out);
        }
      }
  std::vector<uint8_t> ints(64);
  EXPECT(throws_code([&] { nnz::LosslessGridCodec::encode(nnz::TensorRef{nnz::DType::int32, 16, ints.data()}, {}); },
                     nnz::ErrorCode::invalid_argument));
}

int main() {
  test_huffman_round_trip();
  test_huffman_byte_and_wide_outputs_agree();
  test_hostile_tables();
  test_lossless_all_dtypes();
  test_pl_bound_and_damage();
  test_matrix_formats_round_trip();
  test_prune_selection();
  test_rowcol_against_brute_force();
  test_token_streams();
  test_lane_rans_round_trip_and_damage();
  test_eb_bound_and_hostile_payloads();
  test_dq_rmse_bound_and_damage();
  test_sparse_and_positions();
  test_delta_all_dtypes_and_damage();
  test_grid_round_trip_and_damage();
  return exit_status("core tests");
}
