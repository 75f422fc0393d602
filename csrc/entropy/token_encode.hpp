#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "entropy/token_stream.hpp"

namespace nnz {

struct TokenStreamInput {
  const uint32_t* values = nullptr;    // n magnitudes
  const uint8_t* contexts = nullptr;   // n contexts < nctx, or nullptr (all context 0)
  const uint8_t* negative = nullptr;   // signed streams: n flags (1 = negative), else nullptr
  size_t n = 0;
  int nctx = 1;
  TokenScheme scheme = TokenScheme::plain;
  int max_scale_bits = 12;  // rANS precision at most (10..12): smaller tables decode faster
};

// Appends the token stream (layout in token_stream.hpp); n < 2^32. Contexts whose statistics are alike
// share a table: tables cost bytes, so contexts are merged while that makes the stream smaller.
void encode_token_stream(const TokenStreamInput& input, std::vector<uint8_t>& out);

}  // namespace nnz
