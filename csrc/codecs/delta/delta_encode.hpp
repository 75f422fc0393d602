// Encoder-side helpers of the delta codec (delta.hpp has the codec itself).
#pragma once
#include "codecs/delta/delta.hpp"

namespace nnz {

// `encoded` (a delta tensor) referring to another base: the writer numbers base tensors in the
// order it writes the tensors that use them, after they were coded in parallel.
EncodedTensor delta_with_ref(const EncodedTensor& encoded, DeltaSource source, uint32_t index);

}  // namespace nnz
