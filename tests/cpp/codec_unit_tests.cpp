// The codec interface, shown by a codec that lives in this file only: it is added to the table
// (add_codec_for_testing), then written through the container writer, read back, decoded by the
// table's dispatch, wrapped by the sparse layer and fed to the fuzz target (tests/fuzz/
// fuzz_codec.cpp, linked in) without any other file knowing it. Also the describe() of every
// built-in codec. docs/ADDING_A_CODEC.md walks through the same steps for a real codec.
#include <unistd.h>

#include <string>
#include <vector>

#include "codecs/codec_table.hpp"
#include "codecs/eb/eb.hpp"
#include "codecs/lossless/lossless.hpp"
#include "codecs/pl/pl.hpp"
#include "codecs/raw/raw.hpp"
#include "codecs/sparse/sparse.hpp"
#include "common/error.hpp"
#include "container/nnz_reader.hpp"
#include "container/nnz_writer.hpp"
#include "expect.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace {

// `xor`: every byte XORed with a one-byte key kept in the parameters. Exact, any dtype.
struct XorSettings {
  uint8_t key = 0x5A;
};

int xor_decodes = 0;  // counts decode calls, so the tests see the table's dispatch reach the codec

struct XorCodec {
  static constexpr const char* kId = "test-xor";
  using Settings = XorSettings;

  static nnz::EncodedTensor encode(const nnz::TensorRef& tensor, const XorSettings& settings) {
    nnz::EncodedTensor e;
    e.codec = kId;
    e.params = {settings.key};
    const size_t bytes = static_cast<size_t>(tensor.count * nnz::dtype_bytes(tensor.dtype));
    for (size_t i = 0; i < bytes; ++i) e.payload.push_back(static_cast<uint8_t>(tensor.data[i] ^ settings.key));
    return e;
  }

  static void decode(const nnz::DecodeRequest& req, uint8_t* out, int) {
    ++xor_decodes;
    describe(req.params);
    NNZ_CHECK(req.payload.size == req.count * nnz::dtype_bytes(req.dtype), corrupt, "xor: payload size");
    for (size_t i = 0; i < req.payload.size; ++i) out[i] = static_cast<uint8_t>(req.payload.data[i] ^ req.params.data[0]);
  }

  static nnz::CodecDescription describe(nnz::ByteSpan params) {
    NNZ_CHECK(params.size == 1, corrupt, "xor: parameters are one key byte");
    return nnz::kExactCodec;
  }
};

nnz::TensorRef float_tensor(const std::vector<float>& v) {
  return nnz::TensorRef{nnz::DType::float32, v.size(), reinterpret_cast<const uint8_t*>(v.data())};
}

// Mostly zeros, so that the sparse layer has something to leave out.
std::vector<float> test_values() {
  std::vector<float> v(3000, 0.0f);
  for (size_t i = 0; i < v.size(); i += 7) v[i] = static_cast<float>(i % 50) * 0.25f - 3.0f;
  return v;
}

void test_registered_codec_is_in_the_table() {
  const std::vector<std::string> ids = nnz::codec_ids();
  EXPECT(!ids.empty() && ids.back() == XorCodec::kId);
  EXPECT(nnz::codec_is_known(XorCodec::kId) && nnz::find_codec(XorCodec::kId)->decode == &XorCodec::decode);
  EXPECT(!nnz::codec_is_known("test-unknown") && nnz::find_codec("test-unknown") == nullptr);
  EXPECT(throws_code([] { nnz::add_codec_for_testing(nnz::codec_entry<XorCodec>()); }, nnz::ErrorCode::invalid_argument));
}

// Written by the container writer next to a built-in codec and wrapped by the sparse layer, read
// back and decoded through the table.
void test_container_round_trip() {
  const std::vector<float> v = test_values();
  const nnz::TensorRef t = float_tensor(v);
  const std::vector<uint8_t> values = nnz::sparse_values(t);
  const nnz::TensorRef nonzero{nnz::DType::float32, values.size() / 4, values.data()};
  const std::string path = temp_path("codec_unit");
  {
    nnz::NnzWriter w(path);
    w.add_tensor("xor", nnz::DType::float32, {30, 100}, XorCodec::encode(t, XorSettings{}));
    w.add_tensor("sparse-xor", nnz::DType::float32, {3000},
                 nnz::SparseCodec::encode(t, nnz::SparseSettings{XorCodec::encode(nonzero, XorSettings{0x33})}));
    w.add_tensor("lossless", nnz::DType::float32, {3000}, nnz::LosslessCodec::encode(t, nnz::LosslessOptions{}));
    w.finish();
  }
  const nnz::NnzReader r(nnz::open_file_source(path));
  EXPECT(r.tensors().size() == 3 && r.tensors()[0].codec == XorCodec::kId);
  const int decodes_before = xor_decodes;
  for (size_t i = 0; i < r.tensors().size(); ++i) {
    std::vector<float> out(v.size(), -1.0f);
    r.decode_tensor(i, reinterpret_cast<uint8_t*>(out.data()), out.size() * 4, 2);
    EXPECT(out == v);
  }
  EXPECT(xor_decodes == decodes_before + 2);
  const nnz::TensorEntry& sparse = r.tensors()[1];
  EXPECT(nnz::find_codec(sparse.codec)->describe(nnz::ByteSpan{sparse.params.data(), sparse.params.size()}).max_error == 0);
  ::unlink(path.c_str());
}

// The fuzz target decodes the new codec: its codec byte indexes codec_ids(), the table's order.
void test_fuzz_target_reaches_the_codec() {
  const std::vector<float> v = test_values();
  const nnz::EncodedTensor e = XorCodec::encode(float_tensor(v), XorSettings{});
  std::vector<uint8_t> input = {static_cast<uint8_t>(nnz::codec_ids().size() - 1), static_cast<uint8_t>(nnz::DType::float32)};
  for (int b = 0; b < 4; ++b) input.push_back(static_cast<uint8_t>(v.size() >> (8 * b)));
  input.push_back(static_cast<uint8_t>(e.params.size()));
  input.push_back(0);
  input.insert(input.end(), e.params.begin(), e.params.end());
  input.insert(input.end(), e.payload.begin(), e.payload.end());
  const int decodes_before = xor_decodes;
  EXPECT(LLVMFuzzerTestOneInput(input.data(), input.size()) == 0);
  input.pop_back();  // a short payload: a clean rejection inside the target
  EXPECT(LLVMFuzzerTestOneInput(input.data(), input.size()) == 0);
  EXPECT(xor_decodes == decodes_before + 2);
}

nnz::CodecDescription describe(const nnz::EncodedTensor& e) {
  return nnz::find_codec(e.codec)->describe(nnz::ByteSpan{e.params.data(), e.params.size()});
}

void test_builtin_descriptions() {
  const std::vector<float> v = test_values();
  const nnz::TensorRef t = float_tensor(v);
  const nnz::CodecDescription lossless = describe(nnz::LosslessCodec::encode(t, nnz::LosslessOptions{}));
  const nnz::CodecDescription raw = describe(nnz::RawCodec::encode(t, nnz::RawSettings{}));
  EXPECT(lossless.error_bound == 0 && lossless.max_error == 0 && raw.error_bound == 0 && raw.max_error == 0);
  const nnz::EncodedTensor eb = nnz::EbCodec::encode(t, nnz::EbOptions{0.01, 1024, 1});
  EXPECT(describe(eb).error_bound == 0.01 && describe(eb).max_error == 0.01);
  nnz::PlOptions pl_options;
  pl_options.fit.p = 0.02;
  nnz::PlStats stats;
  const nnz::EncodedTensor pl = nnz::pl_encode_with_stats(t, pl_options, stats);
  EXPECT(describe(pl).error_bound == 0.02 && describe(pl).max_error == stats.max_error);
  const std::vector<uint8_t> values = nnz::sparse_values(t);
  const nnz::TensorRef nonzero{nnz::DType::float32, values.size() / 4, values.data()};
  const nnz::EncodedTensor sparse =
      nnz::SparseCodec::encode(t, nnz::SparseSettings{nnz::EbCodec::encode(nonzero, nnz::EbOptions{0.5, 1024, 1})});
  EXPECT(describe(sparse).error_bound == 0.5);
  // Parameters a codec cannot have written are an error, as for decoding.
  for (const nnz::EncodedTensor* e : {&eb, &pl, &sparse}) {
    const std::vector<uint8_t> cut(e->params.begin(), e->params.end() - 1);
    EXPECT(throws_code([&] { nnz::find_codec(e->codec)->describe(nnz::ByteSpan{cut.data(), cut.size()}); },
                       nnz::ErrorCode::corrupt));
  }
}

}  // namespace

int main() {
  nnz::add_codec_for_testing(nnz::codec_entry<XorCodec>());
  test_registered_codec_is_in_the_table();
  test_container_round_trip();
  test_fuzz_target_reaches_the_codec();
  test_builtin_descriptions();
  return exit_status("codec unit tests");
}
