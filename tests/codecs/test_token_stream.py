"""rANS token streams (csrc/entropy/token_stream.hpp): exact round trips, safe on hostile bytes."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nncodec import _core
from nncodec.errors import CorruptFileError


@st.composite
def streams(draw):
    n = draw(st.integers(0, 3000))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["geometric", "uniform32", "constant", "two", "mixed"]))
    if kind == "geometric":
        values = rng.geometric(draw(st.floats(0.01, 0.99)), size=n) - 1
    elif kind == "uniform32":
        values = rng.integers(0, 2**32, size=n, dtype=np.uint64)
    elif kind == "constant":
        values = np.full(n, draw(st.integers(0, 2**32 - 1)))
    elif kind == "two":
        values = rng.choice([0, draw(st.integers(1, 2**32 - 1))], size=n, p=[0.999, 0.001])
    else:
        values = np.where(rng.random(n) < 0.5, rng.integers(0, 16, size=n), rng.integers(0, 2**32, size=n, dtype=np.uint64))
    values = values.astype(np.uint32)
    nctx = draw(st.integers(1, 16))
    contexts = rng.integers(0, nctx, size=n).astype(np.uint8) if nctx > 1 else None
    negative = (rng.random(n) < 0.5).astype(np.uint8) if draw(st.booleans()) else None
    return values, contexts, negative, nctx


@given(streams())
@settings(max_examples=120)
def test_round_trip(case):
    values, contexts, negative, nctx = case
    stream = _core.token_stream_encode(values, contexts, negative, nctx)
    out = _core.token_stream_decode(np.frombuffer(stream, np.uint8), values.size, contexts, negative is not None, nctx)
    expected = values.astype(np.int64)
    if negative is not None:
        expected = np.where(negative.astype(bool), -expected, expected)
    assert np.array_equal(out, expected)


def test_skewed_stream_costs_about_its_entropy():
    rng = np.random.default_rng(0)
    values = (rng.geometric(0.3, size=200_000) - 1).astype(np.uint32)
    stream = _core.token_stream_encode(values)
    _, counts = np.unique(values, return_counts=True)
    entropy_bytes = -(counts * np.log2(counts / counts.sum())).sum() / 8
    assert len(stream) <= 1.01 * entropy_bytes + 64


def test_rans_beats_huffman_on_a_skewed_alphabet():
    # One symbol at p = 0.97: Huffman spends at least 1 bit on it, rANS about 0.04.
    rng = np.random.default_rng(1)
    values = np.where(rng.random(100_000) < 0.97, 0, rng.integers(1, 16, size=100_000)).astype(np.uint32)
    stream = _core.token_stream_encode(values)
    lengths = _core.huffman_code_lengths(np.bincount(values, minlength=16).astype(np.uint64))
    huffman_bytes = sum(np.bincount(values, minlength=16)[s] * lengths[s] for s in range(16)) / 8
    assert len(stream) < 0.5 * huffman_bytes


def _stream():
    rng = np.random.default_rng(2)
    values = (rng.geometric(0.05, size=4000) - 1).astype(np.uint32)
    contexts = rng.integers(0, 4, size=4000).astype(np.uint8)
    return values, contexts, _core.token_stream_encode(values, contexts, None, 4)


def _decode(stream: bytes, n: int, contexts):
    return _core.token_stream_decode(np.frombuffer(stream, np.uint8), n, contexts, False, 4)


def test_every_truncation_is_corrupt():
    values, contexts, stream = _stream()
    for cut in range(0, len(stream), max(1, len(stream) // 200)):
        with pytest.raises(CorruptFileError):
            _decode(stream[:cut], values.size, contexts)


def test_trailing_bytes_are_corrupt():
    values, contexts, stream = _stream()
    with pytest.raises(CorruptFileError):
        _decode(stream + b"\0", values.size, contexts)


@given(st.integers(0, 2**31), st.integers(1, 255))
@settings(max_examples=300)
def test_flipped_bytes_fail_cleanly_or_decode(position, flip):
    values, contexts, stream = _stream()
    damaged = bytearray(stream)
    damaged[position % len(damaged)] ^= flip
    try:
        _decode(bytes(damaged), values.size, contexts)
    except CorruptFileError:
        pass


@given(st.binary(max_size=300), st.integers(0, 5000))
def test_random_bytes_never_crash(junk, n):
    try:
        _core.token_stream_decode(np.frombuffer(junk, np.uint8), n, None, True, 1)
    except CorruptFileError:
        pass
