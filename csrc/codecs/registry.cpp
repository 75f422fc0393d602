// Decode dispatch by codec id. Encoders are called directly (each has its own options).
#include <cstring>
#include <string>

#include "codecs/codec.hpp"
#include "codecs/eb.hpp"
#include "codecs/lossless.hpp"
#include "codecs/pl.hpp"
#include "codecs/raw.hpp"
#include "codecs/sparse.hpp"
#include "common/checked_math.hpp"
#include "common/error.hpp"

namespace nnz {

bool codec_is_known(const std::string& codec) {
  return codec == kLosslessCodecId || codec == kRawCodecId || codec == kPlCodecId || codec == kEbCodecId ||
         codec == kSparseCodecId;
}

void decode_tensor(const DecodeRequest& req, uint8_t* out, int threads) {
  if (req.codec == kLosslessCodecId) return lossless_decode(req, out, threads);
  if (req.codec == kRawCodecId) return raw_decode(req, out);
  if (req.codec == kPlCodecId) return pl_decode(req, out, threads);
  if (req.codec == kEbCodecId) return eb_decode(req, out, threads);
  if (req.codec == kSparseCodecId) return sparse_decode(req, out, threads);
  fail(ErrorCode::unsupported, "unknown codec '" + req.codec +
                                   "' (written by a newer nncodec? upgrade to decode this tensor)");
}

}  // namespace nnz
