#include "container/base_table.hpp"

#include <cstring>
#include <set>

#include "common/checked_math.hpp"
#include "common/dtype.hpp"
#include "common/error.hpp"
#include "container/nnz_format.hpp"

namespace nnz {

namespace {

// An entry's name, dtype and shape, spelled out.
BaseTensorRef read_entry_layout(ByteReader& r) {
  BaseTensorRef t;
  t.name = r.str(r.u16());
  NNZ_CHECK(!t.name.empty(), corrupt, "nncodec/base: empty tensor name");
  t.dtype_code = r.u8();
  const uint8_t ndim = r.u8();
  NNZ_CHECK(ndim <= kMaxRank, corrupt, "nncodec/base: tensor '" + t.name.substr(0, 200) + "' has too many dimensions");
  for (uint8_t d = 0; d < ndim; ++d) {
    t.shape.push_back(r.u64());
    t.count = checked_mul(t.count, t.shape.back(), "nncodec/base: tensor shape");
  }
  return t;
}

}  // namespace

BaseTable parse_base_table(ByteSpan bytes, const std::vector<BaseTensorRef>& tensors) {
  ByteReader r(bytes, "nncodec/base");
  const ByteSpan magic = r.bytes(4);
  NNZ_CHECK(std::memcmp(magic.data, "NNZB", 4) == 0, corrupt, "nncodec/base: bad magic");
  const uint8_t version = r.u8();
  NNZ_CHECK(version == 1 || version == kBaseTableVersion, unsupported,
            "nncodec/base: version " + std::to_string(version) + " (written by a newer nncodec?)");
  r.bytes(3);
  BaseTable table;
  table.base_name = r.str(r.u16());
  NNZ_CHECK(table.base_name.size() <= kMaxBaseNameBytes, corrupt, "nncodec/base: base name too long");
  const uint32_t count = r.u32();
  // An entry takes at least 12 bytes: larger counts are corrupt, not a reason to allocate.
  NNZ_CHECK(uint64_t{count} * 12 <= r.remaining(), corrupt, "nncodec/base: entry count too large");
  table.tensors.reserve(count);
  std::set<std::string> names;
  for (uint32_t i = 0; i < count; ++i) {
    const uint32_t same_as = version == 1 ? 0 : r.u32();
    NNZ_CHECK(same_as <= tensors.size(), corrupt, "nncodec/base: an entry refers to a tensor the file does not hold");
    BaseTensorRef t = same_as ? tensors[same_as - 1] : read_entry_layout(r);
    t.same_as = same_as;
    NNZ_CHECK(names.insert(t.name).second, corrupt, "nncodec/base: tensor '" + t.name.substr(0, 200) + "' listed twice");
    t.hash = r.u64();
    table.tensors.push_back(std::move(t));
  }
  r.expect_end();
  return table;
}

}  // namespace nnz
