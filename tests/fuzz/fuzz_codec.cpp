// libFuzzer target: one codec payload, decoded by the codec the first byte selects.
//
// Input: u8 codec (index into codec_ids(), modulo: every codec of the table is fuzzed, in table
// order), u8 dtype code, u32 element count (reduced so the output stays under 1 MiB), u16 params
// length, params, payload (the rest). Seeds: tests/fuzz/make_corpus.py. Delta tensors get a base
// of the tensor's size whose byte i is (131 i + 7) mod 256 (make_corpus.py codes against it).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "codecs/codec_table.hpp"
#include "common/byte_io.hpp"
#include "common/dtype.hpp"
#include "common/error.hpp"

namespace {

constexpr uint64_t kMaxOutputBytes = uint64_t{1} << 20;  // larger outputs only cost page faults

struct PatternBase : nnz::BaseResolver {
  nnz::ByteSpan resolve(uint8_t, uint32_t, nnz::DType dtype, uint64_t count, std::vector<uint8_t>& scratch) const override {
    scratch.resize(static_cast<size_t>(count) * static_cast<size_t>(nnz::dtype_bytes(dtype)));
    for (size_t i = 0; i < scratch.size(); ++i) scratch[i] = static_cast<uint8_t>(131 * i + 7);
    return nnz::ByteSpan{scratch.data(), scratch.size()};
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::vector<std::string> codecs = nnz::codec_ids();
  nnz::ByteReader in(data, size, "fuzz input");
  try {
    const std::string& codec = codecs[in.u8() % codecs.size()];
    const nnz::DTypeInfo* dtype = nnz::find_dtype(in.u8());
    if (!dtype) return 0;
    const uint64_t esize = static_cast<uint64_t>(dtype->bits / 8);
    const uint64_t count = in.u32() % (kMaxOutputBytes / esize + 1);
    const nnz::ByteSpan params = in.bytes(in.u16());
    const nnz::ByteSpan payload = in.bytes(in.remaining());
    std::vector<uint8_t> out(static_cast<size_t>(count * esize));
    static const PatternBase base;
    nnz::decode_tensor(nnz::DecodeRequest{codec, dtype->dtype, count, params, payload, &base}, out.data(), 1);
  } catch (const nnz::Error&) {
    // A clean rejection. Anything else (std::bad_alloc, std::length_error...) escapes and is
    // reported by libFuzzer as a crash.
  }
  return 0;
}
