// The Python module nncodec._core. Only csrc/bindings/ includes pybind11: these files convert
// arrays, bytes and errors and hold no logic.
#include "bindings/bindings.hpp"
#include "common/error.hpp"

namespace py = pybind11;

PYBIND11_MODULE(_core, m) {
  m.doc() = "nncodec native core (internal: use the nncodec package)";

  // nnz::Error -> the nncodec.errors class for its code. Messages quote names and ids from files,
  // which may not be UTF-8: undecodable bytes are shown as escapes.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const nnz::Error& e) {
      py::object cls = py::module_::import("nncodec.errors").attr("error_class")(static_cast<int>(e.code()));
      const std::string what = e.what();
      py::object message = py::reinterpret_steal<py::object>(
          PyUnicode_DecodeUTF8(what.data(), static_cast<Py_ssize_t>(what.size()), "backslashreplace"));
      PyErr_SetObject(cls.ptr(), message.ptr());
    }
  });

  nnz_bindings::bind_entropy(m);
  nnz_bindings::bind_codecs(m);
  nnz_bindings::bind_container(m);
  nnz_bindings::bind_eb(m);
  nnz_bindings::bind_grid(m);
  nnz_bindings::bind_dq(m);
  nnz_bindings::bind_sparse(m);
  nnz_bindings::bind_pl(m);
  nnz_bindings::bind_matrix_formats(m);
  nnz_bindings::bind_prune(m);
}
