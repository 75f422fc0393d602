// Delta coding against a base model: the delta encoder, the base table writer, and a reader's base
// (tensors in memory, or another reader). Conversions only.
#include <pybind11/stl.h>

#include <memory>

#include "bindings/bindings.hpp"
#include "codecs/delta/delta_encode.hpp"
#include "common/error.hpp"
#include "container/base_source.hpp"
#include "container/base_table.hpp"
#include "container/files_section.hpp"
#include "container/nnz_reader.hpp"

namespace nnz_bindings {
namespace {

// A flat uint8 array as it is (never a converted copy: the reader borrows its bytes).
ByteArray borrowed_bytes(const py::handle& h) {
  NNZ_CHECK(py::isinstance<ByteArray>(h), invalid_argument, "base tensors must be contiguous uint8 arrays");
  return h.cast<ByteArray>();
}

py::object base_table_dict(const nnz::NnzReader& r) {
  const nnz::BaseTable* table = r.base_table();
  if (!table) return py::none();
  py::list tensors;
  for (const nnz::BaseTensorRef& t : table->tensors) {
    const nnz::DTypeInfo* d = nnz::find_dtype(t.dtype_code);
    tensors.append(py::make_tuple(t.name, d ? py::object(py::str(d->name)) : py::object(py::none()),
                                  py::tuple(py::cast(t.shape)), t.hash));
  }
  py::dict out;
  out["base_name"] = py::bytes(table->base_name);
  out["tensors"] = tensors;
  return out;
}

}  // namespace

void bind_delta(py::module_& m, py::class_<nnz::NnzReader, std::shared_ptr<nnz::NnzReader>>& reader) {
  m.def(
      "encode_delta",
      [](const ByteArray& data, const std::string& dtype, const ByteArray& base, int source, uint32_t index,
         uint32_t chunk_elems, int threads, int max_contexts) {
        nnz::TensorRef t = tensor_ref(data, dtype);
        NNZ_CHECK(base.size() == data.size(), invalid_argument, "the base tensor must have the tensor's size");
        NNZ_CHECK(source == 0 || source == 1, invalid_argument, "source must be 0 (base model) or 1 (this file)");
        nnz::DeltaOptions options{static_cast<nnz::DeltaSource>(source), index, base.data(), chunk_elems, threads,
                                  max_contexts};
        py::gil_scoped_release release;
        return nnz::DeltaCodec::encode(t, options);
      },
      py::arg("data"), py::arg("dtype"), py::arg("base"), py::arg("source"), py::arg("index"),
      py::arg("chunk_elems") = nnz::kDeltaDefaultChunkElems, py::arg("threads") = 1,
      py::arg("max_contexts") = nnz::kDeltaMaxContexts);
  m.def(
      "delta_with_ref",
      [](const nnz::EncodedTensor& encoded, int source, uint32_t index) {
        NNZ_CHECK(source == 0 || source == 1, invalid_argument, "source must be 0 (base model) or 1 (this file)");
        return nnz::delta_with_ref(encoded, static_cast<nnz::DeltaSource>(source), index);
      },
      py::arg("encoded"), py::arg("source"), py::arg("index"));
  m.def(
      "delta_residual",
      [](const nnz::EncodedTensor& inner, double bound, int source, uint32_t index) {
        NNZ_CHECK(source == 0 || source == 1, invalid_argument, "source must be 0 (base model) or 1 (this file)");
        return nnz::delta_residual(inner, bound, static_cast<nnz::DeltaSource>(source), index);
      },
      py::arg("inner"), py::arg("bound"), py::arg("source"), py::arg("index"));
  m.def(
      "encode_base_table",
      [](const py::bytes& base_name,
         const std::vector<std::tuple<std::string, std::string, std::vector<uint64_t>, uint64_t, uint32_t>>& tensors) {
        nnz::BaseTable table;
        table.base_name = base_name;
        for (const auto& [name, dtype, shape, hash, same_as] : tensors) {
          nnz::BaseTensorRef t;
          t.same_as = same_as;
          t.name = name;
          t.dtype_code = static_cast<uint8_t>(nnz::dtype_by_name(dtype).dtype);
          t.shape = shape;
          t.hash = hash;
          table.tensors.push_back(std::move(t));
        }
        return to_bytes(nnz::write_base_table(table));
      },
      py::arg("base_name"), py::arg("tensors"));

  reader.def("base_table", &base_table_dict)
      .def("needs_base", &nnz::NnzReader::needs_base)
      .def(
          "attach_base_arrays",
          [](nnz::NnzReader& r, const py::list& tensors, const py::object& files) {
            std::vector<nnz::BaseTensorView> views;
            for (const py::handle& item : tensors) {
              const py::tuple t = item.cast<py::tuple>();
              NNZ_CHECK(t.size() == 4, invalid_argument, "base tensors are (name, dtype, shape, bytes)");
              const ByteArray bytes = borrowed_bytes(t[3]);
              views.push_back(nnz::BaseTensorView{t[0].cast<std::string>(),
                                                  static_cast<uint8_t>(nnz::dtype_by_name(t[1].cast<std::string>()).dtype),
                                                  t[2].cast<std::vector<uint64_t>>(), span_of(bytes)});
            }
            std::shared_ptr<const std::vector<uint8_t>> section;
            if (!files.is_none()) {
              const std::string b = files.cast<py::bytes>();
              section = std::make_shared<const std::vector<uint8_t>>(b.begin(), b.end());
            }
            py::gil_scoped_release release;
            r.attach_base(nnz::memory_base(std::move(views), std::move(section)));
          },
          py::arg("tensors"), py::arg("files") = py::none(), py::keep_alive<1, 2>())
      .def("base_attached", &nnz::NnzReader::base_attached)
      .def("files_patched", [](const nnz::NnzReader& r) { return nnz::files_patch_base(r).has_value(); })
      .def(
          "files_section",
          [](const nnz::NnzReader& r) {
            std::vector<uint8_t> section;
            {
              py::gil_scoped_release release;
              section = nnz::read_files_section(r, nnz::kMaxPatchBaseBytes);
            }
            return py::bytes(reinterpret_cast<const char*>(section.data()), section.size());
          })
      .def(
          "attach_base_reader",
          [](nnz::NnzReader& r, std::shared_ptr<nnz::NnzReader> base, const std::string& label, int threads) {
            py::gil_scoped_release release;
            r.attach_base(nnz::reader_base(std::move(base), label, threads));
          },
          py::arg("base"), py::arg("label"), py::arg("threads") = 1);
}

}  // namespace nnz_bindings
