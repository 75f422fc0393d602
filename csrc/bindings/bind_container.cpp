#include <pybind11/stl.h>

#include <map>

#include "bindings/bindings.hpp"
#include "common/error.hpp"
#include "container/nnz_reader.hpp"
#include "container/nnz_writer.hpp"
#include "container/file_map.hpp"
#include "container/file_tree_sink.hpp"
#include "container/memory_sink.hpp"
#include "container/parallel_decode.hpp"
#include "container/restore.hpp"
#include "container/zlib_inflate.hpp"

namespace nnz_bindings {
namespace {

py::dict tensor_entry_dict(const nnz::TensorEntry& t) {
  py::dict d;
  d["name"] = t.name;
  d["dtype"] = t.dtype ? py::object(py::str(t.dtype->name)) : py::object(py::none());
  d["dtype_code"] = t.dtype_code;
  d["shape"] = py::tuple(py::cast(t.shape));
  d["codec"] = t.codec;
  d["params"] = to_bytes(t.params);
  d["offset"] = t.offset;
  d["coded_bytes"] = t.bytes;
  return d;
}

nnz::ReaderLimits limits(uint64_t max_index_bytes, uint64_t max_tensor_bytes) {
  return nnz::ReaderLimits{max_index_bytes, max_tensor_bytes};
}

// The named model files restored into new bytes objects (filled before Python sees them).
py::dict restore_to_memory(const nnz::NnzReader& r, const std::vector<std::string>& names, int threads,
                           uint64_t batch_bytes) {
  std::map<std::string, uint64_t> sizes;
  for (const nnz::RestoreFile& f : nnz::restore_plan(r).files) sizes.emplace(f.name, f.size);
  py::dict out;
  nnz::MemorySink sink;
  for (const std::string& name : names) {
    const auto found = sizes.find(name);
    NNZ_CHECK(found != sizes.end(), not_found, "the file holds no model file named '" + name + "'");
    auto bytes = py::reinterpret_steal<py::bytes>(
        PyBytes_FromStringAndSize(nullptr, static_cast<py::ssize_t>(found->second)));
    if (!bytes) throw py::error_already_set();
    sink.add(name, reinterpret_cast<uint8_t*>(PyBytes_AS_STRING(bytes.ptr())), found->second);
    out[py::str(name)] = bytes;
  }
  {
    py::gil_scoped_release release;
    nnz::restore(r, sink, threads, batch_bytes);
  }
  sink.check_complete();
  return out;
}

}  // namespace

void bind_container(py::module_& m) {
  const nnz::ReaderLimits defaults;

  py::class_<nnz::FileMap>(m, "FileMap", py::buffer_protocol())
      .def(py::init<const std::string&>(), py::arg("path"))
      .def_buffer([](const nnz::FileMap& f) {
        return py::buffer_info(const_cast<uint8_t*>(f.data()), 1, py::format_descriptor<uint8_t>::format(), 1,
                               {static_cast<py::ssize_t>(f.size())}, {1}, /*readonly=*/true);
      })
      .def("__len__", &nnz::FileMap::size)
      .def("release", &nnz::FileMap::release, py::arg("offset"), py::arg("length"));

  m.def(
      "zlib_inflate",
      [](const py::bytes& data, uint64_t max_output) {
        const std::string s = data;
        std::vector<uint8_t> out;
        {
          py::gil_scoped_release release;
          out = nnz::ZlibInflater::inflate_all(
              nnz::ByteSpan{reinterpret_cast<const uint8_t*>(s.data()), s.size()}, max_output);
        }
        return to_bytes(out);
      },
      py::arg("data"), py::arg("max_output"));

  py::class_<nnz::NnzWriter>(m, "Writer")
      .def(py::init<const std::string&, int>(), py::arg("path"), py::arg("alignment_log2") = 3)
      .def(
          "add_tensor",
          [](nnz::NnzWriter& w, const std::string& name, const std::string& dtype, const std::vector<uint64_t>& shape,
             const nnz::EncodedTensor& encoded) { w.add_tensor(name, nnz::dtype_by_name(dtype).dtype, shape, encoded); },
          py::arg("name"), py::arg("dtype"), py::arg("shape"), py::arg("encoded"))
      .def(
          "add_blob",
          [](nnz::NnzWriter& w, const std::string& name, int encoding, const py::bytes& data) {
            NNZ_CHECK(encoding == 0 || encoding == 1, invalid_argument, "unknown blob encoding");
            std::string d = data;
            w.add_blob(name, static_cast<nnz::BlobEncoding>(encoding), reinterpret_cast<const uint8_t*>(d.data()),
                       d.size());
          },
          py::arg("name"), py::arg("encoding"), py::arg("data"))
      .def("size", &nnz::NnzWriter::size)
      .def("index", [](const nnz::NnzWriter& w) {
        const std::vector<uint8_t> index = w.index();
        return py::bytes(reinterpret_cast<const char*>(index.data()), index.size());
      })
      .def(
          "finish",
          [](nnz::NnzWriter& w, const py::bytes& zlib_index) {
            const std::string b = zlib_index;
            return w.finish(std::vector<uint8_t>(b.begin(), b.end()));
          },
          py::arg("zlib_index") = py::bytes());

  py::class_<nnz::NnzReader, std::shared_ptr<nnz::NnzReader>> reader(m, "Reader");
  bind_delta(m, reader);
  reader
      .def(py::init([](const std::string& path, uint64_t max_index_bytes, uint64_t max_tensor_bytes) {
             return new nnz::NnzReader(nnz::open_file_source(path), limits(max_index_bytes, max_tensor_bytes));
           }),
           py::arg("path"), py::arg("max_index_bytes") = defaults.max_index_bytes,
           py::arg("max_tensor_bytes") = defaults.max_tensor_bytes)
      .def_static(
          "from_bytes",
          [](const py::bytes& data, uint64_t max_index_bytes, uint64_t max_tensor_bytes) {
            std::string s = data;
            return new nnz::NnzReader(nnz::owned_memory_source(std::vector<uint8_t>(s.begin(), s.end())),
                                      limits(max_index_bytes, max_tensor_bytes));
          },
          py::arg("data"), py::arg("max_index_bytes") = defaults.max_index_bytes,
          py::arg("max_tensor_bytes") = defaults.max_tensor_bytes)
      .def_property_readonly("version",
                             [](const nnz::NnzReader& r) { return py::make_tuple(r.version().major, r.version().minor); })
      .def_property_readonly("file_size", &nnz::NnzReader::file_size)
      .def("tensors",
           [](const nnz::NnzReader& r) {
             py::list out;
             for (const nnz::TensorEntry& t : r.tensors()) out.append(tensor_entry_dict(t));
             return out;
           })
      .def("blob_names",
           [](const nnz::NnzReader& r) {
             py::list out;
             for (const nnz::BlobEntry& b : r.blobs())
               out.append(py::make_tuple(b.name, static_cast<int>(b.encoding), b.bytes));
             return out;
           })
      .def(
          "decode",
          [](const nnz::NnzReader& r, size_t i, const py::object& out, int threads) {
            ByteArray bytes = output_bytes(out);
            uint8_t* dst = bytes.mutable_data();
            const uint64_t n = static_cast<uint64_t>(bytes.size());
            py::gil_scoped_release release;
            r.decode_tensor(i, dst, n, threads);
          },
          py::arg("index"), py::arg("out"), py::arg("threads") = 1)
      .def(
          "decode_many",
          [](const nnz::NnzReader& r, const std::vector<size_t>& indices, const py::list& outs, int threads) {
            NNZ_CHECK(indices.size() == outs.size(), invalid_argument, "decode_many: one output buffer per tensor");
            std::vector<nnz::DecodeTarget> targets;
            for (size_t k = 0; k < indices.size(); ++k) {
              ByteArray out = output_bytes(outs[k]);
              targets.push_back(nnz::DecodeTarget{indices[k], out.mutable_data(), static_cast<uint64_t>(out.size())});
            }
            py::gil_scoped_release release;
            nnz::decode_tensors(r, std::move(targets), threads);
          },
          py::arg("indices"), py::arg("outs"), py::arg("threads") = 1)
      .def(
          "verify",
          [](const nnz::NnzReader& r, size_t i) {
            py::gil_scoped_release release;
            r.verify_tensor(i);
          },
          py::arg("index"))
      .def("has_files", [](const nnz::NnzReader& r) { return nnz::has_restore_plan(r); })
      .def("files",
           [](const nnz::NnzReader& r) {
             py::list out;
             for (const nnz::RestoreFile& f : nnz::restore_plan(r).files) out.append(py::make_tuple(f.name, f.size));
             return out;
           })
      .def(
          "restore_to",
          [](const nnz::NnzReader& r, const std::string& folder, const std::string& first_as, int threads,
             uint64_t batch_bytes, const py::object& progress) {
            // progress(bytes) is called with the GIL, every 16 MiB written and at the end.
            uint64_t pending = 0;
            const auto report = [&](bool all) {
              if (progress.is_none() || pending == 0 || (!all && pending < (uint64_t{16} << 20))) return;
              py::gil_scoped_acquire gil;
              progress(pending);
              pending = 0;
            };
            {
              py::gil_scoped_release release;
              nnz::FileTreeSink sink(folder, first_as, [&](uint64_t n) {
                pending += n;
                report(false);
              });
              nnz::restore(r, sink, threads, batch_bytes);
            }
            report(true);
          },
          py::arg("folder"), py::arg("first_as") = "", py::arg("threads") = 1,
          py::arg("batch_bytes") = uint64_t{64} << 20, py::arg("progress") = py::none())
      .def("restore_to_memory", &restore_to_memory, py::arg("names"), py::arg("threads") = 1,
           py::arg("batch_bytes") = uint64_t{64} << 20)
      .def(
          "read_blob",
          [](const nnz::NnzReader& r, const std::string& name) {
            const long i = r.find_blob(name);
            NNZ_CHECK(i >= 0, not_found, "no blob named '" + name + "'");
            return to_bytes(r.read_blob(static_cast<size_t>(i)));
          },
          py::arg("name"));
}

}  // namespace nnz_bindings
