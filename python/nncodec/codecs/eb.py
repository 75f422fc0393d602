"""The ``eb`` codec (error-bounded): every weight within a bound E of the original
(docs/error-bounded.md). The bound is absolute (``error``), a multiple of each tensor's standard
deviation (``rel_error``) or given per tensor (``error_by_tensor``, what a fidelity search chooses)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from .. import _core
from ..dtypes import FLOAT_DTYPES, dtype_name, element_bytes
from ..errors import NnzError
from .base import Codec, Settings, check_bound_fields, tensor_bound

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
        check_bound_fields(self, "error", "rel_error", "error_by_tensor", "error", "bound")

    @property
    def has_bound(self) -> bool:
        return self.error is not None or self.rel_error is not None or bool(self.error_by_tensor)


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
        """The absolute bound of this tensor; None where there is none (base.tensor_bound)."""
        error = tensor_bound(name, array, settings.error_by_tensor, settings.error, settings.rel_error)
        return None if error is None else EbSettings(error=error)

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
