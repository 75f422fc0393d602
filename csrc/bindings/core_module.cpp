// The only translation unit that includes pybind11: converts arrays, bytes and errors; no logic.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "codecs/codec.hpp"
#include "codecs/lossless.hpp"
#include "codecs/raw.hpp"
#include "common/error.hpp"
#include "common/xxhash64.hpp"
#include "container/nnz_reader.hpp"
#include "container/nnz_writer.hpp"
#include "entropy/huffman_block.hpp"
#include "entropy/huffman_table.hpp"

namespace py = pybind11;
using nnz::ByteSpan;

namespace {

using ByteArray = py::array_t<uint8_t, py::array::c_style>;

ByteSpan span_of(const ByteArray& a) { return ByteSpan{a.data(), static_cast<size_t>(a.size())}; }

py::bytes to_bytes(const std::vector<uint8_t>& v) { return py::bytes(reinterpret_cast<const char*>(v.data()), v.size()); }

nnz::TensorRef tensor_ref(const ByteArray& data, const std::string& dtype) {
  const nnz::DTypeInfo& info = nnz::dtype_by_name(dtype);
  const uint64_t esize = static_cast<uint64_t>(info.bits / 8);
  NNZ_CHECK(static_cast<uint64_t>(data.size()) % esize == 0, invalid_argument, "buffer size is not a whole number of elements");
  return nnz::TensorRef{info.dtype, static_cast<uint64_t>(data.size()) / esize, data.data()};
}

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

}  // namespace

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

  py::class_<nnz::EncodedTensor>(m, "EncodedTensor")
      .def_readonly("codec", &nnz::EncodedTensor::codec)
      .def_property_readonly("params", [](const nnz::EncodedTensor& e) { return to_bytes(e.params); })
      .def_property_readonly("payload", [](const nnz::EncodedTensor& e) { return to_bytes(e.payload); })
      .def_property_readonly("coded_bytes", [](const nnz::EncodedTensor& e) { return e.payload.size(); });

  m.def(
      "encode_lossless",
      [](const ByteArray& data, const std::string& dtype, uint32_t chunk_elems, int threads) {
        nnz::TensorRef t = tensor_ref(data, dtype);
        py::gil_scoped_release release;
        return nnz::lossless_encode(t, nnz::LosslessOptions{chunk_elems, threads});
      },
      py::arg("data"), py::arg("dtype"), py::arg("chunk_elems") = nnz::kLosslessDefaultChunkElems,
      py::arg("threads") = 1);
  m.def(
      "encode_raw",
      [](const ByteArray& data, const std::string& dtype) {
        nnz::TensorRef t = tensor_ref(data, dtype);
        py::gil_scoped_release release;
        return nnz::raw_encode(t);
      },
      py::arg("data"), py::arg("dtype"));
  m.def(
      "decode_payload",
      [](const std::string& codec, const std::string& dtype, uint64_t count, const py::bytes& params,
         const ByteArray& payload, ByteArray& out, int threads) {
        const nnz::DTypeInfo& info = nnz::dtype_by_name(dtype);
        NNZ_CHECK(static_cast<uint64_t>(out.size()) == count * static_cast<uint64_t>(info.bits / 8), invalid_argument,
                  "output buffer has the wrong size");
        std::string p = params;
        uint8_t* dst = out.mutable_data();
        py::gil_scoped_release release;
        nnz::decode_tensor(nnz::DecodeRequest{codec, info.dtype, count,
                                              ByteSpan{reinterpret_cast<const uint8_t*>(p.data()), p.size()},
                                              span_of(payload)},
                           dst, threads);
      },
      py::arg("codec"), py::arg("dtype"), py::arg("count"), py::arg("params"), py::arg("payload"), py::arg("out"),
      py::arg("threads") = 1);
  m.def("codec_is_known", &nnz::codec_is_known);

  m.def(
      "xxhash64", [](const ByteArray& data) { return nnz::xxhash64(data.data(), static_cast<size_t>(data.size())); },
      py::arg("data"));

  m.def(
      "huffman_code_lengths",
      [](const py::array_t<uint64_t, py::array::c_style>& freq, int max_bits) {
        return nnz::huffman_code_lengths(freq.data(), static_cast<size_t>(freq.size()), max_bits);
      },
      py::arg("freq"), py::arg("max_bits") = nnz::kHuffmanMaxBits);
  m.def(
      "huffman_encode",
      [](const py::array_t<uint16_t, py::array::c_style>& syms, const std::vector<uint8_t>& lengths) {
        std::vector<uint8_t> out;
        nnz::huffman_encode_block(syms.data(), static_cast<size_t>(syms.size()), lengths.size(), lengths, out);
        return to_bytes(out);
      },
      py::arg("symbols"), py::arg("lengths"));
  m.def(
      "huffman_decode",
      [](const ByteArray& block, size_t n, size_t alphabet) {
        py::array_t<uint16_t> out(static_cast<py::ssize_t>(n));
        nnz::huffman_decode_block(span_of(block), n, alphabet, out.mutable_data());
        return out;
      },
      py::arg("block"), py::arg("n"), py::arg("alphabet"));

  py::class_<nnz::NnzWriter>(m, "Writer")
      .def(py::init<const std::string&, int>(), py::arg("path"), py::arg("alignment_log2") = 3)
      .def(
          "add_tensor",
          [](nnz::NnzWriter& w, const std::string& name, const std::string& dtype, const std::vector<uint64_t>& shape,
             const nnz::EncodedTensor& encoded) {
            w.add_tensor(name, nnz::dtype_by_name(dtype).dtype, shape, encoded);
          },
          py::arg("name"), py::arg("dtype"), py::arg("shape"), py::arg("encoded"))
      .def(
          "add_blob",
          [](nnz::NnzWriter& w, const std::string& name, int encoding, const py::bytes& data) {
            NNZ_CHECK(encoding == 0 || encoding == 1, invalid_argument, "unknown blob encoding");
            std::string d = data;
            w.add_blob(name, static_cast<nnz::BlobEncoding>(encoding), reinterpret_cast<const uint8_t*>(d.data()), d.size());
          },
          py::arg("name"), py::arg("encoding"), py::arg("data"))
      .def("finish", &nnz::NnzWriter::finish);

  py::class_<nnz::NnzReader>(m, "Reader")
      .def(py::init([](const std::string& path, uint64_t max_index_bytes, uint64_t max_tensor_bytes) {
             return new nnz::NnzReader(nnz::open_file_source(path), nnz::ReaderLimits{max_index_bytes, max_tensor_bytes});
           }),
           py::arg("path"), py::arg("max_index_bytes") = nnz::ReaderLimits{}.max_index_bytes,
           py::arg("max_tensor_bytes") = nnz::ReaderLimits{}.max_tensor_bytes)
      .def_static(
          "from_bytes",
          [](const py::bytes& data, uint64_t max_index_bytes, uint64_t max_tensor_bytes) {
            std::string s = data;
            return new nnz::NnzReader(nnz::owned_memory_source(std::vector<uint8_t>(s.begin(), s.end())),
                                      nnz::ReaderLimits{max_index_bytes, max_tensor_bytes});
          },
          py::arg("data"), py::arg("max_index_bytes") = nnz::ReaderLimits{}.max_index_bytes,
          py::arg("max_tensor_bytes") = nnz::ReaderLimits{}.max_tensor_bytes)
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
             for (const nnz::BlobEntry& b : r.blobs()) out.append(py::make_tuple(b.name, static_cast<int>(b.encoding), b.bytes));
             return out;
           })
      .def(
          "decode",
          [](const nnz::NnzReader& r, size_t i, ByteArray& out, int threads) {
            uint8_t* dst = out.mutable_data();
            const uint64_t n = static_cast<uint64_t>(out.size());
            py::gil_scoped_release release;
            r.decode_tensor(i, dst, n, threads);
          },
          py::arg("index"), py::arg("out"), py::arg("threads") = 1)
      .def(
          "verify",
          [](const nnz::NnzReader& r, size_t i) {
            py::gil_scoped_release release;
            r.verify_tensor(i);
          },
          py::arg("index"))
      .def(
          "read_blob",
          [](const nnz::NnzReader& r, const std::string& name) {
            const long i = r.find_blob(name);
            NNZ_CHECK(i >= 0, not_found, "no blob named '" + name + "'");
            return to_bytes(r.read_blob(static_cast<size_t>(i)));
          },
          py::arg("name"));
}
