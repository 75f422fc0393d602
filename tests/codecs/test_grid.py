"""lossless-grid: float tensors whose elements are integer multiples of a scale per block (a whole
tensor, an output channel, a column, a group) are coded exactly as those integers; the lossless
codec picks it where it is smaller. Round trips are bit for bit whatever the data, and the format
is what docs/FORMAT.md 5.9 says (the reference decoder in nnz_reference agrees)."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from checkers import check_roundtrip
from nnz_reference import grid_decode
from strategies import FLOAT_DTYPES, arrays

from nncodec import CorruptFileError, _core
from nncodec.codecs import get
from nncodec.codecs.base import NoSettings
from nncodec.codecs.coding import EncodeOptions
from nncodec.codecs.lossless import grid_blocks
from nncodec.dtypes import dtype_name, element_bytes

DTYPE_CODES = {"float32": 1, "float16": 2, "bfloat16": 3, "float64": 4}


def lossless(array: np.ndarray, chunk_elems: int = 1 << 18) -> _core.EncodedTensor:
    return get("lossless").encode(array, NoSettings(), EncodeOptions(chunk_elems=chunk_elems))


def grid(array: np.ndarray, columns: bool, block: int, chunk_elems: int = 1 << 18) -> _core.EncodedTensor:
    return _core.encode_grid(element_bytes(array), dtype_name(array.dtype), columns, block, chunk_elems)


def fake_quantized(dtype, shape=(96, 300), per: str = "rows", seed: int = 3) -> np.ndarray:
    """8-bit symmetric fake quantization per output channel (rows) or per column, computed in
    float32 (float64 for float64) and cast, as a QAT export or a dequantized checkpoint holds
    weights; 16-bit models keep their scales in their dtype."""
    wide = np.float64 if np.dtype(dtype).itemsize == 8 else np.float32
    w = np.random.default_rng(seed).standard_normal(shape).astype(wide) * wide(0.05)
    axis = 1 if per == "rows" else 0
    scale = (np.abs(w).max(axis=axis, keepdims=True) / wide(127)).astype(dtype).astype(wide)
    return (np.round(w / scale) * scale).astype(dtype)


@given(arrays(FLOAT_DTYPES), st.sampled_from([7, 4096, 1 << 18]))
def test_lossless_round_trip_is_bit_exact_with_or_without_a_grid(array, chunk_elems):
    encoded = lossless(array, chunk_elems)
    assert encoded.codec in ("lossless", "lossless-values", "lossless-grid")
    check_roundtrip(encoded, array)


@given(arrays(FLOAT_DTYPES), st.booleans(), st.one_of(st.integers(1, 400), st.sampled_from([1024, 2048])),
       st.sampled_from([1, 64, 1 << 18]))
def test_any_floats_on_any_grid_round_trip(array, columns, block, chunk_elems):
    """Forced onto a grid that need not fit (every element off it an exception), and read back
    by the reference decoder too (runs of 1024 and more decode through a table of the block's
    256 elements)."""
    array = np.ascontiguousarray(array.reshape(-1))
    encoded = grid(array, columns, block, chunk_elems)
    check_roundtrip(encoded, array)
    if array.size <= 3000:
        code = DTYPE_CODES[dtype_name(array.dtype)]
        assert grid_decode(bytes(encoded.payload), bytes(encoded.params), code, array.size) == element_bytes(array).tobytes()


@pytest.mark.parametrize("dtype", [np.float32, ml_dtypes.bfloat16, np.float16, np.float64], ids=str)
@pytest.mark.parametrize("per", ["rows", "columns"])
def test_fake_quantized_channels_code_as_levels(dtype, per):
    """Each of 96 channels has its own 255 levels: more than a value table holds, one byte plane of
    levels here. float32: under 9 bits an element, against the plain coding's 25 and more."""
    x = fake_quantized(dtype, per=per)
    encoded, plain = lossless(x), _core.encode_lossless(element_bytes(x), dtype_name(x.dtype))
    assert encoded.codec == "lossless-grid"
    assert encoded.params[1] == (1 if per == "columns" else 0)
    assert encoded.coded_bytes * 8 / x.size < 9
    assert encoded.coded_bytes < plain.coded_bytes * (0.4 if x.dtype.itemsize >= 4 else 0.8)
    check_roundtrip(encoded, x)


def test_trained_weights_keep_the_plain_coding():
    w = (np.random.default_rng(0).standard_normal((256, 512)) * 0.02).astype(np.float32)
    assert lossless(w).codec == "lossless"
    assert max(_core.grid_exact_share(element_bytes(w), "float32", c, b) for c, b in grid_blocks(w.shape)) < 0.1


def test_candidate_blocks_follow_the_shape():
    assert grid_blocks((64, 3, 3, 3)) == [(False, 1728), (False, 27), (True, 3)]
    assert grid_blocks((384, 1536)) == [(False, 589824), (False, 1536), (True, 1536), (False, 32), (False, 64),
                                        (False, 128)]
    assert grid_blocks((10,)) == [(False, 10)]


def test_damaged_payloads_and_params_are_corrupt():
    x = fake_quantized(np.float32, shape=(8, 40))
    encoded = grid(x.reshape(-1), False, 40)
    out = np.empty(x.size * 4, np.uint8)
    for params, payload in ((encoded.params, encoded.payload[:-1]), (encoded.params[:-1], encoded.payload),
                            (encoded.params[:1] + b"\x07" + encoded.params[2:], encoded.payload),
                            (encoded.params[:2] + b"\0\0\0\0" + encoded.params[6:], encoded.payload)):
        with pytest.raises(CorruptFileError):
            _core.decode_payload("lossless-grid", "float32", x.size, params, np.frombuffer(payload, np.uint8), out, 1)


@pytest.mark.parametrize("qscheme", ["per_channel_symmetric", "per_channel_affine"])
def test_weights_fake_quantized_by_pytorch_code_as_levels(qscheme):
    """PyTorch's own per-channel fake quantization (what QAT trains with and exports): int8
    symmetric, and uint8 with a zero point per channel (levels q - z, within -127..127 for these
    weights); both lie on a grid per output channel, over 3x smaller than the plain coding."""
    import torch

    torch.manual_seed(0)
    w = torch.randn(256, 512) * 0.05
    signed = qscheme == "per_channel_symmetric"
    observer = torch.ao.quantization.PerChannelMinMaxObserver(
        ch_axis=0, dtype=torch.qint8 if signed else torch.quint8, qscheme=getattr(torch, qscheme))
    observer(w)
    scale, zero_point = observer.calculate_qparams()
    x = torch.fake_quantize_per_channel_affine(w, scale.float(), zero_point.int(), 0, *((-128, 127) if signed else (0, 255)))
    x = np.ascontiguousarray(x.numpy())
    encoded, plain = lossless(x), _core.encode_lossless(element_bytes(x), "float32")
    assert encoded.codec == "lossless-grid" and encoded.params[1] == 0  # runs of an output channel
    assert encoded.coded_bytes * 3.2 < plain.coded_bytes
    check_roundtrip(encoded, x)
