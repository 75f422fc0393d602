"""The ``pl`` codec (piecewise linearization): every weight within p, on lines fitted to the
sorted weights (docs/piecewise-linearization.md).

Settings (``encode_file(..., codec="pl", params=...)`` / ``nncodec encode --codec pl``):

``p``          the error bound of every weight: a number (absolute, ``1e-4``) or a multiple of
               the tensor's standard deviation (``"0.0002std"``). Default ``DEFAULT_P``.
``pm``         minimum number of weights on a line (default 1).
``pd``         exact positions only: lines whose slopes differ by at most this fraction share
               one slope (default 0.05). Quantized positions put every line on the same slope.
``positions``  ``"quantized"`` (default: each position only as precise as p requires) or
               ``"exact"`` (the thesis reading: a weight's rank on its line).
``block``      weights fitted together: a number, or ``"row"`` (default for exact positions).

PL codes float32 tensors; which of them are lossy is the plan's rule (nncodec.plan), as for
every lossy codec.
"""

from __future__ import annotations

import argparse
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _core
from ..dtypes import element_bytes
from ..errors import NnzError
from .base import Codec, Settings, check_known_keys
from .lossless import CODEC as LOSSLESS

if TYPE_CHECKING:
    from .coding import EncodeOptions

DEFAULT_P = "0.0002std"
DEFAULT_PM = 1
DEFAULT_PD = 0.05
DEFAULT_BLOCK = 1 << 16
MAX_BLOCK = 1 << 24
POSITIONS = ("quantized", "exact")


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


@dataclass(frozen=True)
class PlSettings(Settings):
    """``p`` is the bound, or the multiple of the std when ``relative``; ``block`` None: one row."""

    p: float
    relative: bool
    pm: int = DEFAULT_PM
    pd: float = DEFAULT_PD
    positions: str = "quantized"
    block: int | None = DEFAULT_BLOCK

    def __post_init__(self) -> None:
        if isinstance(self.p, bool) or not isinstance(self.p, (int, float)) or not math.isfinite(self.p) or self.p < 0:
            raise NnzError(f"p must be a finite number >= 0, not {self.p!r}")
        if type(self.relative) is not bool:
            raise NnzError("relative must be true or false")
        if type(self.pm) is not int or not 1 <= self.pm <= 1 << 31:
            raise NnzError("pm must be an integer of at least 1")
        if isinstance(self.pd, bool) or not isinstance(self.pd, (int, float)) or not math.isfinite(self.pd) or self.pd < 0:
            raise NnzError("pd must be a finite number >= 0")
        if self.positions not in POSITIONS:
            raise NnzError(f"positions must be 'quantized' or 'exact', not {self.positions!r}")
        if self.block is not None and (type(self.block) is not int or not 1 <= self.block <= MAX_BLOCK):
            raise NnzError("block must be between 1 and 2^24 weights")

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> PlSettings:
        """From the API's parameters (``p`` a number or ``"0.02std"``, ``block`` a number or
        ``"row"``) or from meta.json's (``p`` a number with ``relative``, ``block`` null: a row)."""
        check_known_keys(cls, params, "pl")
        if "relative" in params:
            p, relative = params["p"], params["relative"]
        else:
            p, relative = parse_p(params.get("p", DEFAULT_P))
        positions = params.get("positions", "quantized")
        block = params.get("block", "row" if positions == "exact" else DEFAULT_BLOCK)
        if block not in ("row", None):
            try:
                block = int(block)
            except (TypeError, ValueError):
                raise NnzError(f"block must be a number of weights or 'row', not {block!r}") from None
        try:
            pm, pd = int(params.get("pm", DEFAULT_PM)), float(params.get("pd", DEFAULT_PD))
        except (TypeError, ValueError):
            raise NnzError("pm must be an integer and pd a number") from None
        return cls(p, relative, pm, pd, positions, None if block == "row" else block)

    @property
    def exact_positions(self) -> bool:
        return self.positions == "exact"

    def label(self) -> str:
        p = f"{self.p:g}std" if self.relative else f"{self.p:g}"
        return f"p={p} pm={self.pm}" + (f" pd={self.pd:g} exact positions" if self.exact_positions else "")


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


def fit(array: np.ndarray, s: PlSettings, threads: int = 1) -> tuple[_core.EncodedTensor, dict[str, Any]]:
    """PL's coding of one float32 tensor, and the byte breakdown of its payload."""
    return _core.encode_pl(element_bytes(array), "float32", absolute_p(array, s), s.pm, s.pd, s.exact_positions,
                           block_elems(array, s), threads)


class Pl(Codec):
    id = "pl"
    Settings = PlSettings
    lossy = True
    summary = "piecewise linearization, every weight within p"

    def settings(self, params: Mapping[str, Any] | None = None) -> PlSettings:
        return PlSettings.from_params(params or {})

    def applies(self, array: np.ndarray) -> bool:
        return array.dtype == np.float32

    def for_tensor(self, name: str, array: np.ndarray, settings: PlSettings) -> PlSettings:
        """A relative p resolved against this whole tensor (so that the sparse layer's inner coding
        of the non-zeros keeps the tensor's bound)."""
        return replace(settings, p=absolute_p(array, settings), relative=False) if settings.relative else settings

    def encode(self, array: np.ndarray, settings: PlSettings, options: EncodeOptions) -> _core.EncodedTensor:
        coded, _ = fit(array, settings, options.threads)
        # Where p is below what PL can use (say, below the float32 resolution), exact coding is smaller.
        lossless = LOSSLESS.encode(array, LOSSLESS.Settings(), options)
        return lossless if lossless.coded_bytes + len(lossless.params) <= coded.coded_bytes + len(coded.params) else coded

    def describe(self, params: bytes) -> dict[str, Any]:
        """The bound p and the largest error measured, with the block size and positions mode."""
        described = super().describe(params)
        if described:
            _, flags, block, _, _ = struct.unpack("<BBIdd", params)
            described.update(block=block, positions="exact" if flags & 1 else "quantized")
        return described

    def add_cli_args(self, parser: argparse.ArgumentParser) -> None:
        g = parser.add_argument_group("pl (piecewise linearization) settings")
        g.add_argument("--p", default=None, metavar="P",
                       help=f"error bound of every weight: absolute (1e-4) or relative to each tensor's std "
                            f"(0.02std); default {DEFAULT_P}")
        g.add_argument("--pm", type=int, default=None, help=f"minimum weights on a line (default {DEFAULT_PM})")
        g.add_argument("--pd", type=float, default=None,
                       help=f"exact positions: relative slope difference of parallel lines (default {DEFAULT_PD})")
        g.add_argument("--positions", choices=POSITIONS, default=None,
                       help="quantized: as precise as p requires (default); exact: rank on the line (the thesis)")
        g.add_argument("--pl-block", default=None, metavar="N|row",
                       help=f"weights fitted together (default {DEFAULT_BLOCK}; 'row' for exact positions)")

    def params_from_args(self, args: argparse.Namespace) -> dict[str, Any]:
        names = {"p": "p", "pm": "pm", "pd": "pd", "positions": "positions", "pl_block": "block"}
        return {key: getattr(args, attr) for attr, key in names.items() if getattr(args, attr, None) is not None}


CODEC = Pl()
