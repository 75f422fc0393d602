#include <cmath>
#include <cstring>
#include <string>

#include "codecs/chunk_table.hpp"
#include "codecs/pl/pl.hpp"
#include "common/bit_io.hpp"
#include "common/checked_math.hpp"
#include "common/bit_width.hpp"
#include "common/error.hpp"
#include "common/parallel.hpp"
#include "entropy/plane_decode.hpp"

namespace nnz {
namespace {

float read_f32(ByteReader& in) {
  const uint32_t bits = in.u32();
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

struct RuntimeLine {
  float intercept;
  float slope;
  int bits;
  bool raw;
};

void decode_block(ByteSpan block, size_t n, uint8_t* dst) {
  ByteReader in(block, "pl block");
  const size_t groups = in.u16();
  std::vector<float> slopes(groups);
  for (float& s : slopes) {
    s = read_f32(in);
    NNZ_CHECK(std::isfinite(s), corrupt, "pl: slope is not a finite number");
  }
  const size_t count = in.u16();
  NNZ_CHECK(count >= 1 && count <= kPlMaxLines, corrupt, "pl: bad line count");
  std::vector<RuntimeLine> lines(count);
  for (RuntimeLine& line : lines) {
    const float intercept = read_f32(in);
    const uint16_t group = in.u16();
    const uint8_t bits = in.u8();
    line.raw = bits == kPlRawBits;
    if (line.raw) {
      line = RuntimeLine{0, 0, 32, true};
      continue;
    }
    NNZ_CHECK(bits <= kPlMaxPositionBits, corrupt, "pl: too many position bits");
    NNZ_CHECK(group < groups, corrupt, "pl: slope group out of range");
    NNZ_CHECK(std::isfinite(intercept), corrupt, "pl: intercept is not a finite number");
    line = RuntimeLine{intercept, slopes[group], bits, false};
  }
  std::vector<uint16_t> ids(n);
  decode_plane(in, n, std::max(1, bit_width(count - 1)), ids.data());
  const ByteSpan positions = in.bytes(in.u32());
  in.expect_end();

  BitReader br(positions.data, positions.size);
  for (size_t i = 0; i < n; ++i) {
    const uint16_t id = ids[i];
    NNZ_CHECK(id < count, corrupt, "pl: line id out of range");
    const RuntimeLine& line = lines[id];
    br.refill();
    const uint32_t q = static_cast<uint32_t>(br.peek(line.bits));
    br.consume(line.bits);
    float v;
    if (line.raw) {
      std::memcpy(&v, &q, 4);
    } else {
      v = pl_line_value(line.intercept, line.slope, q);
    }
    std::memcpy(dst + 4 * i, &v, 4);
  }
  NNZ_CHECK(br.finished_exactly(), corrupt, "pl: position stream does not match the line ids");
}

struct PlParams {
  uint32_t block_elems;
  double p, max_error;  // informational: the decoder does not need them
};

double read_f64(ByteReader& in) {
  const uint64_t bits = in.u64();
  double d;
  std::memcpy(&d, &bits, 8);
  return d;
}

PlParams read_params(ByteSpan bytes) {
  ByteReader params(bytes, "pl parameters");
  const uint8_t version = params.u8();
  NNZ_CHECK(version == kPlParamsVersion, unsupported, "pl: unknown parameter version (written by a newer nncodec?)");
  NNZ_CHECK((params.u8() & ~kPlFlagExactPositions) == 0, corrupt, "pl: unknown flags");
  PlParams p{params.u32(), 0, 0};
  p.p = read_f64(params);
  p.max_error = read_f64(params);
  params.expect_end();
  NNZ_CHECK(p.block_elems >= 1 && p.block_elems <= kPlMaxBlockElems, corrupt, "pl: bad block size");
  return p;
}

}  // namespace

void PlCodec::decode(const DecodeRequest& req, uint8_t* out, int threads) {
  NNZ_CHECK(req.dtype == DType::float32, corrupt, "pl: tensor is not float32");
  const uint32_t block_elems = read_params(req.params).block_elems;

  decode_chunks(req.payload, req.count, block_elems, threads, "pl payload", [&](ByteSpan block, uint64_t first, size_t n) {
    decode_block(block, n, out + 4 * first);
  });
}

CodecDescription PlCodec::describe(ByteSpan params) {
  const PlParams p = read_params(params);
  return CodecDescription{p.p, p.max_error};
}

}  // namespace nnz
