// libFuzzer target: one codec payload, decoded by the codec the first byte selects.
//
// Input: u8 codec (index into kCodecs, modulo), u8 dtype code, u32 element count (reduced so the
// output stays under 1 MiB), u16 params length, params, payload (the rest).
// To fuzz a new codec, add its id to kCodecs (and seeds to tests/fuzz/corpus/codec/).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "codecs/codec_table.hpp"
#include "common/byte_io.hpp"
#include "common/dtype.hpp"
#include "common/error.hpp"

namespace {

const char* const kCodecs[] = {"lossless", "raw", "pl", "eb", "sparse"};
constexpr size_t kCodecCount = sizeof kCodecs / sizeof kCodecs[0];
constexpr uint64_t kMaxOutputBytes = uint64_t{1} << 20;  // larger outputs only cost page faults

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  nnz::ByteReader in(data, size, "fuzz input");
  try {
    const std::string codec = kCodecs[in.u8() % kCodecCount];
    const nnz::DTypeInfo* dtype = nnz::find_dtype(in.u8());
    if (!dtype) return 0;
    const uint64_t esize = static_cast<uint64_t>(dtype->bits / 8);
    const uint64_t count = in.u32() % (kMaxOutputBytes / esize + 1);
    const nnz::ByteSpan params = in.bytes(in.u16());
    const nnz::ByteSpan payload = in.bytes(in.remaining());
    std::vector<uint8_t> out(static_cast<size_t>(count * esize));
    nnz::decode_tensor(nnz::DecodeRequest{codec, dtype->dtype, count, params, payload}, out.data(), 1);
  } catch (const nnz::Error&) {
    // A clean rejection. Anything else (std::bad_alloc, std::length_error...) escapes and is
    // reported by libFuzzer as a crash.
  }
  return 0;
}
