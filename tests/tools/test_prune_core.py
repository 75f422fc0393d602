"""The pruning selection algorithms of the core against brute force and their own promises."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from nncodec import _core
from nncodec.errors import NnzError


def brute_force_optimum(w: np.ndarray, sparsity: float) -> float:
    """The smallest removed magnitude over every row set and column set within the budget."""
    a = np.abs(w.astype(np.float64))
    m, n = a.shape
    limit = _core.rowcol_kept_limit(m, n, sparsity)
    best = math.inf
    for row_bits in itertools.product([False, True], repeat=m):
        rows = np.array(row_bits, dtype=bool)
        kept_rows = m - int(rows.sum())
        for col_bits in itertools.product([False, True], repeat=n):
            cols = np.array(col_bits, dtype=bool)
            if kept_rows * (n - int(cols.sum())) > limit:
                continue
            best = min(best, float(a[rows[:, None] | cols[None, :]].sum()))
    return best


small_matrices = hnp.arrays(
    np.float32, hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=5),
    elements=st.one_of(st.floats(-100, 100, width=32), st.sampled_from([0.0, 1.0, -1.0, 2.0])))
sparsities = st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.0, 0.25, 0.5, 0.75, 0.9, 1.0]))


def kept_area(rows: np.ndarray, cols: np.ndarray) -> int:
    return int((rows.size - rows.sum()) * (cols.size - cols.sum()))


def removed_magnitude(w: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> float:
    return float(np.abs(w.astype(np.float64))[rows[:, None] | cols[None, :]].sum())


@settings(max_examples=150)
@given(small_matrices, sparsities)
def test_approximations_meet_the_budget_and_stay_within_twice_the_optimum(w, sparsity):
    optimum = brute_force_optimum(w, sparsity)
    limit = _core.rowcol_kept_limit(*w.shape, sparsity)
    assert limit <= (1 - sparsity) * w.size + 1e-9
    results = {}
    for name, algorithm in (("line_sums", _core.rowcol_line_sums), ("conditional", _core.rowcol_conditional)):
        rows, cols, loss = algorithm(w, sparsity)
        assert kept_area(rows, cols) <= limit
        assert loss == pytest.approx(removed_magnitude(w, rows, cols), rel=1e-9, abs=1e-9)
        assert loss >= optimum - 1e-6 * max(1.0, optimum)
        assert loss <= 2 * optimum + 1e-6 * max(1.0, optimum)
        results[name] = loss
    # The conditional algorithm never loses to the line-sums one (docs/pruning.md).
    assert results["conditional"] <= results["line_sums"] + 1e-6 * max(1.0, results["line_sums"])


@settings(max_examples=80)
@given(small_matrices, sparsities, st.integers(0, 2**64 - 1), st.integers(0, 3000))
def test_annealing_never_worse_than_its_start_and_reproducible(w, sparsity, seed, iterations):
    rows, cols, start_loss = _core.rowcol_line_sums(w, sparsity)
    limit = _core.rowcol_kept_limit(*w.shape, sparsity)
    r1, c1, loss1 = _core.rowcol_anneal(w, sparsity, rows, cols, iterations, seed)
    r2, c2, loss2 = _core.rowcol_anneal(w, sparsity, rows, cols, iterations, seed)
    assert kept_area(r1, c1) <= limit
    assert loss1 <= start_loss
    assert loss1 == pytest.approx(removed_magnitude(w, r1, c1), rel=1e-9, abs=1e-9)
    assert (r1 == r2).all() and (c1 == c2).all() and loss1 == loss2
    assert loss1 >= brute_force_optimum(w, sparsity) - 1e-6 * max(1.0, loss1)


def test_annealing_improves_on_larger_matrices():
    w = np.random.default_rng(3).laplace(size=(96, 128)).astype(np.float32)
    for sparsity in (0.5, 0.75, 0.9):
        best_start = min(_core.rowcol_line_sums(w, sparsity), _core.rowcol_conditional(w, sparsity),
                         key=lambda s: s[2])
        rows, cols, loss = _core.rowcol_anneal(w, sparsity, best_start[0], best_start[1], 20000, 7)
        assert kept_area(rows, cols) <= _core.rowcol_kept_limit(96, 128, sparsity)
        assert loss < best_start[2]


def test_annealing_rejects_a_start_over_budget():
    w = np.ones((4, 4), np.float32)
    with pytest.raises(NnzError, match="budget"):
        _core.rowcol_anneal(w, 0.5, np.zeros(4, bool), np.zeros(4, bool), 10, 0)
    with pytest.raises(NnzError, match="shape"):
        _core.rowcol_anneal(w, 0.5, np.zeros(3, bool), np.zeros(4, bool), 10, 0)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_rowcol_refuses_non_finite_weights(bad):
    w = np.ones((3, 3), np.float32)
    w[1, 2] = bad
    for algorithm in (_core.rowcol_line_sums, _core.rowcol_conditional):
        with pytest.raises(NnzError, match="finite"):
            algorithm(w, 0.5)


def test_rowcol_edge_shapes_and_sparsities():
    for shape in ((0, 0), (0, 5), (5, 0), (1, 1), (1, 7)):
        w = np.ones(shape, np.float32)
        for s in (0.0, 0.5, 1.0):
            rows, cols, loss = _core.rowcol_conditional(w, s)
            assert kept_area(rows, cols) <= _core.rowcol_kept_limit(*shape, s)
    w = np.arange(12, dtype=np.float32).reshape(3, 4)
    rows, cols, loss = _core.rowcol_line_sums(w, 0.0)
    assert not rows.any() and not cols.any() and loss == 0.0
    rows, cols, loss = _core.rowcol_line_sums(w, 1.0)
    assert kept_area(rows, cols) == 0 and loss == pytest.approx(np.abs(w).sum())
    with pytest.raises(NnzError, match="2-D"):
        _core.rowcol_line_sums(np.ones(4, np.float32), 0.5)


def test_required_removed_rounds_up_without_float_noise():
    assert _core.required_removed(0.9, 100) == 90
    assert _core.required_removed(0.7, 10) == 7
    assert _core.required_removed(0.5, 3) == 2
    assert _core.required_removed(0.0, 10) == 0
    assert _core.required_removed(1.0, 10) == 10
    assert _core.required_removed(1e-6, 10) == 1
    for bad in (-0.1, 1.1, float("nan")):
        with pytest.raises(NnzError, match="sparsity"):
            _core.required_removed(bad, 10)


@settings(max_examples=100)
@given(st.lists(hnp.arrays(np.float32, st.integers(0, 40),
                           elements=st.one_of(st.floats(-10, 10, width=32), st.just(np.float32(np.nan)),
                                              st.sampled_from([0.0, -0.0, 1.0, np.inf]))),
                min_size=1, max_size=4),
       st.lists(st.integers(1, 5), min_size=4, max_size=4), sparsities)
def test_smallest_groups_meet_the_budget_and_remove_the_least_important(scores, sizes, sparsity):
    sets = [(s, sizes[k]) for k, s in enumerate(scores)]
    removed = _core.select_smallest_groups(sets, sparsity)
    total = sum(s.size * g for s, g in sets)
    budget = _core.required_removed(sparsity, total)
    taken = sum(int(r.sum()) * g for r, (_, g) in zip(removed, sets))
    assert budget <= taken < budget + max(sizes) if budget else taken == 0

    def key(x):  # the order the core uses: |score|, NaN last
        return np.where(np.isnan(x), np.inf, np.abs(x)), np.isnan(x)

    removed_keys = [k for r, (s, _) in zip(removed, sets) for k in zip(*key(s[r]))]
    kept_keys = [k for r, (s, _) in zip(removed, sets) for k in zip(*key(s[~r]))]
    if removed_keys and kept_keys:
        assert max(removed_keys) <= min(kept_keys)


def test_smallest_groups_per_layer_is_exact_for_single_weights():
    rng = np.random.default_rng(0)
    scores = np.abs(rng.standard_normal(1001)).astype(np.float32)
    for s in (0.1, 0.5, 0.9, 0.95):
        (removed,) = _core.select_smallest_groups([(scores, 1)], s)
        assert removed.sum() == math.ceil(round(s * 1001, 9))
        assert scores[removed].max() <= scores[~removed].min()


def test_group_norms():
    g = np.array([[3, 4], [0, 0], [1, 0]], np.float32)
    assert _core.group_l2_norms(g).tolist() == [5.0, 0.0, 1.0]
