#include <algorithm>
#include <cstring>
#include <string>

#include "extras/matrix_formats.hpp"
#include "common/bit_io.hpp"
#include "common/bit_width.hpp"
#include "common/checked_math.hpp"
#include "common/error.hpp"

namespace nnz {
namespace {

// Reads `count` fields of `width` bits. The caller bounds `count` (a zero width takes no bytes).
std::vector<uint64_t> read_packed(ByteReader& in, uint64_t count, int width) {
  const ByteSpan s = in.bytes(ceil_div(checked_mul(count, static_cast<uint64_t>(width), "matrix format"), 8));
  std::vector<uint64_t> v(to_size(count, "matrix format"));
  BitReader br(s.data, s.size);
  for (uint64_t& x : v) x = width > 32 ? br.read(32) | (br.read(width - 32) << 32) : br.read(width);
  return v;
}

std::vector<uint64_t> read_u32s(ByteReader& in, uint64_t count) {
  NNZ_CHECK(count <= in.remaining() / 4, corrupt, "csr32: truncated");
  std::vector<uint64_t> v(static_cast<size_t>(count));
  for (uint64_t& x : v) x = in.u32();
  return v;
}

std::vector<uint64_t> read_elements(ByteReader& in, uint64_t count, size_t width) {
  const ByteSpan s = in.bytes(checked_mul(count, width, "matrix format"));
  std::vector<uint64_t> v(static_cast<size_t>(count));
  for (size_t i = 0; i < v.size(); ++i) v[i] = load_le(s.data + i * width, static_cast<int>(width));
  return v;
}

void check_pointers(const std::vector<uint64_t>& ptr, uint64_t end, const char* what) {
  NNZ_CHECK(ptr.front() == 0 && ptr.back() == end, corrupt, std::string(what) + ": pointers do not span the data");
  for (size_t i = 1; i < ptr.size(); ++i)
    NNZ_CHECK(ptr[i - 1] <= ptr[i], corrupt, std::string(what) + ": pointers go backwards");
}

class MatrixOut {
 public:
  MatrixOut(uint8_t* out, uint64_t cols, size_t width) : out_(out), cols_(cols), width_(width) {}
  void fill(uint64_t count, uint64_t key) {
    for (uint64_t i = 0; i < count; ++i) put_at(i, key);
  }
  // Writes row r, column c; columns of one row must come in strictly increasing order (per
  // group, for CER/CSER), which rules out writing one place twice within a group.
  void put(uint64_t r, uint64_t c, uint64_t key) {
    NNZ_CHECK(c < cols_, corrupt, "matrix format: column index out of range");
    put_at(r * cols_ + c, key);
  }

 private:
  void put_at(uint64_t i, uint64_t key) {
    for (size_t b = 0; b < width_; ++b) out_[i * width_ + b] = static_cast<uint8_t>(key >> (8 * b));
  }
  uint8_t* out_;
  uint64_t cols_;
  size_t width_;
};

void check_increasing(const std::vector<uint64_t>& col, uint64_t begin, uint64_t end) {
  for (uint64_t j = begin + 1; j < end; ++j)
    NNZ_CHECK(col[j - 1] < col[j], corrupt, "matrix format: column indices not increasing");
}

void decode_csr(ByteReader& in, bool wide, uint64_t count, uint64_t rows, uint64_t cols, size_t width, uint8_t* out) {
  std::vector<uint64_t> row_ptr, col;
  uint64_t nnz;
  if (wide) {
    row_ptr = read_u32s(in, rows + 1);
    nnz = row_ptr.back();
    NNZ_CHECK(nnz <= count, corrupt, "csr32: more entries than elements");
    col = read_u32s(in, nnz);
  } else {
    nnz = in.u64();
    NNZ_CHECK(nnz <= count, corrupt, "csr: more entries than elements");
    row_ptr = read_packed(in, rows + 1, bit_width(nnz));
    col = read_packed(in, nnz, bit_width(std::max<uint64_t>(cols, 1) - 1));
  }
  check_pointers(row_ptr, nnz, "csr");
  const std::vector<uint64_t> values = read_elements(in, nnz, width);
  in.expect_end();
  MatrixOut m(out, cols, width);
  m.fill(count, 0);
  for (uint64_t r = 0; r < rows; ++r) {
    check_increasing(col, row_ptr[r], row_ptr[r + 1]);
    for (uint64_t j = row_ptr[r]; j < row_ptr[r + 1]; ++j) m.put(r, col[j], values[j]);
  }
}

void decode_shared(ByteReader& in, bool cser, uint64_t count, uint64_t rows, uint64_t cols, size_t width,
                   uint8_t* out) {
  const char* what = cser ? "cser" : "cer";
  const uint64_t K = in.u64(), others = in.u64(), groups = in.u64();
  NNZ_CHECK(K <= count && (K > 0) == (count > 0), corrupt, std::string(what) + ": bad element count");
  NNZ_CHECK(others <= count, corrupt, std::string(what) + ": more entries than elements");
  NNZ_CHECK(others > 0 || groups == 0, corrupt, std::string(what) + ": groups without entries");
  if (cser) NNZ_CHECK(groups <= others, corrupt, "cser: more groups than entries");
  const std::vector<uint64_t> omega = read_elements(in, K, width);
  const std::vector<uint64_t> row_ptr = read_packed(in, rows + 1, bit_width(groups));
  std::vector<uint64_t> omega_idx;
  if (cser) omega_idx = read_packed(in, groups, bit_width(K ? K - 1 : 0));
  const std::vector<uint64_t> omega_ptr = read_packed(in, groups + 1, bit_width(others));
  const std::vector<uint64_t> col = read_packed(in, others, bit_width(std::max<uint64_t>(cols, 1) - 1));
  in.expect_end();
  check_pointers(row_ptr, groups, what);
  check_pointers(omega_ptr, others, what);

  MatrixOut m(out, cols, width);
  m.fill(count, K ? omega[0] : 0);
  std::vector<uint64_t> written_in_row(static_cast<size_t>(cols), UINT64_MAX);
  for (uint64_t r = 0; r < rows; ++r) {
    NNZ_CHECK(row_ptr[r + 1] - row_ptr[r] + 1 <= std::max<uint64_t>(K, 1), corrupt,
              std::string(what) + ": more groups in a row than elements");
    for (uint64_t g = row_ptr[r]; g < row_ptr[r + 1]; ++g) {
      const uint64_t k = cser ? omega_idx[static_cast<size_t>(g)] : g - row_ptr[r] + 1;
      NNZ_CHECK(k >= 1 && k < K, corrupt, std::string(what) + ": element index out of range");
      if (cser && g > row_ptr[r])
        NNZ_CHECK(omega_idx[static_cast<size_t>(g - 1)] < k, corrupt, "cser: element indices not increasing in a row");
      check_increasing(col, omega_ptr[g], omega_ptr[g + 1]);
      for (uint64_t j = omega_ptr[g]; j < omega_ptr[g + 1]; ++j) {
        const uint64_t c = col[static_cast<size_t>(j)];
        NNZ_CHECK(c < cols && written_in_row[c] != r, corrupt, std::string(what) + ": a place written twice");
        written_in_row[c] = r;
        m.put(r, c, omega[static_cast<size_t>(k)]);
      }
    }
  }
}

}  // namespace

void matrix_format_decode(MatrixFormat format, ByteSpan bytes, DType dtype, uint64_t count, uint64_t rows,
                          uint8_t* out) {
  NNZ_CHECK(rows > 0 || count == 0, invalid_argument, "matrix view: no rows for a non-empty tensor");
  const uint64_t cols = rows ? count / rows : 0;
  NNZ_CHECK(rows * cols == count, invalid_argument, "matrix view: rows do not divide the tensor");
  const size_t width = static_cast<size_t>(dtype_bytes(dtype));
  ByteReader in(bytes, "matrix format");
  switch (format) {
    case MatrixFormat::dense: {
      const ByteSpan s = in.bytes(checked_mul(count, width, "dense"));
      in.expect_end();
      if (s.size) std::memcpy(out, s.data, s.size);
      return;
    }
    case MatrixFormat::csr32: return decode_csr(in, true, count, rows, cols, width, out);
    case MatrixFormat::csr: return decode_csr(in, false, count, rows, cols, width, out);
    case MatrixFormat::cer: return decode_shared(in, false, count, rows, cols, width, out);
    case MatrixFormat::cser: return decode_shared(in, true, count, rows, cols, width, out);
  }
  fail(ErrorCode::invalid_argument, "unknown matrix format");
}

}  // namespace nnz
