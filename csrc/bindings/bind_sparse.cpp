#include <cstring>

#include "bindings/bindings.hpp"
#include "codecs/sparse/sparse.hpp"
#include "common/error.hpp"
#include "entropy/positions_decode.hpp"
#include "entropy/positions_encode.hpp"

namespace nnz_bindings {

void bind_sparse(py::module_& m) {
  m.def(
      "sparse_values",
      [](const ByteArray& data, const std::string& dtype) {
        nnz::TensorRef t = tensor_ref(data, dtype);
        std::vector<uint8_t> values;
        {
          py::gil_scoped_release release;
          values = nnz::sparse_values(t);
        }
        py::array_t<uint8_t> out(static_cast<py::ssize_t>(values.size()));
        if (!values.empty()) std::memcpy(out.mutable_data(), values.data(), values.size());
        return out;
      },
      py::arg("data"), py::arg("dtype"));
  m.def(
      "encode_sparse",
      [](const ByteArray& data, const std::string& dtype, const nnz::EncodedTensor& inner) {
        nnz::TensorRef t = tensor_ref(data, dtype);
        py::gil_scoped_release release;
        return nnz::SparseCodec::encode(t, nnz::SparseSettings{inner});
      },
      py::arg("data"), py::arg("dtype"), py::arg("inner"));
  // Position coding (entropy/positions.hpp), exposed for tests and benchmarks.
  m.def(
      "positions_encode",
      [](const ByteArray& mask) {
        std::vector<uint8_t> out;
        nnz::encode_positions(mask.data(), static_cast<size_t>(mask.size()), out);
        return to_bytes(out);
      },
      py::arg("mask"));
  m.def(
      "positions_decode",
      [](const ByteArray& stream, size_t n) {
        py::array_t<uint8_t> mask(static_cast<py::ssize_t>(n));
        nnz::ByteReader in(span_of(stream), "positions");
        nnz::decode_positions(in, n, mask.mutable_data());
        in.expect_end();
        return mask;
      },
      py::arg("stream"), py::arg("n"));
}

}  // namespace nnz_bindings
