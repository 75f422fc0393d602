// Opens a .nnz file: validates header and index (every offset, size and name) before anything is
// allocated from them, then decodes tensors on demand. All methods are const after open and safe
// to call from several threads at once.
#pragma once
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "codecs/codec.hpp"
#include "common/dtype.hpp"
#include "container/base_source.hpp"
#include "container/base_table.hpp"
#include "container/byte_source.hpp"
#include "container/nnz_format.hpp"

namespace nnz {

struct ReaderLimits {
  uint64_t max_index_bytes = uint64_t{1} << 28;    // 256 MiB of index
  uint64_t max_tensor_bytes = uint64_t{1} << 36;   // 64 GiB decoded per tensor
};

struct TensorEntry {
  std::string name;
  uint8_t dtype_code;
  const DTypeInfo* dtype;  // nullptr when this build does not know the dtype code
  std::vector<uint64_t> shape;
  uint64_t count;           // number of elements (product of shape)
  std::string codec;
  std::vector<uint8_t> params;
  uint64_t offset, bytes, hash;
  uint64_t decoded_bytes() const;  // throws ErrorCode::unsupported for an unknown dtype
};

struct BlobEntry {
  std::string name;
  BlobEncoding encoding;
  uint64_t offset, bytes, hash;
};

struct FormatVersion {
  uint16_t major, minor;
};

class NnzReader {
 public:
  explicit NnzReader(std::unique_ptr<ByteSource> source, ReaderLimits limits = {});
  NnzReader(const NnzReader&) = delete;
  NnzReader& operator=(const NnzReader&) = delete;

  const std::vector<TensorEntry>& tensors() const { return tensors_; }
  const std::vector<BlobEntry>& blobs() const { return blobs_; }
  FormatVersion version() const { return version_; }
  const ReaderLimits& limits() const { return limits_; }
  uint64_t file_size() const { return source_->size(); }
  // Index of the tensor/blob with that name, or -1.
  long find_tensor(const std::string& name) const;
  long find_blob(const std::string& name) const;

  // Decodes tensor i into out (exactly decoded_bytes() bytes). A payload checksum mismatch fails
  // the call first, whatever the decoder reports (with threads > 1, a payload of 1 MiB or more is
  // hashed while it decodes).
  // `scratch`: where its payload is read, for a caller decoding tensor after tensor (else the
  // reader's spare buffer, kept until the reader closes, or one of this call's when it is lent).
  void decode_tensor(size_t i, uint8_t* out, uint64_t out_bytes, int threads = 1, ReadScratch* scratch = nullptr) const;
  // Checks the payload checksum of tensor i without decoding.
  void verify_tensor(size_t i) const;
  // The stored bytes of blob i (checksum verified); the caller applies its encoding.
  std::vector<uint8_t> read_blob(size_t i) const;

  // The base model the file's delta tensors were coded against (section nncodec/base), or nullptr.
  const BaseTable* base_table() const { return base_table_.get(); }
  // Whether decoding needs a base model (the file refers to base tensors) and whether one is attached.
  bool needs_base() const { return base_table_ && !base_table_->tensors.empty(); }
  bool base_attached() const { return base_ != nullptr; }
  // Checks every base tensor the file refers to against its fingerprint (name, dtype, shape, XXH64
  // of the bytes) and keeps them for decoding; fails with ErrorCode::base naming the first tensor
  // that is missing or differs, before anything is decoded. Call once, before decoding starts.
  // A file whose section nncodec/files is a patch against the base's also takes the base's section
  // (unchecked until a restore reads it: a base given as tensors alone still decodes tensors).
  void attach_base(std::shared_ptr<BaseSource> base);
  // That section of the base, or nullptr (no base, no patch, or a base given as tensors alone).
  std::shared_ptr<const std::vector<uint8_t>> base_files() const { return base_files_; }

 private:
  // Gives delta tensors their base: a base tensor, or (deduplication) another tensor of this file,
  // which may itself only refer to base tensors.
  class Resolver : public BaseResolver {
   public:
    Resolver(const NnzReader& reader, bool allow_container) : reader_(reader), allow_container_(allow_container) {}
    ByteSpan resolve(uint8_t source, uint32_t index, DType dtype, uint64_t count,
                     std::vector<uint8_t>& scratch) const override;

   private:
    const NnzReader& reader_;
    bool allow_container_;
  };

  void parse_index(ByteSpan index);
  void read_base_table();
  ByteSpan read_payload(size_t i, ReadScratch& scratch, int threads) const;
  void decode_with(size_t i, uint8_t* out, uint64_t out_bytes, int threads, const BaseResolver& resolver,
                   ReadScratch* scratch = nullptr) const;

  std::unique_ptr<ByteSource> source_;
  ReaderLimits limits_;
  FormatVersion version_{0, 0};
  std::vector<TensorEntry> tensors_;
  std::vector<BlobEntry> blobs_;
  std::unique_ptr<BaseTable> base_table_;
  std::shared_ptr<BaseSource> base_;
  std::vector<ByteSpan> base_bytes_;  // of each base table entry, once attached
  std::shared_ptr<const std::vector<uint8_t>> base_files_;
  Resolver resolver_{*this, true}, inner_resolver_{*this, false};
  // A payload buffer kept between calls that bring none (loaders read tensor after tensor: a fresh
  // buffer each time was faulted in page by page, a third of loading a large checkpoint on a VM).
  // Lent to one call at a time (its deleter gives it back); calls that find it lent get a buffer
  // of their own.
  struct SpareReturn {
    const NnzReader* reader;
    void operator()(ReadScratch* lent) const;
  };
  std::unique_ptr<ReadScratch, SpareReturn> borrow_spare() const;
  mutable std::mutex spare_mutex_;
  mutable std::unique_ptr<ReadScratch> spare_scratch_;
};

}  // namespace nnz
