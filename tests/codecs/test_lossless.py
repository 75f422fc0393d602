"""The lossless codec: exact round trip of every dtype and bit pattern, determinism, and the
fact that it compresses what should compress."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from checkers import check_deterministic, check_roundtrip
from nnz_reference import lossless_decode
from strategies import FLOAT_DTYPES, arrays, same_bits

from nncodec import CorruptFileError, NnzError, _core
from nncodec.dtypes import dtype_name, element_bytes


def encode(array: np.ndarray, chunk_elems: int = 1 << 18, threads: int = 1):
    return _core.encode_lossless(element_bytes(array), dtype_name(array.dtype), chunk_elems, threads)


@given(arrays(), st.sampled_from([1, 7, 256, 4096, 1 << 18]), st.sampled_from([1, 3]))
def test_round_trip_is_bit_exact(array, chunk_elems, threads):
    encoded = encode(array, chunk_elems, threads)
    # Value tables only for 32- and 64-bit floats (16-bit ones hold their whole value in two planes).
    tables_allowed = array.dtype.kind == "f" and array.dtype.itemsize >= 4
    assert encoded.codec == "lossless" or (tables_allowed and encoded.codec == "lossless-values")
    check_roundtrip(encoded, array, threads=threads)


@pytest.mark.parametrize("dtype", [np.float32, ml_dtypes.bfloat16], ids=str)
@pytest.mark.parametrize("n", [40, 5003, 300_001])
def test_four_bit_middle_planes_are_read_in_place(dtype, n):
    """Weights whose top 4 mantissa bits are all zero: the symbol takes them (k = 4) and the
    middle plane (3 mantissa bits and the sign, near uniform) stays packed 4-bit, which the
    decoder joins in place, 16 elements at a time, then one by one for the tail."""
    rng = np.random.default_rng(n)
    x = (np.sign(rng.standard_normal(n)) * 2.0 ** rng.integers(-8, 0, n) * (1 + rng.random(n) / 16)).astype(dtype)
    encoded = encode(x)
    chunk = encoded.payload[4 * -(-n // (1 << 18)):]
    symbols_end = 2 + (4 + int.from_bytes(chunk[2:6], "little") if chunk[1] == 2 else -(-n * 12 // 8))
    assert chunk[0] == 4 and chunk[symbols_end] == 1  # k = 4, middle plane packed
    check_roundtrip(encoded, x)
    code = 1 if dtype == np.float32 else 3
    if n < 6000:
        assert lossless_decode(encoded.payload, encoded.params, code, n) == element_bytes(x).tobytes()


def fake_quantized(dtype, n: int = 300_000, levels: int = 127, seed: int = 5) -> np.ndarray:
    """Weights rounded to one step per tensor and kept as floats, as QAT checkpoints hold them."""
    w = np.random.default_rng(seed).standard_normal(n) * 0.05
    step = np.abs(w).max() / levels
    return (np.round(w / step) * step).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=str)
def test_fake_quantized_floats_code_their_values_as_symbols(dtype):
    """A value table codes each of the 255 levels as a symbol of its own: under 9 bits an element,
    where their mantissas alone took the plain coding to 18 bits (float32) and 49 (float64)."""
    x = fake_quantized(dtype)
    encoded = encode(x)
    assert encoded.codec == "lossless-values"
    assert encoded.coded_bytes * 8 < 9 * x.size
    plain = _core.encode_lossless(element_bytes(x), dtype_name(x.dtype), 1 << 18, 1, False)
    assert plain.codec == "lossless" and plain.coded_bytes > 2 * encoded.coded_bytes
    check_roundtrip(encoded, x)


def test_value_table_sampling_finds_rare_repeats_in_large_chunks():
    """In chunks too large to sort whole, a sample decides: 6% of the elements at 20 repeated
    values (zeros of pruned channels, a repeated row) are found, and their table pays (it must
    save 2% of the chunk: such chunks decode slower)."""
    rng = np.random.default_rng(6)
    x = (rng.standard_normal(1 << 18) * 0.05).astype(np.float32)
    hit = rng.random(x.size) < 0.06
    x[hit] = rng.standard_normal(20).astype(np.float32)[rng.integers(0, 20, int(hit.sum()))]
    encoded = encode(x)
    assert encoded.codec == "lossless-values"
    check_roundtrip(encoded, x)


def test_lossless_refuses_chunks_with_value_tables():
    x = fake_quantized(np.float32, 5000)
    encoded = encode(x)
    assert encoded.codec == "lossless-values"
    out = np.empty_like(x)
    with pytest.raises(CorruptFileError, match="value table"):
        _core.decode_payload("lossless", "float32", x.size, encoded.params, np.frombuffer(encoded.payload, np.uint8),
                             out.view(np.uint8))


@given(arrays())
def test_output_does_not_depend_on_thread_count(array):
    check_deterministic(lambda threads: encode(array, 512, threads), threads=(1, 4))


@pytest.mark.parametrize("dtype", FLOAT_DTYPES, ids=str)
def test_weight_like_floats_compress(dtype):
    rng = np.random.default_rng(0)
    w = (rng.standard_normal(200_000) * 0.02).astype(dtype)
    encoded = encode(w)
    if w.itemsize >= 4:  # trained-like weights repeat no values: no table is tried past the sample
        assert encoded.codec == "lossless"
    # Exponents of N(0, 0.02) weights carry under 3 of their bits; the rest is near-uniform.
    expected_max = {4: 0.84, 2: 0.86, 8: 0.88}[w.itemsize] if dtype != ml_dtypes.bfloat16 else 0.67
    assert encoded.coded_bytes < expected_max * w.nbytes
    check_roundtrip(encoded, w)


def test_int8_weights_compress():
    rng = np.random.default_rng(1)
    q = np.clip(np.round(rng.standard_normal(100_000) * 8), -127, 127).astype(np.int8)
    encoded = encode(q)
    assert encoded.coded_bytes < 0.7 * q.nbytes
    check_roundtrip(encoded, q)


def test_float32_upcast_from_bfloat16_codes_low_bits_as_constant():
    rng = np.random.default_rng(2)
    w = rng.standard_normal(100_000).astype(ml_dtypes.bfloat16).astype(np.float32)
    encoded = encode(w)
    assert encoded.coded_bytes < 0.45 * w.nbytes  # the 16 zero low bits cost nothing
    check_roundtrip(encoded, w)


@given(arrays(FLOAT_DTYPES))
def test_encoding_is_deterministic(array):
    assert encode(array).payload == encode(array).payload


@pytest.mark.parametrize("values", [False, True], ids=["plain", "value-tables"])
def test_damaged_payloads_fail_cleanly(values):
    rng = np.random.default_rng(3)
    w = (rng.standard_normal(3000) * 0.1).astype(np.float32)
    if values:
        w = fake_quantized(np.float32, 3000)
    encoded = encode(w, 1024)
    assert encoded.codec == ("lossless-values" if values else "lossless")
    payload = bytearray(encoded.payload)
    failures = 0
    for i in range(len(payload)):
        bad = bytearray(payload)
        bad[i] ^= 0xFF
        out = np.empty_like(w)
        try:
            _core.decode_payload(encoded.codec, "float32", w.size, encoded.params, np.frombuffer(bytes(bad), np.uint8),
                                 out.view(np.uint8))
        except CorruptFileError:
            failures += 1
    # Structural bytes are validated; a flipped mantissa bit is caught by the container checksum.
    assert failures > 0


@pytest.mark.parametrize("cut", [0, 1, 4, 10, 100])
def test_truncated_payload_is_corrupt(cut):
    w = np.arange(5000, dtype=np.float32)
    encoded = encode(w, 1000)
    out = np.empty_like(w)
    with pytest.raises(CorruptFileError):
        _core.decode_payload("lossless", "float32", w.size, encoded.params,
                             np.frombuffer(encoded.payload[:cut], np.uint8), out.view(np.uint8))


def test_bad_parameters_are_corrupt():
    w = np.ones(10, np.float32)
    encoded = encode(w)
    out = np.empty_like(w)
    for params in (b"", b"\0\0\0\0", b"\xff\xff\xff\xff", encoded.params + b"\0"):
        with pytest.raises(CorruptFileError):
            _core.decode_payload("lossless", "float32", w.size, params, np.frombuffer(encoded.payload, np.uint8),
                                 out.view(np.uint8))


def test_unknown_codec_is_unsupported():
    from nncodec import UnsupportedError

    out = np.empty(4, np.float32)
    with pytest.raises(UnsupportedError, match="unknown codec"):
        _core.decode_payload("from-the-future", "float32", 4, b"", np.zeros(16, np.uint8), out.view(np.uint8))


def test_wrong_output_size_is_an_argument_error():
    w = np.ones(10, np.float32)
    encoded = encode(w)
    with pytest.raises(NnzError):
        _core.decode_payload("lossless", "float32", 10, encoded.params, np.frombuffer(encoded.payload, np.uint8),
                             np.empty(39, np.uint8))


def test_output_that_would_need_a_copy_is_refused():
    """A strided, wrongly typed or read-only buffer would be converted to a copy that receives the
    tensor while the caller's array stays untouched: it is an error instead."""
    w = np.linspace(-1, 1, 10, dtype=np.float32)
    encoded = encode(w)
    payload = np.frombuffer(encoded.payload, np.uint8)
    read_only = np.zeros(40, np.uint8)
    read_only.flags.writeable = False
    for out, message in [(np.zeros(80, np.uint8)[::2], "contiguous uint8"), (np.zeros(10, np.float32), "contiguous uint8"),
                         (read_only, "read-only")]:
        with pytest.raises(NnzError, match=message):
            _core.decode_payload("lossless", "float32", 10, encoded.params, payload, out)
        with pytest.raises(NnzError, match=message):
            _core.decode_payloads([("lossless", "float32", 10, encoded.params, payload, out)])


@given(st.lists(arrays(), max_size=5))
def test_batch_decode_equals_one_by_one(batch):
    items, outs = [], []
    for array in batch:
        encoded = encode(array)
        outs.append(np.empty(array.shape, array.dtype))
        items.append((encoded.codec, dtype_name(array.dtype), array.size, encoded.params,
                      np.frombuffer(encoded.payload, np.uint8), outs[-1].reshape(-1).view(np.uint8)))
    _core.decode_payloads(items)
    for array, out in zip(batch, outs):
        assert same_bits(out, array)


@settings(max_examples=60)
@given(arrays(), st.sampled_from([100, 5000]))
def test_spec_reference_decoder_agrees(array, chunk_elems):
    """docs/FORMAT.md is enough to decode: an independent decoder written from it gets the same bytes."""
    if array.size > 4000:
        return
    encoded = encode(array, chunk_elems)
    dtype_code = {"float32": 1, "float16": 2, "bfloat16": 3, "float64": 4, "int8": 5, "uint8": 6, "int16": 7,
                  "uint16": 8, "int32": 9, "uint32": 10, "int64": 11, "uint64": 12, "bool": 13}[dtype_name(array.dtype)]
    values = encoded.codec == "lossless-values"
    assert lossless_decode(encoded.payload, encoded.params, dtype_code, array.size, values) == element_bytes(array).tobytes()


def test_spec_reference_decoder_reads_rans_planes():
    """Low mantissa bytes that are almost all zero are coded with rANS (less than a bit each);
    the decoder written from docs/FORMAT.md reads them too."""
    rng = np.random.default_rng(4)
    w = (rng.standard_normal(3000) * 0.05).astype(np.float32)
    bits = w.view(np.uint32)
    bits[rng.random(3000) < 0.97] &= 0xFFFF0000  # mostly widened from bfloat16
    encoded = encode(w)
    payload = encoded.payload
    assert encoded.coded_bytes < 0.6 * w.nbytes
    assert lossless_decode(payload, encoded.params, 1, w.size) == w.tobytes()
