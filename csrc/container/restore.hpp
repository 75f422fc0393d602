// Whole-file restore: the files of the model a .nnz file holds (an ONNX model and its external
// data, a PyTorch archive, safetensors shards, a model folder), streamed in order through a sink,
// byte for byte as they were encoded (after lossless coding) with about one tensor in memory.
//
// The section `nncodec/files` (zlib) holds a layout, then the kept bytes of every file: each file
// is its kept bytes with holes where tensors of the container go (docs/FORMAT.md, section 9.1).
// Every entry of the layout is checked before the sink sees anything: names by the output-folder
// policy (member_name.hpp), holes inside their file, sorted, not overlapping, each tensor used
// once and exactly as long as the hole, CRC fields inside kept bytes, kept bytes used exactly.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "container/nnz_reader.hpp"

namespace nnz {

constexpr const char* kFilesBlob = "nncodec/files";
constexpr uint8_t kFilesLayoutVersion = 1;

struct RestoreHole {
  uint64_t offset;              // in the file
  uint32_t tensor;              // index in the container (the layout names it)
  uint64_t bytes;               // the tensor's decoded size
  uint8_t swap;                 // element size to byte-swap (big-endian files), or 0
  std::vector<uint64_t> crcs;   // file offsets of CRC-32 fields of these bytes (inside kept bytes)
};

struct RestoreFile {
  std::string name;             // relative path, checked by check_member_name
  uint64_t size;
  std::vector<RestoreHole> holes;  // sorted by offset
  uint64_t kept_bytes;          // size minus the holes
};

struct RestorePlan {
  std::vector<RestoreFile> files;
  uint64_t total_bytes = 0;     // of all files
  uint64_t layout_bytes = 0;    // where the kept bytes start in the inflated section
};

// Receives the restored files, one after the other: open(name, size), write(...) until size
// bytes were given, close(). Anything it throws stops the restore and is passed on.
class RestoreSink {
 public:
  virtual ~RestoreSink() = default;
  // Whether the sink takes this file (asked once per file, before the restore starts); the files
  // it declines are skipped without decoding their tensors (say, a model folder's configs alone).
  virtual bool wants(const std::string& /*name*/) { return true; }
  virtual void open(const std::string& name, uint64_t size) = 0;
  virtual void write(const uint8_t* data, size_t size) = 0;
  virtual void close() = 0;
};

// Whether the file holds a `nncodec/files` section (files written before it have none).
bool has_restore_plan(const NnzReader& reader);

// The checked layout (ErrorCode::unsupported when the file has no `nncodec/files` section).
RestorePlan restore_plan(const NnzReader& reader);

// Streams every file the sink wants through it. Tensors are decoded in batches of at most
// max(largest tensor, batch_bytes) bytes, each batch on up to `threads` threads; the bytes
// given to the sink never depend on either.
void restore(const NnzReader& reader, RestoreSink& sink, int threads, uint64_t batch_bytes = uint64_t{64} << 20);

}  // namespace nnz
