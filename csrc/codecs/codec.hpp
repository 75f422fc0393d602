// The codec interface. A codec turns a tensor (little-endian element bytes) into a codec id
// (frozen string written into files), a small parameter blob kept in the container index
// (readable without touching the payload) and the payload, and back.
//
// Each codec is a struct in its own folder, codecs/<id>/ (docs/ADDING_A_CODEC.md):
//
//   struct XCodec {
//     static constexpr const char* kId = "x";
//     using Settings = XOptions;                       // a small typed struct of encode settings
//     static EncodedTensor encode(const TensorRef& tensor, const Settings& settings);  // x_encode.cpp
//     static void decode(const DecodeRequest& req, uint8_t* out, int threads);        // x_decode.cpp
//     static CodecDescription describe(ByteSpan params);                              // x_decode.cpp
//   };
//
// encode lives in the encoder library, decode and describe in the decoder library; the table
// (codec_table.cpp) lists the codecs and keeps their decode half only, so a decoder-only build
// (libnnz) never links an encoder. Encoders are called by type, each with its own Settings.
#pragma once
#include <cstdint>
#include <string>
#include <type_traits>
#include <vector>

#include "common/byte_io.hpp"
#include "common/dtype.hpp"

namespace nnz {

struct TensorRef {
  DType dtype;
  uint64_t count;       // number of elements
  const uint8_t* data;  // count * dtype_bytes(dtype) bytes, little-endian elements
};

// A coded tensor. Its payload is `payload` followed by `chunks`, in order: chunked codecs leave
// their chunks where their threads coded them, and a writer writes them from there (gathering
// them into one buffer first was a copy of the whole payload into fresh memory, serial after the
// parallel coding, measured at a quarter of a 2-thread encode's time on bfloat16 shards).
struct EncodedTensor {
  std::string codec;
  std::vector<uint8_t> params;
  std::vector<uint8_t> payload;
  std::vector<std::vector<uint8_t>> chunks;

  uint64_t payload_bytes() const {
    uint64_t total = payload.size();
    for (const std::vector<uint8_t>& chunk : chunks) total += chunk.size();
    return total;
  }
};

// Where the tensors a `delta` tensor is coded against come from: the reader of its container, with
// the base model attached (container/nnz_reader.hpp). `source` and `index` come from the
// tensor's parameters (hostile): an implementation checks them and that the tensor it names is of
// `dtype` with `count` elements, and fails with ErrorCode::base (or corrupt) otherwise.
class BaseResolver {
 public:
  virtual ~BaseResolver() = default;
  // The tensor's element bytes (count * dtype bytes), valid while `scratch` and the resolver are.
  virtual ByteSpan resolve(uint8_t source, uint32_t index, DType dtype, uint64_t count,
                           std::vector<uint8_t>& scratch) const = 0;
};

struct DecodeRequest {
  const std::string& codec;
  DType dtype;
  uint64_t count;
  ByteSpan params;
  ByteSpan payload;
  const BaseResolver* base = nullptr;  // delta tensors only; nullptr: no base model was given
};

// What a tensor's stored parameters say about its error (for `nncodec info`).
struct CodecDescription {
  double error_bound;     // the bound of every element's error; 0 for exact codecs
  double max_error;       // the largest error measured (or, without a measurement, the bound)
  double rmse_bound = 0;  // codecs bounding the RMSE instead (dq): that bound, and the RMSE measured
  double rmse = 0;
};
constexpr CodecDescription kExactCodec{0, 0};

// A row of the codec table: the decode half of a codec.
struct Codec {
  const char* id;
  // Decodes into out (count * dtype_bytes bytes); damaged payloads fail with ErrorCode::corrupt.
  // `threads` > 1 lets the codec decode chunks in parallel.
  void (*decode)(const DecodeRequest& req, uint8_t* out, int threads);
  // Throws ErrorCode::corrupt on parameters the codec cannot have written.
  CodecDescription (*describe)(ByteSpan params);
};

// The table row of codec type C; checks that C has the whole interface (encode included, which is
// named here without being linked).
template <typename C>
constexpr Codec codec_entry() {
  static_assert(std::is_same_v<decltype(&C::encode), EncodedTensor (*)(const TensorRef&, const typename C::Settings&)>,
                "a codec's encode takes (const TensorRef&, const Settings&)");
  return Codec{C::kId, &C::decode, &C::describe};
}

}  // namespace nnz
