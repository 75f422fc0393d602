// The matrix formats nncodec is compared against (`nncodec compare`): dense, CSR with 32-bit and
// with minimal-width indices, and CER / CSER (Wiedemann, Mueller, Samek, "Compact and
// computationally efficient representation of deep neural networks", IEEE TNNLS 2020). Real
// encoders and decoders, exact to the bit pattern, but not .nnz codecs: no codec id is written
// for them. docs/piecewise-linearization.md defines each layout and its size formula.
//
// A tensor is viewed as a matrix: rows = its first dimension (1 for a scalar), cols = the rest.
// "Zero" (left out by CSR) is the all-zero bit pattern; CER/CSER leave out their most frequent
// element instead. Elements are compared by bit pattern, so -0.0 and NaN payloads survive.
//
// Bit-packed arrays are LSB-first, each padded to a whole byte. bw(x) = bits needed for x
// (bw(0) = 0). W = element bytes, N = rows * cols.
//   dense   N*W
//   csr32   u32 row_ptr[rows+1], u32 col[nnz], values[nnz]
//   csr     u64 nnz; row_ptr[rows+1]: bw(nnz) bits; col[nnz]: bw(cols-1) bits; values[nnz]
//   cer     u64 K, u64 nnz', u64 P; omega[K] (by descending frequency, ties by ascending bits);
//           row_ptr[rows+1]: bw(P) bits; omega_ptr[P+1]: bw(nnz') bits; col[nnz']: bw(cols-1) bits
//   cser    u64 K, u64 nnz', u64 G; omega[K]; row_ptr[rows+1]: bw(G) bits;
//           omega_idx[G]: bw(K-1) bits; omega_ptr[G+1]: bw(nnz') bits; col[nnz']: bw(cols-1) bits
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "codecs/codec.hpp"

namespace nnz {

enum class MatrixFormat : uint8_t { dense, csr32, csr, cer, cser };

// Throws ErrorCode::invalid_argument for an unknown name ("dense", "csr32", "csr", "cer", "cser").
MatrixFormat matrix_format_by_name(const std::string& name);

// Exact size of the format's bytes for this tensor, computed without building them.
uint64_t matrix_format_bytes(MatrixFormat format, const TensorRef& tensor, uint64_t rows);
// Builds the bytes (refuses more than kMatrixFormatMaxBytes).
std::vector<uint8_t> matrix_format_encode(MatrixFormat format, const TensorRef& tensor, uint64_t rows);
// Rebuilds the tensor (count elements of dtype, `rows` rows) from the bytes; ErrorCode::corrupt on damage.
void matrix_format_decode(MatrixFormat format, ByteSpan bytes, DType dtype, uint64_t count, uint64_t rows,
                          uint8_t* out);

constexpr uint64_t kMatrixFormatMaxBytes = uint64_t{1} << 30;

}  // namespace nnz
