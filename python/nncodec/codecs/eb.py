"""The ``eb`` codec (error-bounded): every weight within a bound E of the original
(docs/error-bounded.md). The bound is absolute (``error``), a multiple of each tensor's standard
deviation (``rel_error``) or given per tensor (``error_by_tensor``, what a fidelity search chooses)."""

from __future__ import annotations

import argparse
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _core
from ..dtypes import FLOAT_DTYPES, dtype_name, element_bytes
from ..errors import NnzError
from .base import Codec, Settings, positive_number

if TYPE_CHECKING:
    from .coding import EncodeOptions


@dataclass(frozen=True)
class EbSettings(Settings):
    """``error``: the bound E of every weight; ``rel_error``: E = K x the tensor's standard
    deviation; ``error_by_tensor``: E per tensor name, before either. Numbers given as text are
    converted; every bound must be finite and > 0."""

    error: float | None = None
    rel_error: float | None = None
    error_by_tensor: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.error is not None and self.rel_error is not None:
            raise NnzError("give either an absolute error or a relative one, not both")
        for name in ("error", "rel_error"):
            if getattr(self, name) is not None:
                object.__setattr__(self, name, positive_number(getattr(self, name), name.replace("_", "-")))
        if not isinstance(self.error_by_tensor, Mapping):
            raise NnzError("error_by_tensor must map tensor names to bounds")
        object.__setattr__(self, "error_by_tensor", {str(k): positive_number(v, f"the bound of tensor {k!r}")
                                                     for k, v in self.error_by_tensor.items()})

    @property
    def has_bound(self) -> bool:
        return self.error is not None or self.rel_error is not None or bool(self.error_by_tensor)


def _std(array: np.ndarray) -> float:
    values = np.asarray(array, dtype=np.float64)
    return float(values[np.isfinite(values)].std()) if values.size else 0.0


class Eb(Codec):
    id = "eb"
    Settings = EbSettings
    lossy = True
    bounded = True
    summary = "every weight within a bound of the original (see --error)"

    def check_encodable(self, settings: EbSettings) -> None:
        if not settings.has_bound:
            raise NnzError("codec eb needs an error bound: --error E (absolute) or --rel-error K (K x std per tensor)")

    def applies(self, array: np.ndarray) -> bool:
        return dtype_name(array.dtype) in FLOAT_DTYPES

    def for_tensor(self, name: str, array: np.ndarray, settings: EbSettings) -> EbSettings | None:
        """The absolute bound of this tensor; None where there is none (a constant tensor under a
        relative bound: lossless coding is exact and as small)."""
        if name in settings.error_by_tensor:
            error = settings.error_by_tensor[name]
        elif settings.rel_error is not None:
            error = settings.rel_error * _std(array)
        elif settings.error is not None:
            error = settings.error
        else:
            return None
        return EbSettings(error=error) if math.isfinite(error) and error > 0 else None

    def encode(self, array: np.ndarray, settings: EbSettings, options: EncodeOptions) -> _core.EncodedTensor:
        if settings.error is None:
            raise NnzError("eb codes a tensor at an absolute bound (settings from for_tensor)")
        return _core.encode_eb(element_bytes(array), dtype_name(array.dtype), settings.error, options.chunk_elems,
                               options.threads)

    def error_bound(self, settings: EbSettings) -> float | None:
        return settings.error

    def at_bound(self, bound: float) -> EbSettings:
        return EbSettings(error=bound)

    def with_bounds(self, settings: EbSettings, bounds: Mapping[str, float]) -> EbSettings:
        return EbSettings(error_by_tensor=dict(bounds))

    def add_cli_args(self, parser: argparse.ArgumentParser) -> None:
        g = parser.add_argument_group("eb (error-bounded) settings, see docs/error-bounded.md")
        g.add_argument("--error", type=float, default=None, metavar="E",
                       help="maximum absolute error of every weight (implies --codec eb)")
        g.add_argument("--rel-error", type=float, default=None, metavar="K",
                       help="maximum error K x the tensor's standard deviation, per tensor (implies --codec eb)")

    def params_from_args(self, args: argparse.Namespace) -> dict[str, Any]:
        return {key: getattr(args, key) for key in ("error", "rel_error") if getattr(args, key, None) is not None}


CODEC = Eb()
