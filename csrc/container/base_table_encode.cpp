#include "common/error.hpp"
#include "container/base_table.hpp"

namespace nnz {

std::vector<uint8_t> write_base_table(const BaseTable& table) {
  NNZ_CHECK(table.base_name.size() <= kMaxBaseNameBytes, invalid_argument, "base name too long");
  NNZ_CHECK(table.tensors.size() <= UINT32_MAX, invalid_argument, "too many base tensors");
  std::vector<uint8_t> out;
  ByteWriter w(out);
  w.bytes("NNZB", 4);
  w.u8(kBaseTableVersion);
  w.bytes("\0\0\0", 3);
  w.u16(static_cast<uint16_t>(table.base_name.size()));
  w.bytes(table.base_name.data(), table.base_name.size());
  w.u32(static_cast<uint32_t>(table.tensors.size()));
  for (const BaseTensorRef& t : table.tensors) {
    w.u32(t.same_as);  // 1 + a tensor of the file with this entry's name, dtype and shape: they are not repeated
    if (t.same_as) {
      w.u64(t.hash);
      continue;
    }
    NNZ_CHECK(!t.name.empty() && t.name.size() <= UINT16_MAX, invalid_argument, "base tensor names must be 1 to 65535 bytes");
    NNZ_CHECK(t.shape.size() <= 32, invalid_argument, "base tensor '" + t.name + "' has too many dimensions");
    w.u16(static_cast<uint16_t>(t.name.size()));
    w.bytes(t.name.data(), t.name.size());
    w.u8(t.dtype_code);
    w.u8(static_cast<uint8_t>(t.shape.size()));
    for (uint64_t d : t.shape) w.u64(d);
    w.u64(t.hash);
  }
  return out;
}

}  // namespace nnz
