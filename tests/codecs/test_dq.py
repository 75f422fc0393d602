"""The dq codec: every tensor's RMSE within its bound, non-finite values kept, smaller than eb at
equal RMSE, the bound and the measured RMSE in its parameters, and the CLI's --rmse/--rel-rmse."""

from __future__ import annotations

import json
import math
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from checkers import FLOAT_DTYPES, edge_floats
from checkers import FLOAT_NAMES as NAMES

from nncodec import _core, codecs
from nncodec.cli import main
from nncodec.codecs.coding import EncodeOptions, decode_encoded, encode_array
from nncodec.dtypes import element_bytes
from nncodec.errors import NnzError
from safetensors.numpy import save_file


def coded(array: np.ndarray, rmse: float, chunk: int = 1 << 18, threads: int = 2):
    enc = _core.encode_dq(element_bytes(array), NAMES[array.dtype], rmse, chunk, threads)
    assert enc.codec == "dq"
    return enc


def rmse_of(decoded: np.ndarray, original: np.ndarray) -> float:
    """sqrt(sum of squared errors of the finite elements / all elements), summed exactly."""
    o, d = original.reshape(-1).astype(np.float64), decoded.reshape(-1).astype(np.float64)
    finite = np.isfinite(o)
    if not o.size:
        return 0.0
    return math.sqrt(math.fsum(((d[finite] - o[finite]) ** 2).tolist()) / o.size)


def check_within(array: np.ndarray, enc, rmse: float) -> np.ndarray:
    decoded = decode_encoded(enc, array, threads=2)
    o, d = array.reshape(-1), decoded.reshape(-1)
    special = ~np.isfinite(o.astype(np.float64))
    assert o[special].tobytes() == d[special].tobytes(), "NaN/Inf not kept bit for bit"
    # float64 differences round; the other dtypes' differences are exact in float64.
    slack = 1 + 1e-9 if array.dtype == np.float64 else 1
    got = rmse_of(decoded, array)
    assert got <= rmse * slack, f"RMSE {got} over the bound {rmse}"
    return decoded


@st.composite
def tensors(draw):
    dtype = draw(st.sampled_from(FLOAT_DTYPES))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=16))
    kind = draw(st.sampled_from(["normal", "outliers", "edge", "constant"]))
    n = int(np.prod(shape))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    if kind in ("normal", "outliers"):
        values = rng.standard_normal(n) * draw(st.sampled_from([1e-30, 1e-6, 1e-2, 1.0, 1e3, 1e20]))
        if kind == "outliers" and n:
            values[rng.integers(0, n, size=max(1, n // 50))] *= 1e6
    elif kind == "edge":
        values = rng.choice(np.array(draw(st.lists(edge_floats(dtype), min_size=1, max_size=24)), np.float64), size=n)
    else:
        values = np.full(n, draw(edge_floats(dtype)))
    with np.errstate(over="ignore", invalid="ignore"):
        array = values.astype(dtype).reshape(shape)
    rmse = draw(st.sampled_from([1e-30, 1e-8, 1e-4, 0.01, 0.5, 3.0, 1e10, 1e300]))
    return array, rmse


@given(tensors(), st.sampled_from([97, 1 << 18]))
@settings(max_examples=150, deadline=None)
def test_rmse_within_the_bound_over_shapes_dtypes_and_edge_values(case, chunk):
    array, rmse = case
    check_within(array, coded(array, rmse, chunk=chunk), rmse)


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=lambda d: NAMES[d])
def test_bound_holds_and_is_used_at_relative_bounds(dtype):
    rng = np.random.default_rng(1)
    w = (rng.laplace(size=(300, 257)) * 0.03).astype(dtype)
    std = float(np.asarray(w, np.float64).std())
    for k in (0.01, 0.05, 0.3, 1.5):
        enc = coded(w, k * std)
        decoded = check_within(w, enc, k * std)
        got = rmse_of(decoded, w)
        if k > 1:  # zeroing meets the bound
            assert not np.asarray(decoded, np.float64).any()
            continue
        assert got >= 0.98 * k * std  # the step search lands just below the bound
        described = codecs.describe("dq", enc.params)
        assert described["rmse_bound"] == k * std
        assert described["rmse"] == pytest.approx(got, rel=1e-9)
        assert described["max_error"] >= got


def test_smaller_than_eb_at_equal_rmse():
    # Rows of different scales, heavy tails: what weight matrices look like.
    rng = np.random.default_rng(2)
    w = (rng.laplace(size=(256, 1024)) * np.exp(rng.uniform(-2, 0, size=(256, 1))) * 0.05).astype(np.float32)
    for k in (0.03, 0.1, 0.3):
        rmse = k * float(w.std())
        dq = coded(w, rmse)
        dq_rmse = rmse_of(decode_encoded(dq, w), w)
        # eb at the largest bound whose RMSE is at most dq's (bisected).
        lo, hi, eb = dq_rmse, 4 * dq_rmse, None
        for _ in range(16):
            error = math.sqrt(lo * hi)
            trial = _core.encode_eb(w.reshape(-1).view(np.uint8), "float32", error, 1 << 18, 2)
            if rmse_of(decode_encoded(trial, w), w) <= dq_rmse:
                lo, eb = error, trial
            else:
                hi = error
        assert rmse_of(decode_encoded(eb, w), w) >= 0.99 * dq_rmse
        assert dq.coded_bytes < 0.985 * eb.coded_bytes


def test_all_zero_when_zeroing_meets_the_bound():
    w = (np.random.default_rng(3).standard_normal(5000) * 0.01).astype(np.float32)
    enc = coded(w, 0.05)
    assert not decode_encoded(enc, w).any()
    assert enc.coded_bytes < 100


@pytest.mark.parametrize("rmse", [0.0, -1.0, float("nan"), float("inf")])
def test_invalid_bounds_are_refused(rmse):
    with pytest.raises(NnzError):
        _core.encode_dq(np.zeros(16, np.float32).view(np.uint8), "float32", rmse)


def test_integer_tensors_are_refused():
    with pytest.raises(NnzError):
        _core.encode_dq(np.zeros(16, np.int32).view(np.uint8), "int32", 0.1)


def test_bad_parameters_are_corrupt():
    w = (np.random.default_rng(4).standard_normal(3000) * 0.1).astype(np.float32)
    enc = coded(w, 0.01, chunk=1000)
    step = struct.unpack_from("<d", enc.params)[0]
    for bad_step in (0.0, -step, float("inf"), float("nan"), 1e300):
        params = struct.pack("<d", bad_step) + enc.params[8:]
        with pytest.raises(NnzError):
            _core.decode_payload("dq", "float32", w.size, params, np.frombuffer(enc.payload, np.uint8),
                                 np.empty(w.size, np.float32).view(np.uint8))


def test_rel_rmse_through_the_writer_bounds_each_lossy_tensor():
    rng = np.random.default_rng(5)
    tensors = {"conv.weight": (rng.standard_normal((64, 32, 3, 3)) * 0.05).astype(np.float32),
               "fc.weight": (rng.laplace(size=(200, 300)) * 0.02).astype(np.float32)}
    options = EncodeOptions.from_params("dq", {"rel_rmse": 0.1})
    for name, w in tensors.items():
        enc = encode_array(name, w, options)
        assert enc.codec == "dq"
        assert rmse_of(decode_encoded(enc, w), w) <= 0.1 * float(w.astype(np.float64).std())


def test_cli_rmse_and_info(tmp_path, capsys):
    rng = np.random.default_rng(6)
    model = tmp_path / "m.safetensors"
    save_file({"fc.weight": (rng.standard_normal((128, 96)) * 0.05).astype(np.float32),
               "fc.bias": np.zeros(128, np.float32)}, str(model))
    nnz = tmp_path / "m.nnz"
    assert main(["encode", str(model), "-o", str(nnz), "--rmse", "0.004", "-q"]) == 0
    assert main(["info", str(nnz), "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["tensors"]}
    assert rows["fc.weight"]["codec"] == "dq" and rows["fc.weight"]["rmse"] <= rows["fc.weight"]["rmse_bound"] == 0.004
    assert rows["fc.bias"]["codec"] != "dq"  # biases stay lossless
    assert main(["encode", str(model), "-o", str(nnz), "--rmse", "0.004", "--rel-rmse", "0.1", "-q", "-f"]) == 1
    assert "not both" in capsys.readouterr().err
