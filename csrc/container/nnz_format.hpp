// Constants of the .nnz container (docs/FORMAT.md is the normative description).
#pragma once
#include <cstddef>
#include <cstdint>

namespace nnz {

constexpr uint8_t kMagic[8] = {0x89, 'N', 'N', 'Z', '\r', '\n', 0x1A, '\n'};
constexpr uint16_t kFormatMajor = 1;
constexpr uint16_t kFormatMinor = 7;  // 1.1: the section nncodec/files (whole-file restore); 1.2: delta coding (codec delta, section nncodec/base); 1.3: the codec dq; 1.4: the codec lossless-values; 1.5: the codec lossless-grid; 1.6: the zlib index and files patched against the base; 1.7: delta chunks in mode lanes
constexpr size_t kHeaderBytes = 64;
constexpr size_t kHeaderHashedBytes = 56;  // the header hash covers bytes [0, 56)
constexpr int kMaxAlignmentLog2 = 12;
constexpr int kMaxRank = 32;
constexpr size_t kMaxCodecIdBytes = 32;

enum class BlobEncoding : uint8_t { stored = 0, zlib = 1 };
// Header flags (a reader refuses others). Format 1.6: the index is a zlib stream, inflated at most
// to the index limit.
constexpr uint32_t kFlagZlibIndex = 1;

}  // namespace nnz
