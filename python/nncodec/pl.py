"""The ``pl`` codec (piecewise linearization) from Python: its settings and what its files say.

Settings (``EncodeOptions.params`` / ``nncodec encode --codec pl``):

``p``          the error bound of every weight: a number (absolute, ``1e-4``) or a multiple of
               the tensor's standard deviation (``"0.0002std"``). Default ``DEFAULT_P``.
``pm``         minimum number of weights on a line (default 1).
``pd``         exact positions only: lines whose slopes differ by at most this fraction share
               one slope (default 0.05). Quantized positions put every line on the same slope.
``positions``  ``"quantized"`` (default: each position only as precise as p requires) or
               ``"exact"`` (the thesis reading: a weight's rank on its line).
``block``      weights fitted together: a number, or ``"row"`` (default for exact positions).

See docs/piecewise-linearization.md.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _core
from .errors import NnzError

CODEC = "pl"
DEFAULT_P = "0.0002std"
DEFAULT_PM = 1
DEFAULT_PD = 0.05
DEFAULT_BLOCK = 1 << 16
MAX_BLOCK = 1 << 24
# Tensors PL may touch: float32, at least a matrix, at least this many weights. Everything else
# (biases, norm scales, scalars, integer and 16-bit tensors) goes lossless.
MIN_ELEMS = 1024
_KEYS = {"p", "pm", "pd", "positions", "block"}


@dataclass(frozen=True)
class PlSettings:
    p: float                # the bound, or the multiple of the std when relative
    relative: bool          # p is a multiple of the tensor's standard deviation
    pm: int = DEFAULT_PM
    pd: float = DEFAULT_PD
    exact_positions: bool = False
    block: int | None = DEFAULT_BLOCK  # None: one row

    def label(self) -> str:
        p = f"{self.p:g}std" if self.relative else f"{self.p:g}"
        return f"p={p} pm={self.pm}" + (f" pd={self.pd:g} exact positions" if self.exact_positions else "")


def parse_p(value: str | float) -> tuple[float, bool]:
    """``"0.02std"`` -> (0.02, True); ``"1e-4"`` or ``1e-4`` -> (1e-4, False)."""
    text = str(value).strip().lower()
    relative = text.endswith("std")
    number = text[:-3].rstrip("*x ") if relative else text
    try:
        p = float(number)
    except ValueError:
        raise NnzError(f"p must be a number or a multiple of the std like 0.02std, not {value!r}") from None
    if not math.isfinite(p) or p < 0:
        raise NnzError(f"p must be a finite number >= 0, not {value!r}")
    return p, relative


def settings(params: Mapping[str, Any]) -> PlSettings:
    """Validated settings from ``EncodeOptions.params``."""
    unknown = set(params) - _KEYS
    if unknown:
        raise NnzError(f"unknown pl setting(s): {', '.join(sorted(unknown))} (known: {', '.join(sorted(_KEYS))})")
    p, relative = parse_p(params.get("p", DEFAULT_P))
    positions = params.get("positions", "quantized")
    if positions not in ("quantized", "exact"):
        raise NnzError(f"positions must be 'quantized' or 'exact', not {positions!r}")
    exact = positions == "exact"
    block = params.get("block", "row" if exact else DEFAULT_BLOCK)
    if block != "row":
        try:
            block = int(block)
        except (TypeError, ValueError):
            raise NnzError(f"block must be a number of weights or 'row', not {block!r}") from None
        if not 1 <= block <= MAX_BLOCK:
            raise NnzError("block must be between 1 and 2^24 weights")
    try:
        pm, pd = int(params.get("pm", DEFAULT_PM)), float(params.get("pd", DEFAULT_PD))
    except (TypeError, ValueError):
        raise NnzError("pm must be an integer and pd a number") from None
    if pm < 1 or pm > 1 << 31:
        raise NnzError("pm must be at least 1")
    if not math.isfinite(pd) or pd < 0:
        raise NnzError("pd must be a finite number >= 0")
    return PlSettings(p, relative, pm, pd, exact, None if block == "row" else block)


def applies(array: np.ndarray) -> bool:
    """Whether PL may code this tensor (else the plan keeps it lossless)."""
    return array.dtype == np.float32 and array.ndim >= 2 and array.size >= MIN_ELEMS


def absolute_p(array: np.ndarray, s: PlSettings) -> float:
    """The bound for this tensor: p itself, or p times the std of its finite values."""
    if not s.relative:
        return s.p
    values = array.reshape(-1)
    finite = values[np.isfinite(values)]
    return s.p * float(np.std(finite, dtype=np.float64)) if finite.size else 0.0


def block_elems(array: np.ndarray, s: PlSettings) -> int:
    if s.block is not None:
        return s.block
    row = array.size // array.shape[0] if array.ndim and array.shape[0] else array.size
    return min(max(row, 1), MAX_BLOCK)


def encode(array: np.ndarray, data: np.ndarray, s: PlSettings, threads: int = 1):
    """Code one float32 tensor; returns (EncodedTensor, stats dict with the byte breakdown)."""
    p = absolute_p(array, s)
    return _core.encode_pl(data, "float32", p, s.pm, s.pd, s.exact_positions, block_elems(array, s), threads)


def describe(params: bytes) -> dict[str, Any]:
    """What a pl tensor's parameters record: the bound p and the largest error measured."""
    if len(params) != 22:
        return {}
    _, flags, block, p, max_error = struct.unpack("<BBIdd", params)
    return {"error_bound": p, "max_error": max_error, "block": block,
            "positions": "exact" if flags & 1 else "quantized"}
