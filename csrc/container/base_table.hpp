// The base model a delta container was coded against (section `nncodec/base`, docs/FORMAT.md 9.4):
// the fingerprint of every base tensor its `delta` tensors refer to (name, dtype, shape and the
// XXH64 of its element bytes), and the name the base had when the file was written.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "common/byte_io.hpp"

namespace nnz {

constexpr const char* kBaseBlob = "nncodec/base";
constexpr uint8_t kBaseTableVersion = 2;  // 1: every entry spells out its name, dtype and shape
constexpr size_t kBaseTableHeaderBytes = 8;  // "NNZB", version, 3 reserved bytes
constexpr size_t kMaxBaseNameBytes = 4096;

struct BaseTensorRef {
  std::string name;
  uint8_t dtype_code = 0;
  std::vector<uint64_t> shape;
  uint64_t count = 1;  // product of shape
  uint64_t hash = 0;   // XXH64 (seed 0) of the element bytes
  uint32_t same_as = 0;  // version 2: 1 + the index of the file's tensor of this name, dtype and shape, or 0
};

struct BaseTable {
  std::string base_name;  // as given when encoding (its file name): a hint, never a path to open as is
  std::vector<BaseTensorRef> tensors;
};

// Parses the section's bytes (after the container's zlib); every field is checked. `tensors`: the
// name, dtype and shape of each tensor of the file, which version 2 entries may refer to.
BaseTable parse_base_table(ByteSpan bytes, const std::vector<BaseTensorRef>& tensors);
// The section's bytes (encoder side: base_table_encode.cpp).
std::vector<uint8_t> write_base_table(const BaseTable& table);

}  // namespace nnz
