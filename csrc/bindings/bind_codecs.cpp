#include <pybind11/stl.h>

#include "bindings/bindings.hpp"
#include "codecs/codec.hpp"
#include "codecs/lossless.hpp"
#include "codecs/raw.hpp"
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

void bind_codecs(py::module_& m) {
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
        NNZ_CHECK(static_cast<uint64_t>(out.size()) == nnz::checked_mul(count, static_cast<uint64_t>(info.bits / 8), "tensor"),
                  invalid_argument,
                  "output buffer has the wrong size");
        std::string p = params;
        uint8_t* dst = out.mutable_data();
        py::gil_scoped_release release;
        nnz::decode_tensor(nnz::DecodeRequest{codec, info.dtype, count,
                                              nnz::ByteSpan{reinterpret_cast<const uint8_t*>(p.data()), p.size()},
                                              span_of(payload)},
                           dst, threads);
      },
      py::arg("codec"), py::arg("dtype"), py::arg("count"), py::arg("params"), py::arg("payload"), py::arg("out"),
      py::arg("threads") = 1);
  m.def("codec_is_known", &nnz::codec_is_known);
}

}  // namespace nnz_bindings
