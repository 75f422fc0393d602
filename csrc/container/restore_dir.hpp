// Whole-file restore into a folder on disk, with the output-folder policy of docs/SECURITY.md
// (the same rules as the Python package's atomic.py): the files are written into a private
// staging folder inside the output folder and fsync'd, then moved into place one by one by
// walking the output folder from an open descriptor with O_NOFOLLOW. A symlink on the way, a
// target that is a symlink or not a regular file, an existing file (without `force`) or an
// existing sub-folder holding files that are not the model's is refused, before anything moves.
#pragma once
#include <string>

#include "container/nnz_reader.hpp"

namespace nnz {

constexpr const char* kStagingPrefix = ".nncodec-";

// `dir` is created if missing. On failure nothing of the model is left in `dir`.
void restore_to_dir(const NnzReader& reader, const std::string& dir, bool force, int threads);

}  // namespace nnz
