"""The eb codec: every decoded weight within the bound, non-finite values kept, bad input refused."""

from __future__ import annotations


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from checkers import FLOAT_DTYPES, check_roundtrip, edge_floats
from checkers import FLOAT_NAMES as NAMES

from nncodec import _core
from nncodec.codecs.coding import EncodeOptions, encode_array
from nncodec.dtypes import element_bytes
from nncodec.errors import CorruptFileError, NnzError


def coded(array: np.ndarray, error: float, chunk: int = 1 << 18):
    enc = _core.encode_eb(element_bytes(array), NAMES[array.dtype], error, chunk, 2)
    assert enc.codec == "eb"
    return enc


@st.composite
def tensors(draw):
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=16))
    kind = draw(st.sampled_from(["normal", "edge", "constant"]))
    n = int(np.prod(shape))
    if kind == "normal":
        scale = draw(st.sampled_from([1e-30, 1e-6, 1e-2, 1.0, 1e3, 1e20]))
        seed = draw(st.integers(0, 2**32 - 1))
        values = np.random.default_rng(seed).standard_normal(n) * scale
    elif kind == "edge":
        pool = np.array(draw(st.lists(edge_floats(dtype), min_size=1, max_size=24)), dtype=np.float64)
        values = np.random.default_rng(draw(st.integers(0, 2**32 - 1))).choice(pool, size=n)
    else:
        values = np.full(n, draw(edge_floats(dtype)))
    with np.errstate(over="ignore", invalid="ignore"):
        array = values.astype(dtype).reshape(shape)
    error = draw(st.sampled_from([1e-30, 1e-8, 1e-4, 0.01, 0.5, 3.0, 1e10, 1e300]))
    return array, error


@given(tensors())
@settings(max_examples=150)
def test_every_element_within_the_bound(case):
    array, error = case
    check_roundtrip(coded(array, error, chunk=97), array, error, threads=2)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=lambda d: NAMES[d])
def test_bound_holds_on_weights_at_relative_errors(dtype):
    rng = np.random.default_rng(1)
    w = (rng.laplace(size=(300, 257)) * 0.03).astype(dtype)
    for k in (0.001, 0.02, 0.5, 3.0):
        error = k * float(np.asarray(w, np.float64).std())
        check_roundtrip(coded(w, error), w, error, threads=2)


def test_all_equal_and_empty_and_scalar():
    for array in (np.full((64, 64), 0.3, np.float32), np.zeros((0, 5), np.float32), np.array(2.5, np.float32)):
        check_roundtrip(coded(array, 0.01), array, 0.01, threads=2)


def test_size_is_within_two_percent_of_the_order0_entropy():
    rng = np.random.default_rng(2)
    w = (rng.laplace(size=(512, 1024)) * 0.02).astype(np.float32)
    error = 0.02 * float(w.std())
    enc = _core.encode_eb(w.reshape(-1).view(np.uint8), "float32", error)
    q = np.rint(w.astype(np.float64) / (2 * error))
    _, counts = np.unique(q, return_counts=True)
    p = counts / counts.sum()
    entropy_bytes = -(counts * np.log2(p)).sum() / 8
    assert enc.coded_bytes <= 1.02 * entropy_bytes


def test_context_modelling_beats_order0_on_rows_of_different_scales():
    # Rows (output channels) of very different scale, as after folding batch norm into a conv.
    rng = np.random.default_rng(3)
    scales = np.exp(rng.uniform(-3, 1, size=(256, 1)))
    w = (rng.standard_normal((256, 2048)) * scales).astype(np.float32)
    error = 0.02 * float(w.std())
    enc = _core.encode_eb(w.reshape(-1).view(np.uint8), "float32", error)
    q = np.rint(w.astype(np.float64) / (2 * error))
    _, counts = np.unique(q, return_counts=True)
    entropy_bytes = -(counts * np.log2(counts / counts.sum())).sum() / 8
    assert enc.coded_bytes < 0.93 * entropy_bytes  # the per-row oracle is 0.885


@pytest.mark.parametrize("error", [0.0, -1.0, float("nan"), float("inf"), 1e308])
def test_invalid_bounds_are_refused(error):
    with pytest.raises(NnzError):
        _core.encode_eb(np.zeros(16, np.float32).view(np.uint8), "float32", error)


def test_integer_tensors_are_refused():
    with pytest.raises(NnzError):
        _core.encode_eb(np.zeros(16, np.int32).view(np.uint8), "int32", 0.1)


def _payload():
    w = (np.random.default_rng(4).standard_normal(5000) * 0.1).astype(np.float32)
    w[7] = np.nan
    return w, _core.encode_eb(w.view(np.uint8), "float32", 0.003, 1024)


def _decode(params: bytes, payload: bytes, n: int):
    out = np.empty(n, np.float32)
    _core.decode_payload("eb", "float32", n, params, np.frombuffer(payload, np.uint8), out.view(np.uint8))
    return out


def test_truncated_payloads_are_corrupt():
    w, enc = _payload()
    for cut in range(0, len(enc.payload), max(1, len(enc.payload) // 97)):
        with pytest.raises(CorruptFileError):
            _decode(enc.params, enc.payload[:cut], w.size)


@given(st.integers(0, 2**31), st.integers(1, 255))
@settings(max_examples=300)
def test_damaged_payloads_fail_cleanly_or_decode(position, flip):
    w, enc = _payload()
    damaged = bytearray(enc.payload)
    damaged[position % len(damaged)] ^= flip
    try:
        _decode(enc.params, bytes(damaged), w.size)
    except CorruptFileError:
        pass


@given(st.binary(min_size=0, max_size=400), st.integers(0, 3000))
def test_random_bytes_never_crash(junk, n):
    params = np.float64(0.01).tobytes() + np.uint32(1024).tobytes()
    try:
        _decode(params, junk, n)
    except CorruptFileError:
        pass


def test_bad_parameters_are_corrupt():
    w, enc = _payload()
    for params in (b"", enc.params[:-1], np.float64(-1).tobytes() + enc.params[8:], np.float64(np.nan).tobytes() + enc.params[8:],
                   enc.params[:8] + np.uint32(0).tobytes()):
        with pytest.raises(CorruptFileError):
            _decode(params, enc.payload, w.size)


def test_relative_error_is_per_tensor_std():
    rng = np.random.default_rng(5)
    w = (rng.standard_normal((64, 64)) * 7.0).astype(np.float32)
    options = EncodeOptions.from_params("eb", {"rel_error": 0.05})
    enc = encode_array("layer.weight", w, options)
    assert enc.codec == "eb"
    error = np.frombuffer(enc.params[:8], np.float64)[0]
    assert error == pytest.approx(0.05 * w.astype(np.float64).std())
