#include <pybind11/stl.h>

#include <cstring>

#include "bindings/bindings.hpp"
#include "codecs/codec_table.hpp"
#include "codecs/lossless/lossless.hpp"
#include "codecs/raw/raw.hpp"
#include "common/checked_math.hpp"
#include "common/error.hpp"

namespace nnz_bindings {

nnz::TensorRef tensor_ref(const ByteArray& data, const std::string& dtype) {
  const nnz::DTypeInfo& info = nnz::dtype_by_name(dtype);
  const uint64_t esize = static_cast<uint64_t>(info.bits / 8);
  NNZ_CHECK(static_cast<uint64_t>(data.size()) % esize == 0, invalid_argument,
            "buffer size is not a whole number of elements");
  return nnz::TensorRef{info.dtype, static_cast<uint64_t>(data.size()) / esize, data.data()};
}

ByteArray output_bytes(const py::handle& out) {
  NNZ_CHECK(py::isinstance<ByteArray>(out), invalid_argument, "output buffer must be a contiguous uint8 array");
  ByteArray bytes = out.cast<ByteArray>();
  NNZ_CHECK(bytes.writeable(), invalid_argument, "output buffer is read-only");
  return bytes;
}

namespace {

// One coded tensor to decode into a caller's buffer: checked with the GIL held, run without it.
struct PayloadDecode {
  std::string codec;
  nnz::DType dtype;
  uint64_t count;
  std::string params;
  ByteArray payload;
  ByteArray out;

  void run(int threads) {
    nnz::decode_tensor(nnz::DecodeRequest{codec, dtype, count,
                                          nnz::ByteSpan{reinterpret_cast<const uint8_t*>(params.data()), params.size()},
                                          span_of(payload)},
                       out.mutable_data(), threads);
  }
};

PayloadDecode payload_decode(const std::string& codec, const std::string& dtype, uint64_t count,
                             const py::bytes& params, const ByteArray& payload, const py::handle& out) {
  const nnz::DTypeInfo& info = nnz::dtype_by_name(dtype);
  PayloadDecode job{codec, info.dtype, count, params, payload, output_bytes(out)};
  NNZ_CHECK(static_cast<uint64_t>(job.out.size()) == nnz::checked_mul(count, static_cast<uint64_t>(info.bits / 8), "tensor"),
            invalid_argument, "output buffer has the wrong size");
  return job;
}

// The payload in one piece: its head, then its chunks, copied once into the bytes object.
py::bytes payload_bytes(const nnz::EncodedTensor& e) {
  PyObject* bytes = PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(e.payload_bytes()));
  if (!bytes) throw py::error_already_set();
  char* at = PyBytes_AS_STRING(bytes);
  const auto put = [&at](const std::vector<uint8_t>& piece) {
    if (!piece.empty()) std::memcpy(at, piece.data(), piece.size());
    at += piece.size();
  };
  put(e.payload);
  for (const std::vector<uint8_t>& chunk : e.chunks) put(chunk);
  return py::reinterpret_steal<py::bytes>(bytes);
}

}  // namespace

void bind_codecs(py::module_& m) {
  py::class_<nnz::EncodedTensor>(m, "EncodedTensor")
      .def_readonly("codec", &nnz::EncodedTensor::codec)
      .def_property_readonly("params", [](const nnz::EncodedTensor& e) { return to_bytes(e.params); })
      .def_property_readonly("payload", &payload_bytes)
      .def_property_readonly("coded_bytes", [](const nnz::EncodedTensor& e) { return e.payload_bytes(); });

  m.def(
      "encode_lossless",
      [](const ByteArray& data, const std::string& dtype, uint32_t chunk_elems, int threads, bool value_tables) {
        nnz::TensorRef t = tensor_ref(data, dtype);
        py::gil_scoped_release release;
        return nnz::LosslessCodec::encode(t, nnz::LosslessOptions{chunk_elems, threads, true, value_tables});
      },
      py::arg("data"), py::arg("dtype"), py::arg("chunk_elems") = nnz::kLosslessDefaultChunkElems,
      py::arg("threads") = 1, py::arg("value_tables") = true);
  m.def(
      "encode_raw",
      [](const ByteArray& data, const std::string& dtype) {
        nnz::TensorRef t = tensor_ref(data, dtype);
        py::gil_scoped_release release;
        return nnz::RawCodec::encode(t, nnz::RawSettings{});
      },
      py::arg("data"), py::arg("dtype"));
  m.def(
      "decode_payload",
      [](const std::string& codec, const std::string& dtype, uint64_t count, const py::bytes& params,
         const ByteArray& payload, const py::object& out, int threads) {
        PayloadDecode job = payload_decode(codec, dtype, count, params, payload, out);
        py::gil_scoped_release release;
        job.run(threads);
      },
      py::arg("codec"), py::arg("dtype"), py::arg("count"), py::arg("params"), py::arg("payload"), py::arg("out"),
      py::arg("threads") = 1);
  m.def(
      "decode_payloads",
      [](const py::list& items, int threads) {
        std::vector<PayloadDecode> jobs;
        for (const py::handle& item : items) {
          const py::tuple t = item.cast<py::tuple>();
          NNZ_CHECK(t.size() == 6, invalid_argument, "decode_payloads: items are (codec, dtype, count, params, payload, out)");
          jobs.push_back(payload_decode(t[0].cast<std::string>(), t[1].cast<std::string>(), t[2].cast<uint64_t>(),
                                        t[3].cast<py::bytes>(), t[4].cast<ByteArray>(), t[5]));
        }
        py::gil_scoped_release release;
        for (PayloadDecode& job : jobs) job.run(threads);
      },
      py::arg("items"), py::arg("threads") = 1);
  // What a tensor's stored parameters say about its error, by the codec table: (error_bound,
  // max_error, rmse_bound, rmse), all 0 for exact codecs; None for an id this build does not know.
  m.def(
      "describe_params",
      [](const std::string& codec, const py::bytes& params) -> py::object {
        const nnz::Codec* entry = nnz::find_codec(codec);
        if (!entry) return py::none();
        const std::string bytes = params;
        const nnz::CodecDescription d =
            entry->describe(nnz::ByteSpan{reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size()});
        return py::make_tuple(d.error_bound, d.max_error, d.rmse_bound, d.rmse);
      },
      py::arg("codec"), py::arg("params"));
  m.def("codec_is_known", &nnz::codec_is_known);
  m.def("codec_ids", &nnz::codec_ids);
}

}  // namespace nnz_bindings
