#include "entropy/token_decode.hpp"

#include "common/error.hpp"
#include "entropy/rans_table.hpp"

namespace nnz {

TokenStreamDecoder::TokenStreamDecoder(ByteReader& in, int nctx, TokenScheme scheme) {
  NNZ_CHECK(nctx >= 1 && nctx <= kTokenMaxContexts, internal, "token stream: bad context count");
  scale_bits_ = in.u8();
  NNZ_CHECK(scale_bits_ >= kRansMinScaleBits && scale_bits_ <= kRansMaxScaleBits, corrupt, "token stream: bad precision");
  const size_t ntables = in.u8();
  NNZ_CHECK(ntables >= 1 && ntables <= kTokenMaxTables, corrupt, "token stream: bad table count");
  std::vector<uint8_t> ctx_table(static_cast<size_t>(nctx));
  for (size_t c = 0; c < ctx_table.size(); c += 2) {
    const uint8_t b = in.u8();
    ctx_table[c] = b & 15;
    if (c + 1 < ctx_table.size()) ctx_table[c + 1] = static_cast<uint8_t>(b >> 4);
  }
  for (uint8_t t : ctx_table) NNZ_CHECK(t < ntables, corrupt, "token stream: context mapped to a missing table");
  slots_.reserve(ntables << scale_bits_);
  for (size_t t = 0; t < ntables; ++t)
    rans_append_dec_table(rans_normalize(rans_read_table(in, token_alphabet(scheme)), scale_bits_), scale_bits_, slots_);
  for (uint32_t t = 0; t < token_alphabet(scheme); ++t) meanings_[t] = token_meaning(t, scheme);
  for (size_t c = 0; c < ctx_table.size(); ++c) ctx_slots_[c] = slots_.data() + (size_t{ctx_table[c]} << scale_bits_);
  rans_ = RansDecoder(in.bytes(in.u64()));
  const ByteSpan raw = in.bytes(in.u64());
  raw_ = BitReader(raw.data, raw.size);
}

void TokenStreamDecoder::finish() const {
  rans_.finish();
  NNZ_CHECK(raw_.finished_exactly(), corrupt, "token stream: raw bits do not end where the values do");
}

}  // namespace nnz
