#pragma once
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/byte_io.hpp"
#include "entropy/lane_rans.hpp"

namespace nnz {

// Decodes n symbols of a lane rANS stream (lane_rans.hpp) into out: symbol i with the table of
// contexts[i], tables[c << scale_bits ...] being context c's slots (rans_fill_dec_table). The
// caller guarantees contexts[i] < its number of tables. Throws ErrorCode::corrupt for a stream
// that does not end where its symbols do, or whose states do not start in range or end at 2^16.
void lane_rans_decode(ByteSpan stream, const uint32_t* tables, int scale_bits, const uint8_t* contexts, size_t n,
                      uint8_t* out);

}  // namespace nnz
