// Element types a .nnz tensor can hold. The numeric codes are written into files: frozen.
#pragma once
#include <cstdint>
#include <string>

namespace nnz {

enum class DType : uint8_t {
  float32 = 1,
  float16 = 2,
  bfloat16 = 3,
  float64 = 4,
  int8 = 5,
  uint8 = 6,
  int16 = 7,
  uint16 = 8,
  int32 = 9,
  uint32 = 10,
  int64 = 11,
  uint64 = 12,
  boolean = 13,
};

enum class DTypeKind { floating, signed_int, unsigned_int, boolean };

struct DTypeInfo {
  DType dtype;
  const char* name;  // numpy-style name, also used in the Python API
  int bits;          // storage width of one element
  DTypeKind kind;
  int exponent_bits;  // floats only
  int mantissa_bits;  // floats only (explicit bits)
};

// Returns nullptr for a code that is not a known dtype (a file from the future, or corruption).
const DTypeInfo* find_dtype(uint8_t code);
// Throws ErrorCode::unsupported for an unknown code.
const DTypeInfo& dtype_info(uint8_t code);
const DTypeInfo& dtype_info(DType dtype);
// Throws ErrorCode::invalid_argument for an unknown name.
const DTypeInfo& dtype_by_name(const std::string& name);

inline int dtype_bytes(DType d) { return dtype_info(d).bits / 8; }

}  // namespace nnz
