// The chunk frame of the quantizing codecs (eb, dq), decoder half: u8 shift (the context scale of
// entropy/magnitude_context.hpp), the exception list (exception_list.hpp), the values, and then
// each exception over its element.
#pragma once
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include "codecs/exception_list.hpp"
#include "common/byte_io.hpp"
#include "common/dtype.hpp"
#include "common/error.hpp"
#include "entropy/magnitude_context.hpp"
#include "transform/float_convert.hpp"

namespace nnz {

// Decodes a chunk of n elements of a float dtype into dst. decode_values(in, shift, store) reads
// the values and calls store(i, r) for each element i, which becomes dtype(double(r) x step).
template <typename DecodeValues>
void decode_quantized_chunk(const char* codec, const char* what, DType dtype, ByteSpan chunk, size_t n, double step,
                            uint8_t* dst, DecodeValues decode_values) {
  ByteReader in(chunk, what);
  const int shift = in.u8();
  NNZ_CHECK(shift <= kMagnitudeMaxShift, corrupt, std::string(codec) + ": bad context scale");
  const size_t esize = static_cast<size_t>(dtype_bytes(dtype));
  const auto exceptions = read_exception_list(in, n, esize, codec);
  if (dtype == DType::float32) {
    // Stores through float* (not uint8_t*, which may alias the decoder's state and would force
    // the compiler to reload it after every element).
    std::vector<float> staging;
    float* values = reinterpret_cast<uintptr_t>(dst) % alignof(float) == 0 ? reinterpret_cast<float*>(dst)
                                                                           : (staging.resize(n), staging.data());
    decode_values(in, shift, [&](size_t i, int64_t r) { values[i] = to_float32(static_cast<double>(r) * step); });
    if (!staging.empty()) std::memcpy(dst, staging.data(), n * sizeof(float));
  } else {
    decode_values(in, shift, [&](size_t i, int64_t r) { store_float(dtype, static_cast<double>(r) * step, dst + esize * i); });
  }
  in.expect_end();
  for (const auto& e : exceptions) std::memcpy(dst + esize * e.first, e.second.data, esize);
}

}  // namespace nnz
