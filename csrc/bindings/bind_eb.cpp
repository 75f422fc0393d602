#include <pybind11/stl.h>

#include <optional>

#include "bindings/bindings.hpp"
#include "codecs/eb/eb.hpp"
#include "common/error.hpp"
#include "entropy/token_decode.hpp"
#include "entropy/token_encode.hpp"

namespace nnz_bindings {
namespace {

using U32Array = py::array_t<uint32_t, py::array::c_style>;

const uint8_t* optional_bytes(const std::optional<ByteArray>& a, size_t n, const char* what) {
  if (!a) return nullptr;
  NNZ_CHECK(static_cast<size_t>(a->size()) == n, invalid_argument, std::string(what) + ": wrong length");
  return a->data();
}

}  // namespace

void bind_eb(py::module_& m) {
  m.def(
      "encode_eb",
      [](const ByteArray& data, const std::string& dtype, double max_error, uint32_t chunk_elems, int threads) {
        nnz::TensorRef t = tensor_ref(data, dtype);
        py::gil_scoped_release release;
        return nnz::EbCodec::encode(t, nnz::EbOptions{max_error, chunk_elems, threads});
      },
      py::arg("data"), py::arg("dtype"), py::arg("max_error"), py::arg("chunk_elems") = nnz::kEbDefaultChunkElems,
      py::arg("threads") = 1);
  // Token streams (entropy/token_stream.hpp), exposed for tests.
  m.def(
      "token_stream_encode",
      [](const U32Array& values, const std::optional<ByteArray>& contexts, const std::optional<ByteArray>& negative,
         int nctx) {
        const size_t n = static_cast<size_t>(values.size());
        std::vector<uint8_t> out;
        nnz::encode_token_stream(nnz::TokenStreamInput{values.data(), optional_bytes(contexts, n, "contexts"),
                                                       optional_bytes(negative, n, "negative"), n, nctx},
                                 out);
        return to_bytes(out);
      },
      py::arg("values"), py::arg("contexts") = py::none(), py::arg("negative") = py::none(), py::arg("nctx") = 1);
  m.def(
      "token_stream_decode",
      [](const ByteArray& stream, size_t n, const std::optional<ByteArray>& contexts, bool is_signed, int nctx) {
        const uint8_t* ctx = optional_bytes(contexts, n, "contexts");
        for (size_t i = 0; ctx && i < n; ++i)
          NNZ_CHECK(ctx[i] < nctx, invalid_argument, "context out of range");
        py::array_t<int64_t> out(static_cast<py::ssize_t>(n));
        int64_t* dst = out.mutable_data();
        nnz::ByteReader in(span_of(stream), "token stream");
        nnz::TokenStreamDecoder dec(in, nctx);
        for (size_t i = 0; i < n; ++i) {
          const int c = ctx ? ctx[i] : 0;
          dst[i] = is_signed ? dec.next_signed(c) : static_cast<int64_t>(dec.next(c));
        }
        dec.finish();
        in.expect_end();
        return out;
      },
      py::arg("stream"), py::arg("n"), py::arg("contexts") = py::none(), py::arg("signed") = false,
      py::arg("nctx") = 1);
}

}  // namespace nnz_bindings
