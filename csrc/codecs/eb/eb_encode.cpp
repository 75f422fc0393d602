#include <cstring>

#include "codecs/chunk_table.hpp"
#include "codecs/eb/eb.hpp"
#include "codecs/exception_list.hpp"
#include "common/checked_math.hpp"
#include "common/error.hpp"
#include "common/parallel.hpp"
#include "common/scratch.hpp"
#include "entropy/magnitude_context.hpp"
#include "entropy/token_encode.hpp"
#include "transform/bounded_quant_encode.hpp"

namespace nnz {
namespace {

void encode_chunk(DType dtype, const uint8_t* src, size_t n, double max_error, std::vector<uint8_t>& out) {
  const std::unique_ptr<int32_t[]> q = scratch_array<int32_t>(n);
  std::vector<uint32_t> exceptions;
  bounded_quantize(dtype, src, n, max_error, q.get(), exceptions);

  // Symbols in stream order (see eb.hpp).
  const std::unique_ptr<uint32_t[]> magnitude = scratch_array<uint32_t>(n);
  const std::unique_ptr<uint8_t[]> negative = scratch_array<uint8_t>(n), context = scratch_array<uint8_t>(n);
  uint64_t sum = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint32_t a = static_cast<uint32_t>(q[i] < 0 ? -static_cast<int64_t>(q[i]) : q[i]);
    sum += a < 65535 ? a : 65535;
  }
  const int shift = magnitude_shift(sum, n);
  uint32_t level[kMagnitudeLanes] = {0, 0, 0, 0};
  size_t pos = 0;
  for_each_in_lane_order(n, [&](size_t i, size_t lane) {
    const int64_t v = q[i];
    magnitude[pos] = static_cast<uint32_t>(v < 0 ? -v : v);
    negative[pos] = v < 0;
    context[pos] = static_cast<uint8_t>(magnitude_context(level[lane], shift));
    level[lane] = magnitude_next_level(level[lane], magnitude[pos]);
    ++pos;
  });

  ByteWriter w(out);
  w.u8(static_cast<uint8_t>(shift));
  write_exception_list(w, exceptions, src, static_cast<size_t>(dtype_bytes(dtype)));
  encode_token_stream(TokenStreamInput{magnitude.get(), context.get(), negative.get(), n, kMagnitudeContexts}, out);
}

}  // namespace

EncodedTensor EbCodec::encode(const TensorRef& tensor, const EbOptions& options) {
  check_max_error(options.max_error);
  NNZ_CHECK(dtype_info(tensor.dtype).kind == DTypeKind::floating, invalid_argument,
            "eb: only float tensors can be coded with an error bound");
  NNZ_CHECK(options.chunk_elems >= 1 && options.chunk_elems <= kEbMaxChunkElems, invalid_argument,
            "eb: chunk size must be between 1 and 2^28 elements");
  const size_t esize = static_cast<size_t>(dtype_bytes(tensor.dtype));
  std::vector<std::vector<uint8_t>> chunks(to_size(ceil_div(tensor.count, options.chunk_elems), "eb chunk count"));
  parallel_for(chunks.size(), options.threads, [&](size_t c) {
    const uint64_t first = static_cast<uint64_t>(c) * options.chunk_elems;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(options.chunk_elems, tensor.count - first));
    std::vector<uint8_t> coded;  // on this thread's stack, as lossless does (no shared cache lines)
    encode_chunk(tensor.dtype, tensor.data + first * esize, n, options.max_error, coded);
    chunks[c] = std::move(coded);
  });
  EncodedTensor result;
  result.codec = kEbCodecId;
  ByteWriter params(result.params);
  uint64_t error_bits;
  std::memcpy(&error_bits, &options.max_error, 8);
  params.u64(error_bits);
  params.u32(options.chunk_elems);
  write_chunk_table(chunks, result, "eb");
  return result;
}

}  // namespace nnz
