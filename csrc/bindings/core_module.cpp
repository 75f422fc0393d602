// The Python module nncodec._core. Only csrc/bindings/ includes pybind11: these files convert
// arrays, bytes and errors and hold no logic.
#include "bindings/bindings.hpp"
#include "common/error.hpp"

namespace py = pybind11;

PYBIND11_MODULE(_core, m) {
  m.doc() = "nncodec native core (internal: use the nncodec package)";

  // nnz::Error -> the nncodec.errors class for its code.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const nnz::Error& e) {
      py::object cls = py::module_::import("nncodec.errors").attr("error_class")(static_cast<int>(e.code()));
      PyErr_SetString(cls.ptr(), e.what());
    }
  });

  nnz_bindings::bind_entropy(m);
  nnz_bindings::bind_codecs(m);
  nnz_bindings::bind_container(m);
  nnz_bindings::bind_eb(m);
  nnz_bindings::bind_sparse(m);
  nnz_bindings::bind_pl(m);
  nnz_bindings::bind_matrix_formats(m);
  nnz_bindings::bind_prune(m);
}
