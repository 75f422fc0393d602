#include "entropy/token_decode.hpp"

#include "common/error.hpp"
#include "entropy/rans_table.hpp"

namespace nnz {

TokenStreamDecoder::TokenStreamDecoder(ByteReader& in, int nctx) {
  NNZ_CHECK(nctx >= 1 && nctx <= kTokenMaxContexts, internal, "token stream: bad context count");
  const int scale_bits = in.u8();
  NNZ_CHECK(scale_bits >= kRansMinScaleBits && scale_bits <= kRansMaxScaleBits, corrupt, "token stream: bad precision");
  const size_t ntables = in.u8();
  NNZ_CHECK(ntables >= 1 && ntables <= kTokenMaxContexts, corrupt, "token stream: bad table count");
  ctx_table_.resize(static_cast<size_t>(nctx));
  for (size_t c = 0; c < ctx_table_.size(); c += 2) {
    const uint8_t b = in.u8();
    ctx_table_[c] = b & 15;
    if (c + 1 < ctx_table_.size()) ctx_table_[c + 1] = static_cast<uint8_t>(b >> 4);
  }
  for (uint8_t t : ctx_table_) NNZ_CHECK(t < ntables, corrupt, "token stream: context mapped to a missing table");
  for (size_t t = 0; t < ntables; ++t)
    tables_.emplace_back(rans_normalize(rans_read_table(in, kTokenAlphabet), scale_bits), scale_bits);
  rans_ = RansDecoder(in.bytes(in.u64()));
  const ByteSpan raw = in.bytes(in.u64());
  raw_ = BitReader(raw.data, raw.size);
}

void TokenStreamDecoder::finish() const {
  rans_.finish();
  NNZ_CHECK(raw_.finished_exactly(), corrupt, "token stream: raw bits do not end where the values do");
}

}  // namespace nnz
