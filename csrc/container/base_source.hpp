// Where a delta container's base tensors come from when it is decoded: tensors in the caller's
// memory (a model file read by the Python package, buffers given to the C API), or another .nnz
// file, itself possibly coded against a base (a chain). NnzReader::attach_base checks each tensor
// against the container's fingerprints before anything is decoded.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/byte_io.hpp"

namespace nnz {

class NnzReader;

struct BaseTensorView {
  std::string name;
  uint8_t dtype_code = 0;
  std::vector<uint64_t> shape;
  ByteSpan bytes;  // the element bytes, valid while the source lives
};

class BaseSource {
 public:
  virtual ~BaseSource() = default;
  // The tensor of this name, or nullptr. Not thread-safe (a reader calls it while attaching).
  virtual const BaseTensorView* find(const std::string& name) = 0;
  // The base's own section nncodec/files as restore reads it (docs/FORMAT.md 9.2), for a file
  // whose files are a patch against it; nullptr when the source has none. At most max_bytes.
  virtual std::shared_ptr<const std::vector<uint8_t>> files_section(uint64_t max_bytes) = 0;
};

// Tensors whose bytes the caller keeps valid and unchanged while the source lives, and the base's
// files section when the caller has it (a model file read as the encoder reads it).
std::shared_ptr<BaseSource> memory_base(std::vector<BaseTensorView> tensors,
                                        std::shared_ptr<const std::vector<uint8_t>> files = nullptr);

// The tensors of an open .nnz file (with its own base attached if it has one), decoded when first
// asked for and kept; `threads` decode each. Errors name the base model as `label`.
std::shared_ptr<BaseSource> reader_base(std::shared_ptr<const NnzReader> reader, std::string label, int threads);

}  // namespace nnz
