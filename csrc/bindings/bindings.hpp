// Each feature binds its functions in its own file; core_module.cpp calls them all.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <memory>
#include <string>
#include <vector>

#include "codecs/codec.hpp"
#include "common/byte_io.hpp"

namespace nnz {
class NnzReader;
}

namespace nnz_bindings {

namespace py = pybind11;
using ByteArray = py::array_t<uint8_t, py::array::c_style>;

inline nnz::ByteSpan span_of(const ByteArray& a) { return nnz::ByteSpan{a.data(), static_cast<size_t>(a.size())}; }
inline py::bytes to_bytes(const std::vector<uint8_t>& v) {
  return py::bytes(reinterpret_cast<const char*>(v.data()), v.size());
}

// A caller's buffer to decode into: checked, never converted (a converted copy would receive the
// data instead of the caller's array).
ByteArray output_bytes(const py::handle& out);

// A tensor view of a flat byte buffer holding elements of the named dtype.
nnz::TensorRef tensor_ref(const ByteArray& data, const std::string& dtype);

void bind_container(py::module_& m);
void bind_codecs(py::module_& m);
void bind_entropy(py::module_& m);
void bind_pl(py::module_& m);
void bind_eb(py::module_& m);
void bind_grid(py::module_& m);
void bind_dq(py::module_& m);
void bind_sparse(py::module_& m);
void bind_matrix_formats(py::module_& m);
void bind_prune(py::module_& m);
// Called by bind_container with the Reader class (its base methods).
void bind_delta(py::module_& m, py::class_<nnz::NnzReader, std::shared_ptr<nnz::NnzReader>>& reader);

}  // namespace nnz_bindings
