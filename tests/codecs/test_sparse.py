"""The sparse layer: positions (bitmap / gaps / runs) + values coded by any inner codec."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from checkers import check_roundtrip
from eb_models import mlp
from nncodec import _core, codecs, encode_file, load
from nncodec.codecs import sparse
from nncodec.dtypes import dtype_name, element_bytes
from nncodec.errors import CorruptFileError
from nncodec.codecs.coding import EncodeOptions, encode_array


@st.composite
def masks(draw):
    n = draw(st.integers(0, 5000))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["random", "blocks", "empty", "full"]))
    if kind == "random":
        mask = rng.random(n) < draw(st.floats(0.0, 1.0))
    elif kind == "blocks":  # structured: whole rows pruned
        rows = max(1, n // 37)
        mask = np.repeat(rng.random(rows) < 0.5, 37)[:n]
        mask = np.pad(mask, (0, n - mask.size))
    elif kind == "empty":
        mask = np.zeros(n, bool)
    else:
        mask = np.ones(n, bool)
    return mask.astype(np.uint8)


@given(masks())
@settings(max_examples=150)
def test_positions_round_trip(mask):
    stream = _core.positions_encode(mask)
    assert np.array_equal(_core.positions_decode(np.frombuffer(stream, np.uint8), mask.size), mask)


@pytest.mark.parametrize("density", [0.5, 0.1, 0.02, 0.001])
def test_unstructured_positions_cost_about_their_entropy(density):
    mask = (np.random.default_rng(0).random(200_000) < density).astype(np.uint8)
    stream = _core.positions_encode(mask)
    p = mask.mean()
    entropy_bytes = mask.size * -(p * np.log2(p) + (1 - p) * np.log2(1 - p)) / 8
    assert len(stream) <= 1.02 * entropy_bytes + 64


def test_runs_win_on_structured_sparsity():
    mask = np.repeat((np.random.default_rng(1).random(2000) < 0.5), 300).astype(np.uint8)
    stream = _core.positions_encode(mask)
    assert stream[0] == 2 and len(stream) < 1500  # ~1000 runs; a bitmap would need ~75 KB


def pruned(shape=(300, 200), sparsity=0.9, seed=0) -> np.ndarray:
    w = np.random.default_rng(seed).standard_normal(shape).astype(np.float32) * 0.05
    w[np.abs(w) < np.quantile(np.abs(w), sparsity)] = 0
    return w


def test_sparse_lossless_is_bit_exact_and_smaller_than_dense():
    w = pruned()
    w.reshape(-1)[[5, 17]] = [-0.0, np.nan]  # -0.0 is a value, not a zero
    sparse = encode_array("w", w, EncodeOptions())
    dense = encode_array("w", w, EncodeOptions.from_params(params={"sparse": "off"}))
    # Dense coding gives the zeros a value table (lossless-values), about a bit each at 90%
    # zeros; the positions of the sparse layer still cost less.
    assert sparse.codec == "sparse" and dense.codec in ("lossless", "lossless-values")
    assert sparse.coded_bytes < 0.9 * dense.coded_bytes
    check_roundtrip(sparse, w)


def test_sparse_eb_keeps_zeros_and_the_bound():
    w = pruned()
    error = 0.02 * float(w.astype(np.float64).std())  # the std of the whole tensor
    options = EncodeOptions.from_params("eb", {"error": error})
    enc = sparse.encode_layer(options.unit, w, options.settings, options)
    assert enc.codec == "sparse" and enc.params[1:3] == b"eb"
    out = check_roundtrip(enc, w, error)
    assert np.all(out[w == 0] == 0)
    # The plan keeps whichever of dense and sparse is smaller.
    dense = encode_array("w", w, EncodeOptions.from_params("eb", {"rel_error": 0.02, "sparse": "off"}))
    chosen = encode_array("w", w, EncodeOptions.from_params("eb", {"rel_error": 0.02}))
    assert chosen.coded_bytes == min(dense.coded_bytes, enc.coded_bytes)


@pytest.mark.parametrize("dtype", [np.int8, np.int64, np.float16, np.bool_])
def test_sparse_any_dtype(dtype):
    rng = np.random.default_rng(2)
    a = (rng.integers(1, 5, size=20000) * (rng.random(20000) < 0.1)).astype(dtype)
    options = EncodeOptions()
    enc = sparse.encode_layer(options.unit, a, options.settings, options)
    assert enc.codec == "sparse"
    check_roundtrip(enc, a)
    # The plan keeps whichever of dense and sparse coding is smaller.
    chosen = encode_array("t", a, EncodeOptions())
    assert len(chosen.params) + chosen.coded_bytes <= len(enc.params) + enc.coded_bytes
    check_roundtrip(chosen, a)


def test_sparse_is_generic_over_the_inner_codec(monkeypatch):
    # Any registered codec works inside: here raw's coding, registered under another name.
    class RawCopy(codecs.Codec):
        id = "raw-copy"
        Settings = codecs.get("raw").Settings

        def encode(self, array, settings, options):
            return _core.encode_raw(element_bytes(array), dtype_name(array.dtype))

    monkeypatch.setattr(codecs, "_REGISTRY", dict(codecs._REGISTRY))  # the registration ends with the test
    codecs.register(RawCopy())
    w = pruned()
    enc = encode_array("w", w, EncodeOptions(codec="raw-copy"))
    assert enc.codec == "sparse" and b"raw" in enc.params
    check_roundtrip(enc, w)


def test_pruned_model_file_round_trip(tmp_path):
    model = tmp_path / "m.onnx"
    inits = mlp(model, hidden=512, pruned=0.9)
    with load(encode_file(model, tmp_path / "m.nnz")) as f:
        assert {t.name: t.codec for t in f.tensors}["fc1.weight"] == "sparse"
        assert np.array_equal(f["fc1.weight"], inits["fc1.weight"])


def _sparse_payload():
    w = pruned((100, 100))
    return w, encode_array("w", w, EncodeOptions.from_params("eb", {"error": 0.001}))


def test_truncated_sparse_payloads_are_corrupt():
    w, enc = _sparse_payload()
    for cut in range(0, len(enc.payload), max(1, len(enc.payload) // 100)):
        with pytest.raises(CorruptFileError):
            _core.decode_payload("sparse", "float32", w.size, enc.params, np.frombuffer(enc.payload[:cut], np.uint8),
                                 np.empty(w.size, np.float32).view(np.uint8))


@given(st.integers(0, 2**31), st.integers(1, 255), st.booleans())
@settings(max_examples=300)
def test_damaged_sparse_fails_cleanly_or_decodes(position, flip, in_params):
    w, enc = _sparse_payload()
    params, payload = bytearray(enc.params), bytearray(enc.payload)
    target = params if in_params else payload
    target[position % len(target)] ^= flip
    try:
        _core.decode_payload("sparse", "float32", w.size, bytes(params), np.frombuffer(bytes(payload), np.uint8),
                             np.empty(w.size, np.float32).view(np.uint8))
    except (CorruptFileError,) as exc:
        assert str(exc)
    except Exception as exc:  # an unknown inner codec id is "unsupported", also an NnzError
        from nncodec.errors import UnsupportedError
        assert isinstance(exc, UnsupportedError)


def test_nested_sparse_is_refused():
    w, enc = _sparse_payload()
    params = bytes([6]) + b"sparse" + enc.params[1 + enc.params[0]:]
    with pytest.raises(CorruptFileError):
        _core.decode_payload("sparse", "float32", w.size, params, np.frombuffer(enc.payload, np.uint8),
                             np.empty(w.size, np.float32).view(np.uint8))


@pytest.mark.parametrize("codec,params", [("eb", {"rel_error": 0.02}), ("pl", {"p": "0.02std"})])
def test_lossy_codecs_under_the_sparse_layer_keep_the_whole_tensors_bound(codec, params):
    w = pruned((400, 300))
    bound = 0.02 * float(w.astype(np.float64).std())  # relative to the whole tensor, not the non-zeros
    enc = encode_array("w", w, EncodeOptions.from_params(codec, params))
    dense = encode_array("w", w, EncodeOptions.from_params(codec, {**params, "sparse": "off"}))
    assert enc.coded_bytes <= dense.coded_bytes
    out = check_roundtrip(enc, w, bound)
    if enc.codec == "sparse":
        assert np.all(out[w == 0] == 0)
