#include <pybind11/stl.h>

#include "bindings/bindings.hpp"
#include "codecs/pl/pl.hpp"

namespace nnz_bindings {

void bind_pl(py::module_& m) {
  m.def(
      "encode_pl",
      [](const ByteArray& data, const std::string& dtype, double p, uint32_t pm, double pd, bool exact_positions,
         uint32_t block_elems, int threads) {
        nnz::TensorRef t = tensor_ref(data, dtype);
        nnz::PlOptions options;
        options.fit = nnz::PlFitOptions{p, pm, pd, exact_positions};
        options.block_elems = block_elems;
        options.threads = threads;
        nnz::PlStats s;
        nnz::EncodedTensor encoded;
        {
          py::gil_scoped_release release;
          encoded = nnz::pl_encode_with_stats(t, options, s);
        }
        py::dict stats;
        stats["position_bytes"] = s.position_bytes;
        stats["exception_bytes"] = s.exception_bytes;
        stats["line_id_bytes"] = s.line_id_bytes;
        stats["table_bytes"] = s.table_bytes;
        stats["line_bytes"] = s.line_bytes;
        stats["slope_bytes"] = s.slope_bytes;
        stats["framing_bytes"] = s.framing_bytes;
        stats["blocks"] = s.blocks;
        stats["lines"] = s.lines;
        stats["slopes"] = s.slopes;
        stats["exceptions"] = s.exceptions;
        stats["max_error"] = s.max_error;
        return py::make_tuple(std::move(encoded), stats);
      },
      py::arg("data"), py::arg("dtype"), py::arg("p"), py::arg("pm") = 1, py::arg("pd") = 0.0,
      py::arg("exact_positions") = false, py::arg("block_elems") = nnz::kPlDefaultBlockElems, py::arg("threads") = 1);
}

}  // namespace nnz_bindings
