// `sparse`: a layer over any other codec for tensors with many exact zeros (pruned weights):
// the positions of the non-zero elements (entropy/positions.hpp) + the non-zero elements coded
// by an inner codec as a 1-D tensor of their own (lossless, eb, pl, ...).
//
//   params:  u8 id_len, inner codec id, u32 params_len, inner params
//   payload: u64 nnz, u64 positions_bytes, positions, inner payload (the rest)
#pragma once
#include <string>

#include "codecs/codec.hpp"

namespace nnz {

constexpr const char* kSparseCodecId = "sparse";

// The non-zero elements of the tensor, packed: what the inner codec codes.
std::vector<uint8_t> sparse_values(const TensorRef& tensor);

// The inner codec's coding of sparse_values(tensor), which the sparse layer wraps.
struct SparseSettings {
  const EncodedTensor& inner;
};

struct SparseCodec {
  static constexpr const char* kId = kSparseCodecId;
  using Settings = SparseSettings;
  static EncodedTensor encode(const TensorRef& tensor, const SparseSettings& settings);
  static void decode(const DecodeRequest& req, uint8_t* out, int threads);
  static CodecDescription describe(ByteSpan params);  // the inner codec's description
};

}  // namespace nnz
