"""The pl codec: every finite weight within p (float rounding of the line parameters included),
NaN/Inf kept bit for bit, safe on damaged bytes, and its place in the plan."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkers import check_roundtrip

import nncodec
from nncodec import _core, codecs
from nncodec.codecs import pl
from nncodec.errors import NnzError
from nncodec.codecs.coding import EncodeOptions, encode_array, planned

SPECIALS = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e-45, -1e-45, 1.17e-38, 3.4e38, -3.4e38], np.float32)


def encode(values: np.ndarray, p: float, **kw):
    data = np.ascontiguousarray(values, np.float32).reshape(-1).view(np.uint8)
    return _core.encode_pl(data, "float32", p, **kw)


@st.composite
def weights(draw):
    shape = draw(st.sampled_from([(), (0,), (1,), (7,), (3, 5), (33, 64), (4, 3, 3, 3), (2000,), (0, 8)]))
    n = int(np.prod(shape, dtype=np.int64))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["normal", "heavy", "all-equal", "two-values", "uniform", "sparse", "tiny-ints"]))
    scale = draw(st.sampled_from([1e-30, 1e-6, 1e-3, 1.0, 1e3, 1e30]))
    if kind == "normal":
        a = rng.standard_normal(n) * scale
    elif kind == "heavy":
        a = rng.standard_cauchy(n) * scale
    elif kind == "all-equal":
        a = np.full(n, rng.standard_normal() * scale)
    elif kind == "two-values":
        a = np.where(rng.random(n) < 0.5, -scale, 2 * scale)
    elif kind == "uniform":
        a = rng.uniform(-scale, scale, n)
    elif kind == "sparse":
        a = rng.standard_normal(n) * scale * (rng.random(n) < 0.1)
    else:
        a = rng.integers(-3, 4, n).astype(np.float64)
    a = np.clip(a, -3e38, 3e38).astype(np.float32)
    if n and draw(st.booleans()):
        idx = rng.integers(0, n, draw(st.integers(1, 5)))
        a[idx] = rng.choice(SPECIALS, idx.size)
    return a.reshape(shape)


def p_for(draw, a: np.ndarray) -> float:
    finite = a[np.isfinite(a)].astype(np.float64)
    std = float(finite.std()) if finite.size else 0.0
    choice = draw(st.sampled_from(["zero", "std", "abs-tiny", "abs-big"]))
    if choice == "zero":
        return 0.0
    if choice == "std":
        return draw(st.sampled_from([0.0002, 0.02, 0.5])) * std
    if choice == "abs-tiny":
        return 1e-40
    return float(np.abs(finite).max()) if finite.size else 1.0


@settings(max_examples=150)
@given(data=st.data(), a=weights())
def test_every_weight_within_p_quantized(data, a):
    p = p_for(data.draw, a)
    block = data.draw(st.sampled_from([1, 3, 64, 1 << 16]))
    pm = data.draw(st.sampled_from([1, 2, 50]))
    enc, stats = encode(a, p, pm=pm, block_elems=block, threads=2)
    out = check_roundtrip(enc, a, p, threads=2).reshape(-1)
    finite = np.isfinite(a.reshape(-1))
    worst = float(np.abs(out[finite].astype(np.float64) - a.reshape(-1)[finite]).max()) if finite.any() else 0.0
    assert stats["max_error"] == pytest.approx(worst, rel=0, abs=0)
    assert pl.CODEC.describe(enc.params)["max_error"] == stats["max_error"]
    assert pl.CODEC.describe(enc.params)["error_bound"] == p


@settings(max_examples=100)
@given(data=st.data(), a=weights())
def test_every_weight_within_p_exact_positions(data, a):
    p = p_for(data.draw, a)
    pd = data.draw(st.sampled_from([0.0, 0.05, 1.0]))
    pm = data.draw(st.sampled_from([1, 3]))
    row = a.size // a.shape[0] if a.ndim and a.shape[0] else max(a.size, 1)
    enc, _ = encode(a, p, pm=pm, pd=pd, exact_positions=True, block_elems=max(row, 1))
    check_roundtrip(enc, a, p)


@settings(max_examples=25)
@given(a=weights(), threads=st.sampled_from([1, 2, 4]))
def test_same_bytes_with_any_thread_count(a, threads):
    p = pl.absolute_p(a, pl.PlSettings.from_params({"p": "0.01std"}))
    one, _ = encode(a, p, block_elems=100, threads=1)
    many, _ = encode(a, p, block_elems=100, threads=threads)
    assert (one.params, one.payload) == (many.params, many.payload)


def test_all_equal_and_two_value_tensors_are_tiny_and_exact_at_p_zero():
    for a in (np.full((64, 64), 0.375, np.float32), np.where(np.arange(4096) % 3, 1.5, -2.25).astype(np.float32)):
        enc, stats = encode(a, 0.0)
        check_roundtrip(enc, a)
        assert len(enc.payload) < a.nbytes / 20
        assert stats["exceptions"] == 0


def test_quantized_positions_are_smaller_than_exact_ranks():
    a = np.random.default_rng(3).standard_normal((256, 512)).astype(np.float32)
    p = 0.02 * float(a.std())
    quantized, _ = encode(a, p)
    exact, _ = encode(a, p, exact_positions=True, pd=0.05, block_elems=512)
    assert len(quantized.payload) * 8 / a.size < 7.0  # about the entropy of the 2p grid
    assert len(exact.payload) < a.nbytes  # the thesis reading still compresses
    assert len(quantized.payload) < 0.6 * len(exact.payload)


def test_bad_settings_are_clear_errors():
    a = np.zeros(16, np.float32)
    with pytest.raises(NnzError, match="p must"):
        encode(a, -1.0)
    with pytest.raises(NnzError, match="p must"):
        encode(a, float("nan"))
    with pytest.raises(NnzError, match="pm"):
        encode(a, 0.1, pm=0)
    with pytest.raises(NnzError, match="block"):
        encode(a, 0.1, block_elems=0)
    with pytest.raises(NnzError, match="float32"):
        _core.encode_pl(np.zeros(16, np.float64).view(np.uint8), "float64", 0.1)
    for bad in ({"p": "abc"}, {"p": "-1"}, {"p": "0.1", "pm": 0}, {"p": 1, "pd": -1}, {"positions": "x"},
                {"block": 0}, {"block": "rows"}, {"q": 1}):
        with pytest.raises(NnzError):
            EncodeOptions.from_params("pl", bad)


def test_p_relative_to_std_and_absolute():
    assert pl.parse_p("0.02std") == (0.02, True)
    assert pl.parse_p("1e-4") == (1e-4, False)
    assert pl.parse_p(0.5) == (0.5, False)
    a = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32) * 3
    a[0, 0] = np.nan
    s = pl.PlSettings.from_params({"p": "0.1std"})
    assert pl.absolute_p(a, s) == pytest.approx(0.1 * float(np.nanstd(a.astype(np.float64))))
    assert pl.absolute_p(a, pl.PlSettings.from_params({"p": 0.25})) == 0.25


def test_damaged_payloads_fail_cleanly():
    a = np.random.default_rng(1).standard_normal((16, 40)).astype(np.float32)
    a[3, 3] = np.nan
    enc, _ = encode(a, 0.05, block_elems=128)
    payload = bytearray(enc.payload)
    rng = np.random.default_rng(2)
    for cut in range(0, len(payload), 7):
        with pytest.raises(NnzError):
            _core.decode_payload("pl", "float32", a.size, enc.params, np.frombuffer(bytes(payload[:cut]), np.uint8),
                                 np.empty(a.size * 4, np.uint8))
    for _ in range(300):
        bad = bytearray(payload)
        for i in rng.integers(0, len(bad), 3):
            bad[i] ^= int(rng.integers(1, 256))
        try:
            _core.decode_payload("pl", "float32", a.size, enc.params, np.frombuffer(bytes(bad), np.uint8),
                                 np.empty(a.size * 4, np.uint8))
        except NnzError:
            pass
    params = bytearray(enc.params)
    params[0] = 9
    with pytest.raises(nncodec.UnsupportedError):
        _core.decode_payload("pl", "float32", a.size, bytes(params), np.frombuffer(enc.payload, np.uint8),
                             np.empty(a.size * 4, np.uint8))
    with pytest.raises(NnzError):
        _core.decode_payload("pl", "float32", a.size, enc.params[:5], np.frombuffer(enc.payload, np.uint8),
                             np.empty(a.size * 4, np.uint8))


def test_plan_keeps_small_1d_and_non_float32_tensors_lossless():
    options = EncodeOptions.from_params("pl", {"p": "0.02std"})
    rng = np.random.default_rng(0)
    assert planned("w", rng.standard_normal((64, 64)).astype(np.float32), options)[0].id == "pl"
    for name, a in {"bias": rng.standard_normal(4096).astype(np.float32),
                    "small": rng.standard_normal((8, 8)).astype(np.float32),
                    "half": rng.standard_normal((64, 64)).astype(np.float16),
                    "ints": rng.integers(0, 9, (64, 64))}.items():
        assert planned(name, a, options)[0].id == "lossless"
        coded = encode_array(name, a, options)
        assert coded.codec in ("lossless", "raw")


def test_plan_falls_back_to_lossless_when_p_is_below_float_resolution():
    a = np.random.default_rng(0).standard_normal((64, 64)).astype(np.float32)
    exact = encode_array("w", a, EncodeOptions.from_params("pl", {"p": 1e-12}))
    assert exact.codec == "lossless"
    coded = encode_array("w", a, EncodeOptions.from_params("pl", {"p": "0.02std"}))
    assert coded.codec == "pl"
    details = codecs.describe("pl", coded.params)
    assert 0 < details["max_error"] <= details["error_bound"]
    assert codecs.describe("lossless", exact.params) == {"max_error": 0.0}
    assert codecs.describe("lossless", b"damaged") == {}
