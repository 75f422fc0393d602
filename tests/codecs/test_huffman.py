"""Canonical length-limited Huffman coder: optimality (against dahuffman and an independent
package-merge), round trips, and hostile tables."""

from __future__ import annotations

import numpy as np
import pytest
from dahuffman import HuffmanCodec
from hypothesis import given
from hypothesis import strategies as st

from nncodec import CorruptFileError, NnzError, _core

MAX_BITS = 12


def total_bits(freq: dict[int, int], lengths) -> int:
    return sum(f * lengths[s] for s, f in freq.items())


def dahuffman_lengths(freq: dict[int, int]) -> dict[int, int]:
    # eof set to an existing symbol: dahuffman then adds no extra end-of-file symbol.
    codec = HuffmanCodec.from_frequencies(freq, eof=next(iter(freq)))
    return {s: bits for s, (bits, _) in codec.get_code_table().items()}


def optimal_limited_cost(weights: list[int], limit: int) -> int:
    """Minimum cost of a prefix code with lengths <= limit (coin-collector package-merge)."""
    leaves = sorted(weights)
    level = list(leaves)
    for _ in range(limit - 1):
        packages = [level[i] + level[i + 1] for i in range(0, len(level) - 1, 2)]
        level = sorted(leaves + packages)
    return sum(level[: 2 * len(weights) - 2])


freq_maps = st.dictionaries(st.integers(0, 4095), st.integers(1, 10**6), min_size=2, max_size=300)


@given(freq_maps)
def test_code_lengths_are_optimal_like_dahuffman_when_limit_not_binding(freq):
    alphabet = max(freq) + 1
    f = np.zeros(alphabet, np.uint64)
    for s, c in freq.items():
        f[s] = c
    ours = _core.huffman_code_lengths(f, MAX_BITS)
    theirs = dahuffman_lengths(freq)
    assert all(ours[s] == 0 for s in range(alphabet) if s not in freq)
    assert max(ours) <= MAX_BITS
    assert sum(2.0 ** -ours[s] for s in freq) == pytest.approx(1.0)  # complete code
    if max(theirs.values()) <= MAX_BITS:
        assert total_bits(freq, ours) == total_bits(freq, theirs)
    else:  # limited: never better than unlimited, and optimal among limited codes
        assert total_bits(freq, ours) >= total_bits(freq, theirs)
    assert total_bits(freq, ours) == optimal_limited_cost(list(freq.values()), MAX_BITS)


@given(st.lists(st.integers(1, 1 << 30), min_size=2, max_size=40), st.integers(6, MAX_BITS))
def test_length_limit_is_respected_and_optimal(weights, limit):
    if len(weights) > 1 << limit:
        return
    ours = _core.huffman_code_lengths(np.array(weights, np.uint64), limit)
    assert max(ours) <= limit
    assert sum(w * n for w, n in zip(weights, ours)) == optimal_limited_cost(weights, limit)


def test_fibonacci_weights_force_the_limit():
    weights = [1, 1]
    while len(weights) < 30:
        weights.append(weights[-1] + weights[-2])
    lengths = _core.huffman_code_lengths(np.array(weights, np.uint64), MAX_BITS)
    assert max(lengths) == MAX_BITS  # unlimited Huffman would need 29 bits
    assert sum(2.0 ** -n for n in lengths) == pytest.approx(1.0)


@st.composite
def symbol_streams(draw):
    alphabet = draw(st.sampled_from([2, 3, 16, 256, 2048, 4096]))
    n = draw(st.integers(2, 3000))
    skew = draw(st.floats(0.05, 0.95))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    syms = np.minimum(rng.geometric(skew, n) - 1, alphabet - 1).astype(np.uint16)
    syms[0], syms[-1] = 0, alphabet - 1  # at least two distinct symbols
    return syms, alphabet


@given(symbol_streams())
def test_encode_decode_round_trip(stream):
    syms, alphabet = stream
    freq = np.bincount(syms, minlength=alphabet).astype(np.uint64)
    lengths = _core.huffman_code_lengths(freq, MAX_BITS)
    block = _core.huffman_encode(syms, lengths)
    back = _core.huffman_decode(np.frombuffer(block, np.uint8), syms.size, alphabet)
    assert np.array_equal(back, syms)
    # Size is what the code lengths say, plus table, stream sizes and per-stream padding.
    payload_bits = int((freq * np.array(lengths, np.uint64)).sum())
    assert len(block) * 8 >= payload_bits


def test_large_skewed_stream_uses_multi_symbol_path_correctly():
    rng = np.random.default_rng(7)
    exps = (np.frexp(rng.standard_normal(300_000).astype(np.float32) * 0.05)[1] + 140).astype(np.uint16)
    freq = np.bincount(exps, minlength=256).astype(np.uint64)
    block = _core.huffman_encode(exps, _core.huffman_code_lengths(freq, MAX_BITS))
    assert np.array_equal(_core.huffman_decode(np.frombuffer(block, np.uint8), exps.size, 256), exps)


def test_encoder_rejects_symbol_without_code():
    lengths = [1, 1, 0]
    with pytest.raises(NnzError):
        _core.huffman_encode(np.array([0, 1, 2], np.uint16), lengths)


# Hostile tables: u16 first, u16 count, nibbles. Each must be refused, never decoded.
HOSTILE_TABLES = {
    "over-subscribed": bytes([0, 0, 3, 0, 0x11, 0x01]),
    "incomplete": bytes([0, 0, 2, 0, 0x21]),
    "length 13": bytes([0, 0, 2, 0, 0xD1]),
    "single symbol": bytes([0, 0, 1, 0, 0x01]),
    "range past alphabet": bytes([15, 0, 2, 0, 0x11]),
    "zero run past range": bytes([0, 0, 3, 0, 0xF1, 0xFF, 0x01]),
    "truncated nibbles": bytes([0, 0, 8, 0, 0x33]),
}


@pytest.mark.parametrize("table", HOSTILE_TABLES.values(), ids=HOSTILE_TABLES.keys())
def test_hostile_table_is_refused(table):
    with pytest.raises(CorruptFileError):
        _core.huffman_decode(np.frombuffer(table + b"\0" * 16, np.uint8), 10, 16)


@given(st.binary(max_size=300), st.integers(0, 2000), st.sampled_from([2, 16, 256, 4096]))
def test_random_bytes_decode_or_fail_cleanly(block, n, alphabet):
    try:
        out = _core.huffman_decode(np.frombuffer(block, np.uint8), n, alphabet)
    except CorruptFileError:
        return
    assert out.size == n and int(out.max(initial=0)) < alphabet
