#include "container/member_name.hpp"

#include <cstdint>

#include "common/error.hpp"

namespace nnz {
namespace {

// Next code point of strict UTF-8 at s[i] (advancing i), or -1 when malformed: overlong forms,
// surrogates and values above U+10FFFF are malformed.
long next_code_point(const std::string& s, size_t& i) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t b = byte(i);
  const int extra = b < 0x80 ? 0 : (b >> 5) == 0x6 ? 1 : (b >> 4) == 0xE ? 2 : (b >> 3) == 0x1E ? 3 : -1;
  if (extra < 0 || i + static_cast<size_t>(extra) >= s.size()) return -1;
  long cp = extra == 0 ? b : b & (0x3F >> extra);
  for (int k = 1; k <= extra; ++k) {
    if ((byte(i + static_cast<size_t>(k)) & 0xC0) != 0x80) return -1;
    cp = cp << 6 | (byte(i + static_cast<size_t>(k)) & 0x3F);
  }
  static const long kMin[4] = {0, 0x80, 0x800, 0x10000};
  if (cp < kMin[extra] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return -1;
  i += static_cast<size_t>(extra) + 1;
  return cp;
}

// Characters a terminal or a text layout acts on: controls (C0, DEL, C1), format characters
// (soft hyphen, zero-width and bidirectional marks, the byte-order mark...) and line separators.
bool is_forbidden(long cp) {
  static const long kRanges[][2] = {{0x00, 0x1F},     {0x7F, 0x9F},     {0xAD, 0xAD},     {0x600, 0x605},
                                    {0x61C, 0x61C},   {0x6DD, 0x6DD},   {0x70F, 0x70F},   {0x180E, 0x180E},
                                    {0x200B, 0x200F}, {0x2028, 0x202E}, {0x2060, 0x2064}, {0x2066, 0x206F},
                                    {0xFEFF, 0xFEFF}, {0xFFF9, 0xFFFB}, {0xE0001, 0xE007F}};
  if (cp == '\\' || cp == ':') return true;
  for (const auto& r : kRanges)
    if (cp >= r[0] && cp <= r[1]) return true;
  return false;
}

}  // namespace

void check_member_name(const std::string& name) {
  const auto refuse = [&](const char* why) {
    fail(ErrorCode::unsafe, "refusing to write file name '" + name.substr(0, 200) + "': " + why +
                                 " (the files of a model must have plain relative names)");
  };
  if (name.empty() || name.size() > kMaxMemberNameBytes) refuse("empty or too long");
  size_t components = 0, start = 0;
  for (size_t i = 0; i <= name.size(); ++i) {
    if (i < name.size() && name[i] != '/') continue;
    const std::string part = name.substr(start, i - start);
    if (part.empty()) refuse("an empty component or an absolute path");
    if (part[0] == '.') refuse("a component starting with a dot ('.', '..' or a dot-file)");
    if (part.size() > kMaxMemberComponentBytes) refuse("a component is too long");
    if (++components > kMaxMemberComponents) refuse("too many components");
    start = i + 1;
  }
  for (size_t i = 0; i < name.size();) {
    const long cp = next_code_point(name, i);
    if (cp < 0) refuse("not valid UTF-8");
    if (is_forbidden(cp)) refuse("a control or format character, a backslash or a colon");
  }
}

std::string fold_member_name(const std::string& name) {
  std::string out = name;
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

}  // namespace nnz
