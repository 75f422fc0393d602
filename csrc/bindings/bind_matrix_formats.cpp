#include <pybind11/stl.h>

#include "bindings/bindings.hpp"
#include "common/checked_math.hpp"
#include "extras/matrix_formats.hpp"

namespace nnz_bindings {

void bind_matrix_formats(py::module_& m) {
  m.def(
      "matrix_format_bytes",
      [](const std::string& format, const ByteArray& data, const std::string& dtype, uint64_t rows) {
        const nnz::MatrixFormat f = nnz::matrix_format_by_name(format);
        nnz::TensorRef t = tensor_ref(data, dtype);
        py::gil_scoped_release release;
        return nnz::matrix_format_bytes(f, t, rows);
      },
      py::arg("format"), py::arg("data"), py::arg("dtype"), py::arg("rows"));
  m.def(
      "matrix_format_encode",
      [](const std::string& format, const ByteArray& data, const std::string& dtype, uint64_t rows) {
        const nnz::MatrixFormat f = nnz::matrix_format_by_name(format);
        nnz::TensorRef t = tensor_ref(data, dtype);
        std::vector<uint8_t> out;
        {
          py::gil_scoped_release release;
          out = nnz::matrix_format_encode(f, t, rows);
        }
        return to_bytes(out);
      },
      py::arg("format"), py::arg("data"), py::arg("dtype"), py::arg("rows"));
  m.def(
      "matrix_format_decode",
      [](const std::string& format, const ByteArray& payload, const std::string& dtype, uint64_t count, uint64_t rows,
         const py::object& out) {
        const nnz::MatrixFormat f = nnz::matrix_format_by_name(format);
        const nnz::DTypeInfo& info = nnz::dtype_by_name(dtype);
        ByteArray bytes = output_bytes(out);
        NNZ_CHECK(static_cast<uint64_t>(bytes.size()) == nnz::checked_mul(count, static_cast<uint64_t>(info.bits / 8), "tensor"),
                  invalid_argument, "output buffer has the wrong size");
        uint8_t* dst = bytes.mutable_data();
        py::gil_scoped_release release;
        nnz::matrix_format_decode(f, span_of(payload), info.dtype, count, rows, dst);
      },
      py::arg("format"), py::arg("payload"), py::arg("dtype"), py::arg("count"), py::arg("rows"), py::arg("out"));
}

}  // namespace nnz_bindings
