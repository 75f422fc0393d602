// The names a restored model may give its files (docs/SECURITY.md, the output-folder policy):
// plain relative paths inside the output folder. Checked before any sink sees a name.
#pragma once
#include <string>

namespace nnz {

constexpr size_t kMaxMemberNameBytes = 4096;
constexpr size_t kMaxMemberComponentBytes = 255;
constexpr size_t kMaxMemberComponents = 16;

// Fails with ErrorCode::unsafe unless `name` is valid UTF-8 and a plain relative path: no
// absolute path, no empty, "." or ".." component, no component starting with a dot, no control,
// format or line-separator character, no backslash or colon, within the size limits above.
void check_member_name(const std::string& name);

// The name folded for comparing names case-insensitively (ASCII letters, as file systems and
// zip readers that ignore case do at least).
std::string fold_member_name(const std::string& name);

}  // namespace nnz
