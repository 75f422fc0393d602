#include <string>

#include "common/byte_io.hpp"
#include "common/error.hpp"
#include "entropy/positions_encode.hpp"
#include "entropy/token_encode.hpp"

namespace nnz {
namespace {

constexpr uint64_t kMaxTokenValue = UINT32_MAX;

void encode_bitmap(const uint8_t* mask, size_t n, std::vector<uint8_t>& out) {
  std::vector<uint32_t> bits(n);
  std::vector<uint8_t> ctx(n);
  uint32_t history = 0;
  for (size_t i = 0; i < n; ++i) {
    bits[i] = mask[i];
    ctx[i] = static_cast<uint8_t>(history);
    history = ((history << 1) | bits[i]) & 15;
  }
  out.push_back(static_cast<uint8_t>(PositionMode::bitmap));
  encode_token_stream(TokenStreamInput{bits.data(), ctx.data(), nullptr, n, 16}, out);
}

// Gaps and runs need values below 2^32; false if a tensor is too large for that.
bool encode_gaps(const uint8_t* mask, size_t n, std::vector<uint8_t>& out) {
  std::vector<uint32_t> gaps;
  std::vector<uint8_t> ctx;
  uint64_t run = 0, previous = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!mask[i]) {
      ++run;
      continue;
    }
    if (run > kMaxTokenValue) return false;
    gaps.push_back(static_cast<uint32_t>(run));
    ctx.push_back(gap_context(previous));
    previous = run;
    run = 0;
  }
  ByteWriter w(out);
  w.u8(static_cast<uint8_t>(PositionMode::gaps));
  w.u64(gaps.size());
  encode_token_stream(TokenStreamInput{gaps.data(), ctx.data(), nullptr, gaps.size(), 16}, out);
  return true;
}

bool encode_runs(const uint8_t* mask, size_t n, std::vector<uint8_t>& out) {
  std::vector<uint32_t> runs;
  std::vector<uint8_t> ctx;
  uint64_t previous[2] = {0, 0};
  size_t i = 0;
  bool ones = false;
  while (i < n) {
    size_t j = i;
    while (j < n && (mask[j] != 0) == ones) ++j;
    if (j - i > kMaxTokenValue) return false;
    runs.push_back(static_cast<uint32_t>(j - i));
    ctx.push_back(run_context(ones, previous[ones]));
    previous[ones] = j - i;
    ones = !ones;
    i = j;
  }
  ByteWriter w(out);
  w.u8(static_cast<uint8_t>(PositionMode::runs));
  w.u64(runs.size());
  encode_token_stream(TokenStreamInput{runs.data(), ctx.data(), nullptr, runs.size(), 16}, out);
  return true;
}

}  // namespace

void encode_positions(const uint8_t* mask, size_t n, std::vector<uint8_t>& out) {
  std::vector<uint8_t> best;
  encode_bitmap(mask, n, best);
  for (auto encode : {encode_gaps, encode_runs}) {
    std::vector<uint8_t> candidate;
    if (encode(mask, n, candidate) && candidate.size() < best.size()) best.swap(candidate);
  }
  out.insert(out.end(), best.begin(), best.end());
}

}  // namespace nnz
