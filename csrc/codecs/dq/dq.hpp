// `dq`: lossy coding of float tensors at a bound on their RMSE (sqrt of the mean squared error
// over all elements), with dependent (trellis-coded) quantization as in the NNC standard
// (ISO/IEC 15938-17) and VVC. NaN and infinities are kept exactly. Layout: docs/FORMAT.md,
// "Codec dq".
//
// Two scalar quantizers of step 2D share one level stream: Q0 rebuilds level k as 2k D, Q1 as
// (2k - sgn k) D. An 8-state machine driven by the parity of each level says which quantizer the
// next element uses, so the union of both is a grid of step D while each level only has to tell
// apart points 2D apart. The encoder picks the levels of a whole lane by a Viterbi search over
// the states, minimising squared error + lambda x estimated bits. (8 states code 0.4-0.9% smaller
// than VVC's 4 at equal RMSE, measured on the public corpus; docs/error-bounded.md.)
//
// Chunks of `chunk_elems` elements are coded independently, each read as 4 lanes with the local
// magnitude context of eb (entropy/magnitude_context.hpp); the state machine runs per lane from
// state 0. A level's context: its quantizer, its lane's magnitude class and whether the lane's
// previous level was 0. Levels are coded as a token stream whose tokens carry their parity, and
// contexts follow the tokens alone, so a decoder reads all tokens first and the raw bits after.
#pragma once
#include <cstdint>

#include "codecs/codec.hpp"
#include "entropy/magnitude_context.hpp"

namespace nnz {

constexpr const char* kDqCodecId = "dq";
constexpr uint32_t kDqDefaultChunkElems = uint32_t{1} << 18;
constexpr uint32_t kDqMaxChunkElems = uint32_t{1} << 28;
constexpr int kDqContexts = 64;  // 2 quantizers x 16 magnitude classes x (previous level 0 or not)
constexpr int64_t kDqMaxLevel = int64_t{1} << 30;  // |level| beyond: the element is an exception

struct DqOptions {
  double rmse = 0;  // the bound R > 0 of the tensor's RMSE
  uint32_t chunk_elems = kDqDefaultChunkElems;
  int threads = 1;
};

struct DqCodec {
  static constexpr const char* kId = kDqCodecId;
  using Settings = DqOptions;
  static EncodedTensor encode(const TensorRef& tensor, const DqOptions& options);
  static void decode(const DecodeRequest& req, uint8_t* out, int threads);
  // The RMSE bound and the measured RMSE and largest error.
  static CodecDescription describe(ByteSpan params);
};

// The state machine of the NNC standard's 8-state trellis: the state after a level of parity
// k & 1 in each state. Odd states use Q1.
constexpr int kDqStates = 8;
constexpr uint8_t kDqNextState[kDqStates][2] = {{0, 2}, {7, 5}, {1, 3}, {6, 4}, {2, 0}, {5, 7}, {3, 1}, {4, 6}};
inline int dq_quantizer(int state) { return state & 1; }

// The value of `level` under quantizer q, in units of the step D.
inline int64_t dq_reconstruction(int q, int64_t level) {
  const int64_t sign = (level > 0) - (level < 0);
  return 2 * level - q * sign;
}

// The magnitude the contexts follow: |k| without the raw bits of its token (parity scheme,
// entropy/token_stream.hpp), so that the decoder knows it from the token alone.
inline uint32_t dq_context_magnitude(uint32_t magnitude) {
  if (magnitude < 16) return magnitude;
  const int e = 31 - __builtin_clz(magnitude);
  return magnitude & ~(((uint32_t{1} << (e - 3)) - 1) << 1);
}

// A level's context; `previous`: the context magnitude of the lane's previous level.
inline int dq_context(int q, uint32_t magnitude_level, uint32_t previous, int shift) {
  return (q * kMagnitudeContexts + magnitude_context(magnitude_level, shift)) * 2 + (previous != 0);
}

}  // namespace nnz
