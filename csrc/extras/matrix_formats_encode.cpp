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

struct Matrix {
  uint64_t rows, cols;
  size_t width;                // element bytes
  std::vector<uint64_t> keys;  // element bit patterns
};

Matrix view(const TensorRef& t, uint64_t rows) {
  NNZ_CHECK(rows > 0 || t.count == 0, invalid_argument, "matrix view: no rows for a non-empty tensor");
  const uint64_t cols = rows ? t.count / rows : 0;
  NNZ_CHECK(rows * cols == t.count, invalid_argument, "matrix view: rows do not divide the tensor");
  Matrix m{rows, cols, static_cast<size_t>(dtype_bytes(t.dtype)), {}};
  m.keys.resize(to_size(t.count, "matrix view"));
  for (size_t i = 0; i < m.keys.size(); ++i) m.keys[i] = load_le(t.data + i * m.width, static_cast<int>(m.width));
  return m;
}

uint64_t packed_bytes(uint64_t count, int width) {
  return ceil_div(checked_mul(count, static_cast<uint64_t>(width), "matrix format"), 8);
}
int col_width(const Matrix& m) { return bit_width(std::max<uint64_t>(m.cols, 1) - 1); }

// The distinct elements by descending frequency (ties: ascending bit pattern), and each
// element's rank in that order (rank 0 = the most frequent element, left implicit by CER/CSER).
struct Codebook {
  std::vector<uint64_t> omega;
  std::vector<uint32_t> rank;  // per element
};

Codebook codebook(const Matrix& m) {
  std::vector<uint64_t> sorted = m.keys;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::pair<uint64_t, uint64_t>> counted;  // (key, count), ascending key
  for (uint64_t k : sorted) {
    if (counted.empty() || counted.back().first != k) counted.emplace_back(k, 0);
    ++counted.back().second;
  }
  NNZ_CHECK(counted.size() <= UINT32_MAX, invalid_argument, "matrix format: too many distinct elements");
  std::vector<uint32_t> by_freq(counted.size());
  for (size_t i = 0; i < by_freq.size(); ++i) by_freq[i] = static_cast<uint32_t>(i);
  std::stable_sort(by_freq.begin(), by_freq.end(),
                   [&](uint32_t a, uint32_t b) { return counted[a].second > counted[b].second; });
  std::vector<uint32_t> rank_of_key(counted.size());
  Codebook cb;
  for (size_t r = 0; r < by_freq.size(); ++r) {
    cb.omega.push_back(counted[by_freq[r]].first);
    rank_of_key[by_freq[r]] = static_cast<uint32_t>(r);
  }
  cb.rank.resize(m.keys.size());
  for (size_t i = 0; i < m.keys.size(); ++i) {
    const size_t at = static_cast<size_t>(
        std::lower_bound(counted.begin(), counted.end(), std::make_pair(m.keys[i], uint64_t{0})) - counted.begin());
    cb.rank[i] = rank_of_key[at];
  }
  return cb;
}

// The shared-value groups of one row: (rank, column) of its elements other than omega[0],
// ordered by rank then column.
std::vector<std::pair<uint32_t, uint64_t>> row_groups(const Matrix& m, const Codebook& cb, uint64_t r) {
  std::vector<std::pair<uint32_t, uint64_t>> g;
  for (uint64_t c = 0; c < m.cols; ++c) {
    const uint32_t k = cb.rank[static_cast<size_t>(r * m.cols + c)];
    if (k != 0) g.emplace_back(k, c);
  }
  std::sort(g.begin(), g.end());
  return g;
}

struct GroupCounts {
  uint64_t others = 0;     // nnz': elements other than omega[0]
  uint64_t cer_ptrs = 0;   // P: sum over rows of the largest rank present
  uint64_t cser_groups = 0;  // G: sum over rows of distinct ranks present
};

GroupCounts group_counts(const Matrix& m, const Codebook& cb) {
  GroupCounts n;
  std::vector<uint64_t> seen_in_row(cb.omega.size(), UINT64_MAX);
  for (uint64_t r = 0; r < m.rows; ++r) {
    uint32_t top = 0;
    for (uint64_t c = 0; c < m.cols; ++c) {
      const uint32_t k = cb.rank[static_cast<size_t>(r * m.cols + c)];
      if (k == 0) continue;
      ++n.others;
      top = std::max(top, k);
      if (seen_in_row[k] != r) {
        seen_in_row[k] = r;
        ++n.cser_groups;
      }
    }
    n.cer_ptrs += top;
  }
  return n;
}

uint64_t nonzeros(const Matrix& m) {
  uint64_t n = 0;
  for (uint64_t k : m.keys) n += k != 0;
  return n;
}

uint64_t size_of(MatrixFormat f, const Matrix& m) {
  const uint64_t n = m.keys.size(), w = m.width;
  if (f == MatrixFormat::dense) return checked_mul(n, w, "matrix format");
  if (f == MatrixFormat::csr32 || f == MatrixFormat::csr) {
    const uint64_t nnz = nonzeros(m);
    const uint64_t values = checked_mul(nnz, w, "matrix format");
    if (f == MatrixFormat::csr32) return 4 * (m.rows + 1) + 4 * nnz + values;
    return 8 + packed_bytes(m.rows + 1, bit_width(nnz)) + packed_bytes(nnz, col_width(m)) + values;
  }
  const Codebook cb = codebook(m);
  const GroupCounts g = group_counts(m, cb);
  const uint64_t K = cb.omega.size();
  uint64_t size = 24 + checked_mul(K, w, "matrix format") + packed_bytes(g.others, col_width(m));
  if (f == MatrixFormat::cer)
    return size + packed_bytes(m.rows + 1, bit_width(g.cer_ptrs)) + packed_bytes(g.cer_ptrs + 1, bit_width(g.others));
  return size + packed_bytes(m.rows + 1, bit_width(g.cser_groups)) +
         packed_bytes(g.cser_groups, bit_width(K ? K - 1 : 0)) + packed_bytes(g.cser_groups + 1, bit_width(g.others));
}

void put_packed(std::vector<uint8_t>& out, const std::vector<uint64_t>& values, int width) {
  BitWriter bits(out);
  for (uint64_t v : values) bits.put_wide(v, width);
  bits.finish();
}

void put_elements(std::vector<uint8_t>& out, const std::vector<uint64_t>& keys, size_t width) {
  for (uint64_t k : keys)
    for (size_t b = 0; b < width; ++b) out.push_back(static_cast<uint8_t>(k >> (8 * b)));
}

void encode_csr(const Matrix& m, bool wide, std::vector<uint8_t>& out) {
  std::vector<uint64_t> row_ptr{0}, col, values;
  for (uint64_t r = 0; r < m.rows; ++r) {
    for (uint64_t c = 0; c < m.cols; ++c) {
      const uint64_t k = m.keys[static_cast<size_t>(r * m.cols + c)];
      if (k == 0) continue;
      col.push_back(c);
      values.push_back(k);
    }
    row_ptr.push_back(col.size());
  }
  ByteWriter w(out);
  if (wide) {
    NNZ_CHECK(m.cols <= uint64_t{UINT32_MAX} + 1 && col.size() <= UINT32_MAX, invalid_argument,
              "csr32: matrix too large for 32-bit indices");
    for (uint64_t p : row_ptr) w.u32(static_cast<uint32_t>(p));
    for (uint64_t c : col) w.u32(static_cast<uint32_t>(c));
  } else {
    w.u64(col.size());
    put_packed(out, row_ptr, bit_width(col.size()));
    put_packed(out, col, col_width(m));
  }
  put_elements(out, values, m.width);
}

void encode_shared(const Matrix& m, bool cser, std::vector<uint8_t>& out) {
  const Codebook cb = codebook(m);
  const GroupCounts counts = group_counts(m, cb);
  std::vector<uint64_t> row_ptr{0}, omega_idx, omega_ptr, col;
  for (uint64_t r = 0; r < m.rows; ++r) {
    const auto groups = row_groups(m, cb, r);
    uint32_t next = 1;  // CER: the next rank that needs a pointer in this row
    for (size_t i = 0; i < groups.size(); ++i) {
      const uint32_t k = groups[i].first;
      if (i == 0 || k != groups[i - 1].first) {
        if (cser) {
          omega_idx.push_back(k);
          omega_ptr.push_back(col.size());
        } else {
          for (; next <= k; ++next) omega_ptr.push_back(col.size());  // empty groups repeat the pointer
        }
      }
      col.push_back(groups[i].second);
    }
    row_ptr.push_back(cser ? omega_idx.size() : omega_ptr.size());
  }
  omega_ptr.push_back(col.size());
  ByteWriter w(out);
  w.u64(cb.omega.size());
  w.u64(counts.others);
  const uint64_t groups = cser ? counts.cser_groups : counts.cer_ptrs;
  w.u64(groups);
  put_elements(out, cb.omega, m.width);
  put_packed(out, row_ptr, bit_width(groups));
  if (cser) put_packed(out, omega_idx, bit_width(cb.omega.empty() ? 0 : cb.omega.size() - 1));
  put_packed(out, omega_ptr, bit_width(counts.others));
  put_packed(out, col, col_width(m));
}

}  // namespace

MatrixFormat matrix_format_by_name(const std::string& name) {
  if (name == "dense") return MatrixFormat::dense;
  if (name == "csr32") return MatrixFormat::csr32;
  if (name == "csr") return MatrixFormat::csr;
  if (name == "cer") return MatrixFormat::cer;
  if (name == "cser") return MatrixFormat::cser;
  fail(ErrorCode::invalid_argument, "unknown matrix format '" + name + "' (dense, csr32, csr, cer, cser)");
}

uint64_t matrix_format_bytes(MatrixFormat format, const TensorRef& tensor, uint64_t rows) {
  return size_of(format, view(tensor, rows));
}

std::vector<uint8_t> matrix_format_encode(MatrixFormat format, const TensorRef& tensor, uint64_t rows) {
  const Matrix m = view(tensor, rows);
  const uint64_t size = size_of(format, m);
  NNZ_CHECK(size <= kMatrixFormatMaxBytes, invalid_argument,
            "matrix format: " + std::to_string(size) + " bytes is too large to build (its size is still exact)");
  std::vector<uint8_t> out;
  out.reserve(static_cast<size_t>(size));
  switch (format) {
    case MatrixFormat::dense: put_elements(out, m.keys, m.width); break;
    case MatrixFormat::csr32: encode_csr(m, true, out); break;
    case MatrixFormat::csr: encode_csr(m, false, out); break;
    case MatrixFormat::cer: encode_shared(m, false, out); break;
    case MatrixFormat::cser: encode_shared(m, true, out); break;
  }
  NNZ_CHECK(out.size() == size, internal, "matrix format: size formula and encoder disagree");
  return out;
}

}  // namespace nnz
