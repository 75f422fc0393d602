// Lane rANS: 64 interleaved rANS states over one stream of 16-bit words, each symbol coded with
// the table of a context the decoder already knows (docs/FORMAT.md, "Lane rANS"). The symbols
// stay in their own order, so that a user with contexts (delta: the base element's exponent)
// needs no pass to put them back together, and 64 independent states let a decoder take 8 at a
// time in vector registers (a gather per 8 table lookups) with enough of them in flight.
//
// Stream: 64 x u32 states (lane 0 first, each in [2^16, 2^32)), then u16 words. Symbol i uses
// state i mod 64 and its context's table T (2^P slots, P = scale_bits):
//   e = T[x mod 2^P]; x = f_e (x >> P) + (x mod 2^P) - start_e; if x < 2^16: x = (x << 16) | word
// The stream must be used to its last word, and every state end at 2^16.
#pragma once
#include <cstddef>
#include <cstdint>

namespace nnz {

constexpr int kLaneRansLanes = 64;
constexpr uint32_t kLaneRansLowerBound = uint32_t{1} << 16;
constexpr size_t kLaneRansStateBytes = 4 * kLaneRansLanes;

}  // namespace nnz
