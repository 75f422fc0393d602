#include "container/files_section.hpp"

#include <algorithm>
#include <cstring>

#include "common/checked_math.hpp"
#include "common/error.hpp"
#include "common/xxhash64.hpp"
#include "container/nnz_reader.hpp"
#include "container/restore.hpp"

namespace nnz {
namespace {

constexpr char kPatchMagic[4] = {'N', 'N', 'Z', 'P'};
constexpr uint8_t kPatchVersion = 1;
constexpr size_t kPatchHeaderBytes = 28;  // magic, version, 3 reserved, base bytes, base hash, op count
constexpr uint64_t kLiteral = UINT64_MAX;
constexpr uint64_t kMaxSectionBytes = uint64_t{1} << 40;  // the kept bytes of a model folder
constexpr size_t kChunk = size_t{1} << 16;

// Exactly n bytes of the stored section, else it is damaged.
void read_exactly(StoredSection& stored, uint8_t* out, size_t n) {
  NNZ_CHECK(stored.read(out, n) == n, corrupt, "nncodec/files: the section ends before its files do");
}

bool is_patch(const uint8_t* head, size_t n) { return n >= 4 && std::memcmp(head, kPatchMagic, 4) == 0; }

// The patch header after its magic (the rest of kPatchHeaderBytes): the base it needs and its op count.
FilesPatchBase read_patch_header(StoredSection& stored, uint32_t& op_count) {
  uint8_t rest[kPatchHeaderBytes - 4];
  read_exactly(stored, rest, sizeof rest);
  NNZ_CHECK(rest[0] == kPatchVersion, unsupported,
            "nncodec/files: patch version " + std::to_string(rest[0]) + " (written by a newer nncodec?)");
  FilesPatchBase base{load_le(rest + 4, 8), load_le(rest + 12, 8)};
  op_count = static_cast<uint32_t>(load_le(rest + 20, 4));
  NNZ_CHECK(base.bytes <= kMaxPatchBaseBytes, limit_exceeded, "nncodec/files: the base section is too large to patch");
  NNZ_CHECK(op_count <= kMaxPatchOps, limit_exceeded, "nncodec/files: too many patch operations");
  return base;
}

}  // namespace

StoredSection::StoredSection(const NnzReader& reader) {
  const long i = reader.find_blob(kFilesBlob);
  NNZ_CHECK(i >= 0, unsupported, "this file holds no model files to restore (no nncodec/files section; "
                                 "files written before format 1.1 are restored by the Python package)");
  stored_ = reader.read_blob(static_cast<size_t>(i));
  if (reader.blobs()[static_cast<size_t>(i)].encoding == BlobEncoding::zlib)
    inflater_ = std::make_unique<ZlibInflater>(ByteSpan{stored_.data(), stored_.size()}, kMaxSectionBytes);
}

size_t StoredSection::read(uint8_t* out, size_t n) {
  if (inflater_) {
    size_t got = 0;
    while (got < n) {
      const size_t k = inflater_->read(out + got, n - got);
      if (k == 0) break;
      got += k;
    }
    return got;
  }
  const size_t k = std::min(n, stored_.size() - pos_);
  std::copy(stored_.begin() + static_cast<long>(pos_), stored_.begin() + static_cast<long>(pos_ + k), out);
  pos_ += k;
  return k;
}

FilesSection::FilesSection(const NnzReader& reader) : stored_(reader) {
  prefix_.resize(4);
  prefix_.resize(stored_.read(prefix_.data(), prefix_.size()));
  if (!is_patch(prefix_.data(), prefix_.size())) return;
  prefix_.clear();
  uint32_t op_count = 0;
  const FilesPatchBase need = read_patch_header(stored_, op_count);
  base_ = reader.base_files();
  NNZ_CHECK(base_ != nullptr, base,
            "the model's files are coded against the base model's files, which were not given (give the base "
            "as the model file or .nnz it was coded against, not as tensors alone)");
  NNZ_CHECK(base_->size() == need.bytes && xxhash64(base_->data(), base_->size()) == need.hash, base,
            "wrong base model: its files (everything but its tensors) differ from those the file was coded against");
  read_patch_ops(op_count);
}

void FilesSection::read_patch_ops(uint32_t op_count) {
  uint64_t total = 0;
  std::vector<uint8_t> table(size_t{op_count} * 16);
  read_exactly(stored_, table.data(), table.size());
  for (uint32_t k = 0; k < op_count; ++k) {
    const Op op{load_le(&table[16 * k + 8], 8), load_le(&table[16 * k], 8)};
    NNZ_CHECK(op.length > 0, corrupt, "nncodec/files: empty patch operation");
    NNZ_CHECK(op.base_offset == kLiteral || (op.base_offset <= base_->size() && op.length <= base_->size() - op.base_offset),
              corrupt, "nncodec/files: a patch copies from beyond the base's section");
    total = checked_add(total, op.length, "nncodec/files: patched size");
    NNZ_CHECK(total <= kMaxSectionBytes, limit_exceeded, "nncodec/files: patched section too large");
    ops_.push_back(op);
  }
}

size_t FilesSection::read_up_to(uint8_t* out, size_t n) {
  if (!base_) {
    const size_t ahead = std::min(n, prefix_.size() - prefix_pos_);
    std::copy(prefix_.begin() + static_cast<long>(prefix_pos_), prefix_.begin() + static_cast<long>(prefix_pos_ + ahead), out);
    prefix_pos_ += ahead;
    return ahead + stored_.read(out + ahead, n - ahead);
  }
  size_t got = 0;
  while (got < n && op_ < ops_.size()) {
    const Op& op = ops_[op_];
    const size_t k = static_cast<size_t>(std::min<uint64_t>(n - got, op.length - op_done_));
    if (op.base_offset == kLiteral)
      read_exactly(stored_, out + got, k);
    else
      std::memcpy(out + got, base_->data() + op.base_offset + op_done_, k);
    got += k;
    op_done_ += k;
    if (op_done_ == op.length) ++op_, op_done_ = 0;
  }
  return got;
}

void FilesSection::read(uint8_t* out, size_t n) {
  NNZ_CHECK(read_up_to(out, n) == n, corrupt, "nncodec/files: the section ends before its files do");
}

void FilesSection::skip(uint64_t n) {
  uint8_t chunk[kChunk];
  for (uint64_t done = 0; done < n;) {
    const size_t k = static_cast<size_t>(std::min<uint64_t>(kChunk, n - done));
    read(chunk, k);
    done += k;
  }
}

void FilesSection::expect_end() {
  uint8_t extra;
  // A patch's literal bytes end with its last operation.
  const bool more = read_up_to(&extra, 1) > 0 || (base_ && stored_.read(&extra, 1) > 0);
  NNZ_CHECK(!more, corrupt, "nncodec/files: bytes after the last file");
}

std::optional<FilesPatchBase> files_patch_base(const NnzReader& reader) {
  if (reader.find_blob(kFilesBlob) < 0) return std::nullopt;
  StoredSection stored(reader);
  uint8_t magic[4];
  if (!is_patch(magic, stored.read(magic, sizeof magic))) return std::nullopt;
  uint32_t op_count = 0;
  return read_patch_header(stored, op_count);
}

std::vector<uint8_t> read_files_section(const NnzReader& reader, uint64_t max_bytes) {
  FilesSection section(reader);
  std::vector<uint8_t> out;
  uint8_t chunk[kChunk];
  for (size_t k; (k = section.read_up_to(chunk, sizeof chunk)) > 0;) {
    NNZ_CHECK(k <= max_bytes - out.size(), limit_exceeded, "nncodec/files: larger than a base section may be");
    out.insert(out.end(), chunk, chunk + k);
  }
  section.expect_end();
  return out;
}

}  // namespace nnz
