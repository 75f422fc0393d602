// C++ tests of the core, run under ASan/UBSan in CI. No framework: each test is a function.
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "codecs/codec.hpp"
#include "codecs/lossless.hpp"
#include "common/error.hpp"
#include "entropy/huffman_block.hpp"
#include "entropy/huffman_table.hpp"
#include "expect.hpp"

namespace {

bool throws_code(const std::function<void()>& fn, nnz::ErrorCode code) {
  try {
    fn();
  } catch (const nnz::Error& e) {
    return e.code() == code;
  }
  return false;
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
      nnz::EncodedTensor e = nnz::lossless_encode(nnz::TensorRef{dt, count, data.data()}, nnz::LosslessOptions{4096, 2});
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

}  // namespace

int main() {
  test_huffman_round_trip();
  test_hostile_tables();
  test_lossless_all_dtypes();
  if (failures) {
    std::fprintf(stderr, "%d check(s) failed\n", failures);
    return 1;
  }
  std::puts("core tests passed");
  return 0;
}
