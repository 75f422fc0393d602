#include "bindings/bindings.hpp"
#include "codecs/dq/dq.hpp"

namespace nnz_bindings {

void bind_dq(py::module_& m) {
  m.def(
      "encode_dq",
      [](const ByteArray& data, const std::string& dtype, double rmse, uint32_t chunk_elems, int threads) {
        nnz::TensorRef t = tensor_ref(data, dtype);
        py::gil_scoped_release release;
        return nnz::DqCodec::encode(t, nnz::DqOptions{rmse, chunk_elems, threads});
      },
      py::arg("data"), py::arg("dtype"), py::arg("rmse"), py::arg("chunk_elems") = nnz::kDqDefaultChunkElems,
      py::arg("threads") = 1);
}

}  // namespace nnz_bindings
