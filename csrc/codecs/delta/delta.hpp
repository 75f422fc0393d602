// `delta`: a tensor coded against another tensor of the same dtype and element count, its base: a
// tensor of the base model the container records (section nncodec/base) or an earlier tensor of
// the same container (deduplication). Fine-tunes and checkpoints differ from their base in few
// bits of each weight, so the difference is what is coded (docs/FORMAT.md, "Codec delta").
//
// params: u8 version (1), u8 source (0 = base table entry, 1 = tensor of this container),
//         u32 index, u8 transform (0 = copy: the tensor equals its base, empty payload;
//         1 = sub: the integer difference of the element bit patterns; 2 = residual: a lossy
//         codec's coding of x - b as float64, for a bound against the model's weights), then
//         u32 chunk_elems (sub), or f64 bound, u8 + inner codec id, u32 + inner params (residual).
// payload (sub): a chunk table (chunk_table.hpp); each chunk codes d = x - b (mod 2^W) zigzagged,
// as tokens (delta_token below) with a context the decoder computes from the base element (its
// exponent field, or the bit length of an integer): in token planes, one per context (mode coded),
// or in element order in one lane rANS stream with a table per context (mode lanes, format 1.7),
// then the tokens' raw bits.
#pragma once
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "codecs/codec.hpp"

namespace nnz {

constexpr const char* kDeltaCodecId = "delta";  // written into files: never change it
constexpr uint8_t kDeltaParamsVersion = 1;
constexpr uint32_t kDeltaDefaultChunkElems = uint32_t{1} << 18;
constexpr uint32_t kDeltaMaxChunkElems = uint32_t{1} << 28;
constexpr int kDeltaMaxContexts = 16;

enum class DeltaSource : uint8_t { base = 0, container = 1 };
enum class DeltaTransform : uint8_t { copy = 0, sub = 1, residual = 2 };
enum class DeltaChunkMode : uint8_t { equal = 0, coded = 1, lanes = 2 };
// Chunks of fewer elements keep mode coded: the lane coder's 256 bytes of states cost more there.
constexpr size_t kDeltaLanesMinElems = 4096;

struct DeltaParams {
  DeltaSource source = DeltaSource::base;
  uint32_t index = 0;
  DeltaTransform transform = DeltaTransform::copy;
  uint32_t chunk_elems = 0;  // sub only
  // residual only: every element within `bound` of the model's; the residual's codec and params.
  double bound = 0;
  std::string inner_codec;
  ByteSpan inner_params;     // points into the params parsed
};

// Parses and checks params (ErrorCode::corrupt, unsupported for a newer version).
DeltaParams read_delta_params(ByteSpan params);

struct DeltaOptions {
  DeltaSource source = DeltaSource::base;
  uint32_t index = 0;             // what the params record
  const uint8_t* base = nullptr;  // the base tensor's element bytes (same dtype and count)
  uint32_t chunk_elems = kDeltaDefaultChunkElems;
  int threads = 1;
  int max_contexts = kDeltaMaxContexts;  // 1: no contexts (for measurements)
};

struct DeltaCodec {
  static constexpr const char* kId = kDeltaCodecId;
  using Settings = DeltaOptions;
  static EncodedTensor encode(const TensorRef& tensor, const DeltaOptions& options);
  static void decode(const DecodeRequest& req, uint8_t* out, int threads);
  static CodecDescription describe(ByteSpan params);
};

// Tokens of the differences: a value v < 2^64 is token v for v < 16, else with e = floor(log2 v)
// token 16 + 4 (e - 4) + (the two bits of v below its leading one) and the e - 2 bits below
// those as raw bits. Tokens are < 256 (one byte plane).
constexpr int kDeltaLiteralTokens = 16;

inline uint8_t delta_token(uint64_t v, int& raw_len) {
  if (v < kDeltaLiteralTokens) {
    raw_len = 0;
    return static_cast<uint8_t>(v);
  }
  const int e = 63 - __builtin_clzll(v);
  raw_len = e - 2;
  return static_cast<uint8_t>(kDeltaLiteralTokens + 4 * (e - 4) + static_cast<int>((v >> raw_len) & 3));
}
inline int delta_raw_len(uint32_t t) { return t < kDeltaLiteralTokens ? 0 : static_cast<int>((t - 16) >> 2) + 2; }
inline uint64_t delta_token_high(uint32_t t) { return t < kDeltaLiteralTokens ? t : (4u | (t & 3u)); }
// Tokens a W-bit element can have: those whose value fits in W bits.
inline uint32_t delta_token_count(int width) { return width <= 4 ? (1u << width) : 16u + 4u * static_cast<uint32_t>(width - 4); }

// Element i of a W-bit tensor's bytes, unaligned.
template <typename U>
inline U load_elem(const uint8_t* p, size_t i) {
  U v;
  std::memcpy(&v, p + i * sizeof(U), sizeof(U));
  return v;
}

// The context key of a base element: floats its exponent field, integers the bit length of
// (zigzagged, if signed) value.
template <typename U>
inline uint32_t delta_key(U b, bool is_float, bool is_signed, int mantissa_bits, uint32_t exponent_mask) {
  if (is_float) return static_cast<uint32_t>(b >> mantissa_bits) & exponent_mask;
  constexpr int w = sizeof(U) * 8;
  if (is_signed) b = static_cast<U>((b << 1) ^ (U{0} - (b >> (w - 1))));
  return b == 0 ? 0u : static_cast<uint32_t>(64 - __builtin_clzll(static_cast<uint64_t>(b)));
}

}  // namespace nnz
