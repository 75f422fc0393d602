"""The core's own zlib decoder (csrc/container/zlib_inflate.cpp) against Python's zlib: every
level and strategy, every kind of block, and damaged or hostile streams."""

from __future__ import annotations

import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nncodec import _core
from nncodec.errors import ChecksumError, CorruptFileError, LimitExceededError, UnsupportedError

STRATEGIES = [zlib.Z_DEFAULT_STRATEGY, zlib.Z_FILTERED, zlib.Z_HUFFMAN_ONLY, zlib.Z_RLE, zlib.Z_FIXED]


def compress(data: bytes, level: int, strategy: int) -> bytes:
    c = zlib.compressobj(level, zlib.DEFLATED, 15, 9, strategy)
    return c.compress(data) + c.flush()


def texts() -> st.SearchStrategy[bytes]:
    words = st.sampled_from([b"model", b"weight", b"bias", b"\x00" * 7, b"{\"a\": 1}", b"layer.0.", bytes(range(256))])
    return st.one_of(st.binary(max_size=5000), st.lists(words, max_size=400).map(b"".join))


@settings(max_examples=300)
@given(texts(), st.integers(0, 9), st.sampled_from(STRATEGIES))
def test_inflate_gives_back_what_zlib_compressed(data, level, strategy):
    stream = compress(data, level, strategy)
    assert _core.zlib_inflate(stream, len(data)) == data


@pytest.mark.parametrize("size", [0, 1, 65535, 65536, 70000, 1 << 20])
def test_long_runs_stored_blocks_and_far_matches(size):
    rng = np.random.default_rng(size)
    random = rng.integers(0, 256, size, dtype=np.uint8).tobytes()
    repeated = (random[:40000] * (size // 40000 + 1))[:size]  # matches 40,000 bytes back (max distance 32,768)
    for data in (random, repeated, b"\x00" * size):
        for level in (0, 1, 9):
            assert _core.zlib_inflate(compress(data, level, zlib.Z_DEFAULT_STRATEGY), size) == data


def test_output_over_the_limit_is_refused_before_it_is_made():
    bomb = zlib.compress(b"\x00" * (64 << 20), 9)
    with pytest.raises(LimitExceededError, match="inflates to more than"):
        _core.zlib_inflate(bomb, 1 << 20)


@pytest.mark.parametrize("damage, error", [
    (lambda z: z[:-1], CorruptFileError),            # truncated trailer
    (lambda z: z[:len(z) // 2], CorruptFileError),  # truncated data
    (lambda z: z + b"x", CorruptFileError),          # trailing bytes
    (lambda z: z[:-4] + bytes(4), ChecksumError),    # wrong Adler-32
    (lambda z: b"\x78\x00" + z[2:], CorruptFileError),  # header check
    (lambda z: bytes([z[0], z[1] | 0x20]) + z[2:], CorruptFileError),  # FDICT (check bits then wrong)
], ids=["trailer", "half", "trailing", "adler", "header", "fdict"])
def test_damaged_streams_fail_cleanly(damage, error):
    stream = zlib.compress(b"the kept bytes of a model file " * 100, 6)
    with pytest.raises(error):
        _core.zlib_inflate(damage(stream), 1 << 20)


def test_preset_dictionaries_are_unsupported():
    c = zlib.compressobj(6, zlib.DEFLATED, 15, 9, zlib.Z_DEFAULT_STRATEGY, zdict=b"dictionary")
    stream = c.compress(b"dictionary text") + c.flush()
    with pytest.raises(UnsupportedError, match="dictionar"):
        _core.zlib_inflate(stream, 1 << 20)


@settings(max_examples=500)
@given(st.binary(max_size=300), st.integers(0, 2000), st.integers(0, 7))
def test_any_bytes_give_data_or_a_clean_error(noise, at, bit):
    stream = bytearray(zlib.compress(b"abcabcabc" * 50 + bytes(range(200)), 9))
    stream[at % len(stream)] ^= 1 << bit
    for candidate in (bytes(stream), b"\x78\x9c" + noise):
        try:
            _core.zlib_inflate(candidate, 1 << 16)
        except (CorruptFileError, ChecksumError, UnsupportedError, LimitExceededError):
            pass
