#include <algorithm>

#include "codecs/lossless/lossless.hpp"
#include "common/error.hpp"
#include "entropy/huffman_table.hpp"

namespace nnz {

FloatSplit float_split(DType dtype) {
  const DTypeInfo& info = dtype_info(dtype);
  NNZ_CHECK(info.kind == DTypeKind::floating, internal, "float_split on a non-float dtype");
  const int extra = std::min(info.mantissa_bits, kHuffmanMaxBits - info.exponent_bits);
  return FloatSplit{info.bits, info.exponent_bits, extra};
}

}  // namespace nnz
