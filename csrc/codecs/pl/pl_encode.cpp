#include <cstring>
#include <string>

#include "codecs/pl/pl.hpp"
#include "common/bit_io.hpp"
#include "common/checked_math.hpp"
#include "common/bit_width.hpp"
#include "common/error.hpp"
#include "common/parallel.hpp"
#include "entropy/huffman_table.hpp"
#include "entropy/plane_encode.hpp"
#include "transform/piecewise_linear_fit.hpp"

namespace nnz {
namespace {

uint32_t f32_bits(float f) {
  uint32_t b;
  std::memcpy(&b, &f, 4);
  return b;
}

void patch_u32(std::vector<uint8_t>& out, size_t at, uint64_t v) {
  NNZ_CHECK(v <= UINT32_MAX, internal, "pl: stream larger than 4 GiB");
  for (int b = 0; b < 4; ++b) out[at + b] = static_cast<uint8_t>(v >> (8 * b));
}

// Splits the bytes of a line-id plane into Huffman table, coded ids and framing.
void account_plane(const std::vector<uint8_t>& out, size_t at, size_t n, PlStats& s) {
  const uint64_t total = out.size() - at;
  if (out[at] != static_cast<uint8_t>(PlaneMode::huffman)) {
    s.framing_bytes += 1;
    s.line_id_bytes += total - 1;
    return;
  }
  ByteReader r(out.data() + at + 5, out.size() - at - 5, "pl stats");
  const size_t before = r.position();
  huffman_read_table(r, kPlMaxLines);
  const uint64_t table = r.position() - before;
  const uint64_t framing = 5 + 4 * ((n < kHuffmanFourStreamMin ? 1 : 4) - 1);
  s.table_bytes += table;
  s.framing_bytes += framing;
  s.line_id_bytes += total - table - framing;
}

void write_block(const PlBlockModel& m, size_t n, std::vector<uint8_t>& out, PlStats& s) {
  ByteWriter w(out);
  w.u16(static_cast<uint16_t>(m.slopes.size()));
  for (float slope : m.slopes) w.u32(f32_bits(slope));
  w.u16(static_cast<uint16_t>(m.lines.size()));
  for (const PlLine& line : m.lines) {
    w.u32(f32_bits(line.intercept));
    w.u16(line.group);
    w.u8(line.bits);
  }
  s.slope_bytes += 2 + 4 * m.slopes.size();
  s.line_bytes += 2 + 7 * m.lines.size();

  const size_t plane_at = out.size();
  const int width = std::max(1, bit_width(m.lines.size() - 1));
  encode_plane(m.line_of.data(), n, width, out);
  account_plane(out, plane_at, n, s);

  const size_t size_at = out.size();
  w.u32(0);
  const size_t begin = out.size();
  BitWriter bits(out);
  for (size_t e = 0; e < n; ++e) {
    const uint8_t nb = m.lines[m.line_of[e]].bits;
    bits.put(m.position[e], nb == kPlRawBits ? 32 : nb);
  }
  bits.finish();
  patch_u32(out, size_at, out.size() - begin);
  s.framing_bytes += 4;
  s.exception_bytes += 4 * m.exceptions;
  s.position_bytes += out.size() - begin - 4 * m.exceptions;
  s.blocks += 1;
  s.lines += m.lines.size();
  s.slopes += m.slopes.size();
  s.exceptions += m.exceptions;
  s.max_error = std::max(s.max_error, m.max_error);
}

}  // namespace

EncodedTensor pl_encode_with_stats(const TensorRef& tensor, const PlOptions& options, PlStats& stats) {
  NNZ_CHECK(tensor.dtype == DType::float32, invalid_argument, "pl: codes float32 tensors only");
  NNZ_CHECK(options.block_elems >= 1 && options.block_elems <= kPlMaxBlockElems, invalid_argument,
            "pl: block size must be between 1 and 2^24 weights");
  const uint64_t nblocks = ceil_div(tensor.count, options.block_elems);
  std::vector<std::vector<uint8_t>> blocks(to_size(nblocks, "pl block count"));
  std::vector<PlStats> block_stats(blocks.size());
  parallel_for(blocks.size(), options.threads, [&](size_t b) {
    const uint64_t first = static_cast<uint64_t>(b) * options.block_elems;
    const size_t n = static_cast<size_t>(std::min<uint64_t>(options.block_elems, tensor.count - first));
    const PlBlockModel model = pl_fit_block(tensor.data + 4 * first, n, options.fit);
    write_block(model, n, blocks[b], block_stats[b]);
  });

  EncodedTensor result;
  result.codec = kPlCodecId;
  PlStats total;
  ByteWriter payload(result.payload);
  for (const std::vector<uint8_t>& block : blocks) {
    NNZ_CHECK(block.size() <= UINT32_MAX, internal, "pl: block larger than 4 GiB");
    payload.u32(static_cast<uint32_t>(block.size()));
  }
  for (size_t b = 0; b < blocks.size(); ++b) {
    payload.bytes(blocks[b]);
    const PlStats& s = block_stats[b];
    total.position_bytes += s.position_bytes;
    total.exception_bytes += s.exception_bytes;
    total.line_id_bytes += s.line_id_bytes;
    total.table_bytes += s.table_bytes;
    total.line_bytes += s.line_bytes;
    total.slope_bytes += s.slope_bytes;
    total.framing_bytes += s.framing_bytes + 4;
    total.blocks += s.blocks;
    total.lines += s.lines;
    total.slopes += s.slopes;
    total.exceptions += s.exceptions;
    total.max_error = std::max(total.max_error, s.max_error);
  }

  ByteWriter params(result.params);
  params.u8(kPlParamsVersion);
  params.u8(options.fit.exact_positions ? kPlFlagExactPositions : 0);
  params.u32(options.block_elems);
  uint64_t bits;
  std::memcpy(&bits, &options.fit.p, 8);
  params.u64(bits);
  std::memcpy(&bits, &total.max_error, 8);
  params.u64(bits);
  stats = total;
  return result;
}

EncodedTensor PlCodec::encode(const TensorRef& tensor, const PlOptions& options) {
  PlStats stats;
  return pl_encode_with_stats(tensor, options, stats);
}

}  // namespace nnz
