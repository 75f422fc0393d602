// Encoder-side helpers of the delta codec (delta.hpp has the codec itself).
#pragma once
#include "codecs/delta/delta.hpp"

namespace nnz {

// `encoded` (a delta tensor) referring to another base: the writer numbers base tensors in the
// order it writes the tensors that use them, after they were coded in parallel.
EncodedTensor delta_with_ref(const EncodedTensor& encoded, DeltaSource source, uint32_t index);

// A tensor coded as the residual x - b (as float64) by a lossy codec (`inner`, its own encoding of
// the residual): decoded as dtype(b + residual), within `bound` of x (the caller checked it).
EncodedTensor delta_residual(const EncodedTensor& inner, double bound, DeltaSource source, uint32_t index);

}  // namespace nnz
