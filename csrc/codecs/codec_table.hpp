// The codecs this build decodes, by id (codec_table.cpp is the only list).
#pragma once
#include <string>
#include <vector>

#include "codecs/codec.hpp"

namespace nnz {

// The codec with this id, or nullptr.
const Codec* find_codec(const std::string& id);
// Every codec id, in table order (the order is fixed: the fuzz target's codec byte indexes it).
std::vector<std::string> codec_ids();
// True if this build can decode the codec id.
bool codec_is_known(const std::string& id);

// Decodes with the codec req.codec names. Unknown codec ids fail with ErrorCode::unsupported.
void decode_tensor(const DecodeRequest& req, uint8_t* out, int threads = 1);

// Appends a codec to the table, after the built-in ones. For tests of the codec interface only:
// call it before any decoding starts (the table is read without locks).
void add_codec_for_testing(const Codec& codec);

}  // namespace nnz
