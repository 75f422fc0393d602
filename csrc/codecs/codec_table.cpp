// The one list of codecs. Adding a codec: its folder codecs/<id>/ and one line here
// (docs/ADDING_A_CODEC.md).
#include "codecs/codec_table.hpp"

#include "codecs/delta/delta.hpp"
#include "codecs/dq/dq.hpp"
#include "codecs/eb/eb.hpp"
#include "codecs/grid/grid.hpp"
#include "codecs/lossless/lossless.hpp"
#include "codecs/pl/pl.hpp"
#include "codecs/raw/raw.hpp"
#include "codecs/sparse/sparse.hpp"
#include "common/error.hpp"

namespace nnz {
namespace {

// Order is part of the fuzz corpus (tests/fuzz/corpus/codec/): new codecs go at the end.
constexpr Codec kBuiltinCodecs[] = {
    codec_entry<LosslessCodec>(), codec_entry<RawCodec>(), codec_entry<PlCodec>(),
    codec_entry<EbCodec>(),       codec_entry<SparseCodec>(),   codec_entry<DeltaCodec>(),
    codec_entry<DqCodec>(),       codec_entry<LosslessValuesCodec>(), codec_entry<LosslessGridCodec>(),
};

std::vector<Codec>& codecs_added_for_testing() {
  static std::vector<Codec> added;
  return added;
}

}  // namespace

const Codec* find_codec(const std::string& id) {
  for (const Codec& c : kBuiltinCodecs)
    if (id == c.id) return &c;
  for (const Codec& c : codecs_added_for_testing())
    if (id == c.id) return &c;
  return nullptr;
}

std::vector<std::string> codec_ids() {
  std::vector<std::string> ids;
  for (const Codec& c : kBuiltinCodecs) ids.emplace_back(c.id);
  for (const Codec& c : codecs_added_for_testing()) ids.emplace_back(c.id);
  return ids;
}

bool codec_is_known(const std::string& id) { return find_codec(id) != nullptr; }

void decode_tensor(const DecodeRequest& req, uint8_t* out, int threads) {
  const Codec* codec = find_codec(req.codec);
  if (!codec)
    fail(ErrorCode::unsupported, "unknown codec '" + req.codec +
                                     "' (written by a newer nncodec? upgrade to decode this tensor)");
  codec->decode(req, out, threads);
}

void add_codec_for_testing(const Codec& codec) {
  NNZ_CHECK(!find_codec(codec.id), invalid_argument, std::string("codec '") + codec.id + "' is already in the table");
  codecs_added_for_testing().push_back(codec);
}

}  // namespace nnz
