#include <pybind11/stl.h>

#include "bindings/bindings.hpp"
#include "common/error.hpp"
#include "extras/prune_select.hpp"
#include "extras/rowcol_prune.hpp"

namespace nnz_bindings {
namespace {

using FloatArray = py::array_t<float, py::array::c_style | py::array::forcecast>;
using FlagArray = py::array_t<bool, py::array::c_style | py::array::forcecast>;

nnz::RowColMatrix matrix_of(const FloatArray& w) {
  NNZ_CHECK(w.ndim() == 2, invalid_argument, "row-and-column pruning takes a 2-D matrix");
  return nnz::RowColMatrix{w.data(), static_cast<size_t>(w.shape(0)), static_cast<size_t>(w.shape(1))};
}

py::array_t<bool> flags_array(const std::vector<uint8_t>& flags) {
  py::array_t<bool> out(static_cast<py::ssize_t>(flags.size()));
  bool* dst = out.mutable_data();
  for (size_t i = 0; i < flags.size(); ++i) dst[i] = flags[i] != 0;
  return out;
}

std::vector<uint8_t> flags_vector(const FlagArray& a) {
  std::vector<uint8_t> v(static_cast<size_t>(a.size()));
  for (size_t i = 0; i < v.size(); ++i) v[i] = a.data()[i] ? 1 : 0;
  return v;
}

// Runs a selection without the GIL; returns (removed_rows, removed_cols, removed_magnitude).
template <typename Select>
py::tuple run_selection(Select select) {
  nnz::RowColSelection s;
  {
    py::gil_scoped_release release;
    s = select();
  }
  return py::make_tuple(flags_array(s.removed_rows), flags_array(s.removed_cols), s.removed_magnitude);
}

// The two 2-approximations share a signature: (matrix, sparsity) -> selection.
void bind_rowcol_approximation(py::module_& m, const char* name,
                               nnz::RowColSelection (*approximate)(const nnz::RowColMatrix&, double)) {
  m.def(
      name,
      [approximate](const FloatArray& w, double sparsity) {
        const nnz::RowColMatrix mat = matrix_of(w);
        return run_selection([&] { return approximate(mat, sparsity); });
      },
      py::arg("w"), py::arg("sparsity"));
}

}  // namespace

void bind_prune(py::module_& m) {
  m.def("required_removed", &nnz::required_removed, py::arg("sparsity"), py::arg("n"));
  m.def(
      "select_smallest_groups",
      [](const std::vector<std::pair<FloatArray, uint64_t>>& sets, double sparsity) {
        std::vector<nnz::ScoredGroups> groups;
        for (const auto& [scores, size] : sets)
          groups.push_back(nnz::ScoredGroups{scores.data(), static_cast<size_t>(scores.size()), size});
        std::vector<std::vector<uint8_t>> removed;
        {
          py::gil_scoped_release release;
          removed = nnz::select_smallest_groups(groups, sparsity);
        }
        py::list out;
        for (const auto& r : removed) out.append(flags_array(r));
        return out;
      },
      py::arg("sets"), py::arg("sparsity"));
  m.def(
      "group_l2_norms",
      [](const FloatArray& groups) {
        NNZ_CHECK(groups.ndim() == 2, invalid_argument, "group norms take a 2-D array (groups x group size)");
        const auto norms = nnz::group_l2_norms(groups.data(), static_cast<size_t>(groups.shape(0)),
                                               static_cast<size_t>(groups.shape(1)));
        return py::array_t<double>(static_cast<py::ssize_t>(norms.size()), norms.data());
      },
      py::arg("groups"));
  m.def("rowcol_kept_limit", &nnz::rowcol_kept_limit, py::arg("rows"), py::arg("cols"), py::arg("sparsity"));
  m.def(
      "rowcol_removed_magnitude",
      [](const FloatArray& w, const FlagArray& rows, const FlagArray& cols) {
        return nnz::rowcol_removed_magnitude(matrix_of(w), flags_vector(rows), flags_vector(cols));
      },
      py::arg("w"), py::arg("removed_rows"), py::arg("removed_cols"));
  bind_rowcol_approximation(m, "rowcol_line_sums", &nnz::rowcol_line_sums);
  bind_rowcol_approximation(m, "rowcol_conditional", &nnz::rowcol_conditional);
  m.def(
      "rowcol_anneal",
      [](const FloatArray& w, double sparsity, const FlagArray& rows, const FlagArray& cols, uint64_t iterations,
         uint64_t seed) {
        const nnz::RowColMatrix mat = matrix_of(w);
        nnz::RowColSelection start;
        start.removed_rows = flags_vector(rows);
        start.removed_cols = flags_vector(cols);
        return run_selection(
            [&] { return nnz::rowcol_anneal(mat, sparsity, start, nnz::AnnealOptions{iterations, seed}); });
      },
      py::arg("w"), py::arg("sparsity"), py::arg("removed_rows"), py::arg("removed_cols"), py::arg("iterations"),
      py::arg("seed"));
}

}  // namespace nnz_bindings
