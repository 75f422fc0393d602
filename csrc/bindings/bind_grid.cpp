// The lossless-grid encoder and its probe. Conversions only.
#include "bindings/bindings.hpp"
#include "codecs/grid/grid_encode.hpp"

namespace nnz_bindings {
namespace {

nnz::GridLayout layout(bool columns) { return columns ? nnz::GridLayout::columns : nnz::GridLayout::runs; }

}  // namespace

void bind_grid(py::module_& m) {
  m.def(
      "encode_grid",
      [](const ByteArray& data, const std::string& dtype, bool columns, uint32_t block, uint32_t chunk_elems,
         int threads) {
        nnz::TensorRef t = tensor_ref(data, dtype);
        py::gil_scoped_release release;
        return nnz::LosslessGridCodec::encode(t, nnz::GridOptions{layout(columns), block, chunk_elems, threads});
      },
      py::arg("data"), py::arg("dtype"), py::arg("columns"), py::arg("block"),
      py::arg("chunk_elems") = nnz::kGridDefaultChunkElems, py::arg("threads") = 1);
  m.def(
      "grid_exact_share",
      [](const ByteArray& data, const std::string& dtype, bool columns, uint32_t block, uint32_t sample_blocks) {
        nnz::TensorRef t = tensor_ref(data, dtype);
        py::gil_scoped_release release;
        return nnz::grid_exact_share(t, layout(columns), block, sample_blocks);
      },
      py::arg("data"), py::arg("dtype"), py::arg("columns"), py::arg("block"), py::arg("sample_blocks") = 16);
}

}  // namespace nnz_bindings
