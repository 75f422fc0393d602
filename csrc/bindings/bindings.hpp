// Each feature binds its functions in its own file; core_module.cpp calls them all.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <string>
#include <vector>

#include "codecs/codec.hpp"
#include "common/byte_io.hpp"
#include "common/error.hpp"

namespace nnz_bindings {

namespace py = pybind11;
using ByteArray = py::array_t<uint8_t, py::array::c_style>;

inline nnz::ByteSpan span_of(const ByteArray& a) { return nnz::ByteSpan{a.data(), static_cast<size_t>(a.size())}; }
// A flat byte buffer of `dtype` elements as the core's tensor view.
inline nnz::TensorRef tensor_ref(const ByteArray& data, const std::string& dtype) {
  const nnz::DTypeInfo& info = nnz::dtype_by_name(dtype);
  const uint64_t esize = static_cast<uint64_t>(info.bits / 8);
  NNZ_CHECK(static_cast<uint64_t>(data.size()) % esize == 0, invalid_argument,
            "buffer size is not a whole number of elements");
  return nnz::TensorRef{info.dtype, static_cast<uint64_t>(data.size()) / esize, data.data()};
}
inline py::bytes to_bytes(const std::vector<uint8_t>& v) {
  return py::bytes(reinterpret_cast<const char*>(v.data()), v.size());
}

void bind_container(py::module_& m);
void bind_codecs(py::module_& m);
void bind_entropy(py::module_& m);
void bind_eb(py::module_& m);
void bind_sparse(py::module_& m);

}  // namespace nnz_bindings
