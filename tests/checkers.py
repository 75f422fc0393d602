"""Checkers every codec's tests share (imported by bare name, like the other helpers here).

    check_roundtrip(encoded, original, bound)   decoded exactly, or every finite value within bound
    check_corruption(data, decode, intact)      every byte flipped and every truncation
    check_deterministic(encode)                 the same bytes for every thread count
    check_golden(folder, name)                  a committed file decodes to its committed arrays
    FLOAT_DTYPES, FLOAT_NAMES, edge_floats(dtype)   the float dtypes, their names, a strategy of edge values
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from fractions import Fraction
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
from hypothesis import strategies as st

import nncodec
from nncodec import _core
from nncodec.codecs.coding import decode_encoded
from nncodec.errors import CorruptFileError, NnzError

GOLDEN = Path(__file__).resolve().parent / "golden"

FLOAT_DTYPES = [np.dtype("<f4"), np.dtype("<f2"), np.dtype(ml_dtypes.bfloat16), np.dtype("<f8")]
FLOAT_NAMES = {np.dtype("<f4"): "float32", np.dtype("<f2"): "float16", np.dtype(ml_dtypes.bfloat16): "bfloat16",
               np.dtype("<f8"): "float64"}


def edge_floats(dtype: np.dtype):
    """Floats of a dtype's edges (zeros, NaN, infinities, the largest, the tiniest) and any other."""
    info = ml_dtypes.finfo(dtype)
    specials = [0.0, -0.0, np.nan, np.inf, -np.inf, float(info.max), -float(info.max), float(info.tiny),
                float(info.smallest_subnormal), -float(info.smallest_subnormal), 1.0, -1.0]
    return st.one_of(st.sampled_from(specials), st.floats(allow_nan=True, allow_infinity=True, width=64))


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and a.tobytes() == b.tobytes()


def check_roundtrip(encoded, original: np.ndarray, bound: float | None = None, threads: int = 1) -> np.ndarray:
    """The decoded tensor, checked: bit for bit (``bound`` None), or every finite value within
    ``bound`` of the original (computed exactly) and every NaN and infinity kept with its bits."""
    decoded = decode_encoded(encoded, original, threads)
    if bound is None:
        assert same_bits(decoded, original), f"{encoded.codec}: not bit-exact"
        return decoded
    o, d = original.reshape(-1), decoded.reshape(-1)
    finite = np.isfinite(o.astype(np.float64))
    assert same_bits(d[~finite], o[~finite]), f"{encoded.codec}: NaN/Inf not kept bit for bit"
    if original.dtype == np.float64:  # exact rational arithmetic: float64 differences can round
        limit = Fraction(bound)
        assert all(abs(Fraction(float(a)) - Fraction(float(b))) <= limit for a, b in zip(o[finite], d[finite])), \
            f"{encoded.codec}: an error over the bound {bound}"
    else:  # differences of two narrower floats are exact in float64
        err = np.abs(o[finite].astype(np.float64) - d[finite].astype(np.float64))
        assert not err.size or err.max() <= bound, f"{encoded.codec}: error {err.max()} over the bound {bound}"
    return decoded


def check_corruption(data: bytes, decode: Callable[[bytes], Any], intact: Callable[[Any], bool] = lambda out: True,
                     truncation: type[Exception] = CorruptFileError, flip: int = 0x41) -> float:
    """Feeds ``decode`` every truncation of ``data`` (each must raise ``truncation``) and ``data``
    with each byte flipped (xor ``flip``: an NnzError, or an output ``intact`` accepts; no other
    exception). Returns the share of flips detected."""
    for cut in range(len(data)):
        try:
            decode(data[:cut])
        except truncation:
            continue
        raise AssertionError(f"truncation to {cut} of {len(data)} bytes was not refused")
    detected = 0
    for i in range(len(data)):
        damaged = bytearray(data)
        damaged[i] ^= flip
        try:
            out = decode(bytes(damaged))
        except NnzError:
            detected += 1
            continue
        assert intact(out), f"byte {i} flipped: silent corruption"
    return detected / max(len(data), 1)


def file_decoder(path: Path) -> Callable[[bytes], dict[str, np.ndarray]]:
    """A ``decode`` for check_corruption: the bytes as a .nnz file at ``path``, every tensor read."""
    def decode(data: bytes) -> dict[str, np.ndarray]:
        path.write_bytes(data)
        with nncodec.load(path) as f:
            return f.read_all()
    return decode


def payload_decoder(encoded, like: np.ndarray) -> Callable[[bytes], np.ndarray]:
    """A ``decode`` for check_corruption: the bytes as the payload of ``encoded``."""
    class Damaged:
        codec, params = encoded.codec, encoded.params

        def __init__(self, payload: bytes):
            self.payload = payload

    return lambda payload: decode_encoded(Damaged(payload), like)


def check_deterministic(encode: Callable[[int], Any], threads: Iterable[int] = (1, 2, 4)) -> None:
    """``encode(threads)`` gives the same codec id, parameters and payload for every thread count."""
    coded = [encode(t) for t in threads]
    first = (coded[0].codec, coded[0].params, coded[0].payload)
    for t, other in zip(threads, coded):
        assert (other.codec, other.params, other.payload) == first, f"{first[0]}: other bytes with {t} threads"


POSITIONS_MODES = {0: "bitmap", 1: "gaps", 2: "runs"}  # docs/FORMAT.md, section 11


def stored_codecs(path: Path) -> dict[str, str]:
    """Tensor name -> its codec id; for the sparse layer with its inner codec and positions mode
    ("sparse(eb, gaps)": the mode byte follows the payload's two u64 counts)."""
    data = path.read_bytes()
    out = {}
    for t in _core.Reader(str(path)).tensors():
        if t["codec"] == "sparse":
            inner = t["params"][1:1 + t["params"][0]].decode()
            out[t["name"]] = f"sparse({inner}, {POSITIONS_MODES[data[t['offset'] + 16]]})"
        else:
            out[t["name"]] = t["codec"]
    return out


def golden_arrays(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a golden .npz (bfloat16 is stored as its uint16 bits: compare bytes)."""
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


def check_golden(folder: Path, name: str, manifest: Mapping[str, Any] | None = None, base=None) -> dict[str, np.ndarray]:
    """``folder/name.nnz`` (decoded with ``base``, for delta files) decodes to ``folder/name.npz``
    byte for byte and its tensors carry the codecs the manifest (``folder/manifest.json`` by
    default) lists; returns the decoded arrays."""
    manifest = manifest if manifest is not None else json.loads((folder / "manifest.json").read_text())
    expected = golden_arrays(folder / f"{name}.npz")
    with nncodec.load(folder / f"{name}.nnz", base=base) as f:
        f.verify()
        decoded = f.read_all()
    assert sorted(decoded) == sorted(expected)
    for tensor, array in decoded.items():
        assert array.shape == expected[tensor].shape and array.tobytes() == expected[tensor].tobytes(), tensor
    assert stored_codecs(folder / f"{name}.nnz") == manifest[name]["codecs"]
    return decoded


def staging_left_by(folder: Path, stale: str, fresh: str, age_s: float = 2 * 86400) -> tuple[Path, Path]:
    """Two staging folders in ``folder`` as killed runs leave them: ``stale`` (``age_s`` old, to be
    removed by the next run) and ``fresh`` (a run still going, to be kept)."""
    import os
    import time

    paths = folder / stale, folder / fresh
    for p in paths:
        p.mkdir()
        (p / "partial").write_bytes(b"partial")
    os.utime(paths[0], (time.time() - age_s, time.time() - age_s))
    return paths
