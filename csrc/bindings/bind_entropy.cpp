#include <pybind11/stl.h>

#include "bindings/bindings.hpp"
#include "common/xxhash64.hpp"
#include "entropy/huffman_decode.hpp"
#include "entropy/huffman_encode.hpp"

namespace nnz_bindings {

void bind_entropy(py::module_& m) {
  m.def(
      "xxhash64", [](const ByteArray& data) { return nnz::xxhash64(data.data(), static_cast<size_t>(data.size())); },
      py::arg("data"));
  py::class_<nnz::Xxh64>(m, "Xxh64", "XXH64 of bytes given in pieces (files hashed as they are read).")
      .def(py::init<>())
      .def(
          "update",
          [](nnz::Xxh64& h, const ByteArray& data) {
            py::gil_scoped_release release;
            h.update(data.data(), static_cast<size_t>(data.size()));
          },
          py::arg("data"))
      .def("digest", &nnz::Xxh64::digest);
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
}

}  // namespace nnz_bindings
