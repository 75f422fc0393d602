#include "common/dtype.hpp"

#include "common/error.hpp"

namespace nnz {
namespace {

const DTypeInfo kDTypes[] = {
    {DType::float32, "float32", 32, DTypeKind::floating, 8, 23},
    {DType::float16, "float16", 16, DTypeKind::floating, 5, 10},
    {DType::bfloat16, "bfloat16", 16, DTypeKind::floating, 8, 7},
    {DType::float64, "float64", 64, DTypeKind::floating, 11, 52},
    {DType::int8, "int8", 8, DTypeKind::signed_int, 0, 0},
    {DType::uint8, "uint8", 8, DTypeKind::unsigned_int, 0, 0},
    {DType::int16, "int16", 16, DTypeKind::signed_int, 0, 0},
    {DType::uint16, "uint16", 16, DTypeKind::unsigned_int, 0, 0},
    {DType::int32, "int32", 32, DTypeKind::signed_int, 0, 0},
    {DType::uint32, "uint32", 32, DTypeKind::unsigned_int, 0, 0},
    {DType::int64, "int64", 64, DTypeKind::signed_int, 0, 0},
    {DType::uint64, "uint64", 64, DTypeKind::unsigned_int, 0, 0},
    {DType::boolean, "bool", 8, DTypeKind::boolean, 0, 0},
};

}  // namespace

const DTypeInfo* find_dtype(uint8_t code) {
  for (const DTypeInfo& d : kDTypes)
    if (static_cast<uint8_t>(d.dtype) == code) return &d;
  return nullptr;
}

const DTypeInfo& dtype_info(uint8_t code) {
  const DTypeInfo* d = find_dtype(code);
  NNZ_CHECK(d != nullptr, unsupported, "unknown dtype code " + std::to_string(code));
  return *d;
}

const DTypeInfo& dtype_info(DType dtype) { return dtype_info(static_cast<uint8_t>(dtype)); }

const DTypeInfo& dtype_by_name(const std::string& name) {
  for (const DTypeInfo& d : kDTypes)
    if (name == d.name) return d;
  fail(ErrorCode::invalid_argument, "unsupported dtype '" + name + "'");
}

}  // namespace nnz
