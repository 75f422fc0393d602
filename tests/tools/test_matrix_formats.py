"""The comparison formats (dense, CSR32, CSR with minimal widths, CER, CSER): exact round trips,
sizes equal to the documented formulas (computed here independently with numpy), damage detected."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nncodec import _core
from nncodec.dtypes import dtype_name, element_bytes
from nncodec.errors import NnzError

FORMATS = ("dense", "csr32", "csr", "cer", "cser")


def bw(x: int) -> int:
    return int(x).bit_length()


def packed(count: int, width: int) -> int:
    return math.ceil(count * width / 8)


def formula(fmt: str, a: np.ndarray) -> int:
    """Byte size of each format from the matrix statistics (docs/piecewise-linearization.md)."""
    rows = a.shape[0] if a.ndim else 1
    n = a.size
    cols = n // rows if rows else 0
    w = a.dtype.itemsize
    keys = element_bytes(a).reshape(n, w) if n else np.zeros((0, w), np.uint8)
    keys = np.array([int.from_bytes(k.tobytes(), "little") for k in keys], dtype=object).reshape(rows, cols) \
        if n else np.zeros((rows, cols), dtype=object)
    cw = bw(max(cols, 1) - 1)
    if fmt == "dense":
        return n * w
    if fmt in ("csr32", "csr"):
        nnz = int(np.count_nonzero(keys != 0)) if n else 0
        if fmt == "csr32":
            return 4 * (rows + 1) + 4 * nnz + w * nnz
        return 8 + packed(rows + 1, bw(nnz)) + packed(nnz, cw) + w * nnz
    values, counts = np.unique(keys.reshape(-1), return_counts=True) if n else (np.array([]), np.array([]))
    order = sorted(range(len(values)), key=lambda i: (-counts[i], values[i]))
    rank = {values[i]: r for r, i in enumerate(order)}
    K = len(values)
    others = P = G = 0
    for r in range(rows):
        ranks = [rank[k] for k in keys[r] if rank[k] != 0]
        others += len(ranks)
        P += max(ranks, default=0)
        G += len(set(ranks))
    size = 24 + K * w + packed(others, cw)
    if fmt == "cer":
        return size + packed(rows + 1, bw(P)) + packed(P + 1, bw(others))
    return size + packed(rows + 1, bw(G)) + packed(G, bw(max(K - 1, 0))) + packed(G + 1, bw(others))


@st.composite
def matrices(draw):
    dtype = draw(st.sampled_from([np.float32, np.float16, np.float64, np.int8, np.int64, np.uint16, np.bool_]))
    shape = draw(st.sampled_from([(), (0,), (5,), (0, 3), (3, 0), (1, 1), (4, 6), (9, 17), (2, 3, 4)]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["sparse", "few-values", "distinct", "all-equal"]))
    n = int(np.prod(shape, dtype=np.int64))
    if kind == "sparse":
        v = np.where(rng.random(n) < 0.3, rng.standard_normal(n), 0.0)
    elif kind == "few-values":
        v = rng.integers(-2, 3, n).astype(np.float64)
    elif kind == "all-equal":
        v = np.full(n, 3.0)
    else:
        v = rng.standard_normal(n) * 100
    a = v.astype(dtype) if np.dtype(dtype).kind != "b" else v > 0
    if n and np.dtype(dtype).kind == "f" and draw(st.booleans()):
        a.reshape(-1)[rng.integers(0, n)] = draw(st.sampled_from([-0.0, np.nan, np.inf]))
    return a.reshape(shape)


@settings(max_examples=120)
@given(a=matrices())
def test_round_trip_exact_and_size_matches_formula(a):
    dtype = dtype_name(a.dtype)
    data = element_bytes(a)
    rows = a.shape[0] if a.ndim else 1
    for fmt in FORMATS:
        payload = _core.matrix_format_encode(fmt, data, dtype, rows)
        assert len(payload) == _core.matrix_format_bytes(fmt, data, dtype, rows) == formula(fmt, a), fmt
        out = np.empty(a.size * a.dtype.itemsize, np.uint8)
        _core.matrix_format_decode(fmt, np.frombuffer(payload, np.uint8), dtype, a.size, rows, out)
        assert out.tobytes() == data.tobytes(), fmt  # bit for bit: -0.0 and NaN included


def test_sparse_matrix_sizes_order_as_expected():
    rng = np.random.default_rng(0)
    a = np.where(rng.random((128, 256)) < 0.05, rng.standard_normal((128, 256)), 0.0).astype(np.float32)
    data = element_bytes(a)
    sizes = {f: _core.matrix_format_bytes(f, data, "float32", 128) for f in FORMATS}
    assert sizes["csr"] < sizes["csr32"] < sizes["dense"]
    q = np.round(rng.standard_normal((128, 256))).astype(np.float32)  # few distinct values, dense
    data = element_bytes(q)
    sizes = {f: _core.matrix_format_bytes(f, data, "float32", 128) for f in FORMATS}
    assert sizes["cser"] < sizes["dense"] < sizes["csr32"]
    assert sizes["cer"] < sizes["dense"]


def test_damaged_bytes_fail_cleanly():
    rng = np.random.default_rng(1)
    a = np.where(rng.random((12, 20)) < 0.5, np.round(rng.standard_normal((12, 20))), 0.0).astype(np.float32)
    data = element_bytes(a)
    for fmt in FORMATS:
        payload = _core.matrix_format_encode(fmt, data, "float32", 12)
        out = np.empty(a.nbytes, np.uint8)
        for cut in range(0, len(payload), 5):
            with pytest.raises(NnzError):
                _core.matrix_format_decode(fmt, np.frombuffer(payload[:cut], np.uint8), "float32", a.size, 12, out)
        for _ in range(200):
            bad = bytearray(payload)
            i = int(rng.integers(0, len(bad)))
            bad[i] ^= int(rng.integers(1, 256))
            try:
                _core.matrix_format_decode(fmt, np.frombuffer(bytes(bad), np.uint8), "float32", a.size, 12, out)
            except NnzError:
                pass
    with pytest.raises(NnzError, match="rows"):
        _core.matrix_format_bytes("csr", data, "float32", 7)
    with pytest.raises(NnzError, match="unknown matrix format"):
        _core.matrix_format_bytes("coo", data, "float32", 12)
