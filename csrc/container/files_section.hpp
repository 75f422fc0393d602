// The bytes of the section `nncodec/files` (docs/FORMAT.md 9.2), in order: inflated as they are
// read when the section is zlib-coded and, when it is a patch against the base model's own
// section (9.5, format 1.6: a fine-tune or copy of a model keeps its base's file layout), rebuilt
// from the base's bytes and the patch's literal bytes. Restore reads the files through it.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <vector>

#include "common/byte_io.hpp"
#include "container/zlib_inflate.hpp"

namespace nnz {

class NnzReader;

constexpr uint64_t kMaxPatchBaseBytes = uint64_t{1} << 28;  // 256 MiB of base section, held in memory
constexpr uint32_t kMaxPatchOps = uint32_t{1} << 20;

// What a patch needs of the base: its section's length and XXH64.
struct FilesPatchBase {
  uint64_t bytes = 0, hash = 0;
};

// The stored section of a reader, zlib or not: its bytes in order.
class StoredSection {
 public:
  explicit StoredSection(const NnzReader& reader);  // ErrorCode::unsupported when there is none
  size_t read(uint8_t* out, size_t n);              // fewer than n only at the end
 private:
  std::vector<uint8_t> stored_;
  size_t pos_ = 0;
  std::unique_ptr<ZlibInflater> inflater_;
};

class FilesSection {
 public:
  // Fails with ErrorCode::base when the section is a patch and the reader has not got the base's
  // files, or got other ones (checked here, before the caller writes anything).
  explicit FilesSection(const NnzReader& reader);
  // Exactly n bytes, else the section is damaged.
  void read(uint8_t* out, size_t n);
  // Up to n bytes; fewer only at the end.
  size_t read_up_to(uint8_t* out, size_t n);
  void skip(uint64_t n);
  void expect_end();

 private:
  struct Op {
    uint64_t base_offset;  // UINT64_MAX: literal bytes from the patch
    uint64_t length;
  };
  void read_patch_ops(uint32_t op_count);

  StoredSection stored_;
  std::vector<uint8_t> prefix_;  // bytes read ahead of the caller to tell a patch from a section
  size_t prefix_pos_ = 0;
  std::shared_ptr<const std::vector<uint8_t>> base_;  // set when the section is a patch
  std::vector<Op> ops_;
  size_t op_ = 0;
  uint64_t op_done_ = 0;
};

// The base section a reader's patch was made against, or nothing when its section is no patch.
std::optional<FilesPatchBase> files_patch_base(const NnzReader& reader);

// The whole section of a reader as restore reads it (a patch applied), at most max_bytes.
std::vector<uint8_t> read_files_section(const NnzReader& reader, uint64_t max_bytes);

}  // namespace nnz
