"""The ``dq`` codec: every lossy tensor's RMSE within a bound, with dependent (trellis-coded)
quantization as in the NNC standard (docs/error-bounded.md, "RMSE-bounded coding"). The bound is
absolute (``rmse``), a multiple of each tensor's standard deviation (``rel_rmse``) or given per
tensor (``rmse_by_tensor``). There is no bound on single weights: use ``eb`` for that."""

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
class DqSettings(Settings):
    """``rmse``: the bound R of every tensor's RMSE; ``rel_rmse``: R = K x the tensor's standard
    deviation; ``rmse_by_tensor``: R per tensor name, before either. Every bound must be finite
    and > 0."""

    rmse: float | None = None
    rel_rmse: float | None = None
    rmse_by_tensor: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check_bound_fields(self, "rmse", "rel_rmse", "rmse_by_tensor", "RMSE bound", "RMSE bound")

    @property
    def has_bound(self) -> bool:
        return self.rmse is not None or self.rel_rmse is not None or bool(self.rmse_by_tensor)


class Dq(Codec):
    id = "dq"
    Settings = DqSettings
    lossy = True
    bounded = True
    summary = "every tensor's RMSE within a bound, trellis-coded (see --rmse)"

    def check_encodable(self, settings: DqSettings) -> None:
        if not settings.has_bound:
            raise NnzError("codec dq needs an RMSE bound: --rmse R (absolute) or --rel-rmse K (K x std per tensor)")

    def applies(self, array: np.ndarray) -> bool:
        return dtype_name(array.dtype) in FLOAT_DTYPES

    def for_tensor(self, name: str, array: np.ndarray, settings: DqSettings) -> DqSettings | None:
        """The absolute bound of this tensor; None where there is none (base.tensor_bound)."""
        rmse = tensor_bound(name, array, settings.rmse_by_tensor, settings.rmse, settings.rel_rmse)
        return None if rmse is None else DqSettings(rmse=rmse)

    def encode(self, array: np.ndarray, settings: DqSettings, options: EncodeOptions) -> _core.EncodedTensor:
        if settings.rmse is None:
            raise NnzError("dq codes a tensor at an absolute bound (settings from for_tensor)")
        return _core.encode_dq(element_bytes(array), dtype_name(array.dtype), settings.rmse, options.chunk_elems,
                               options.threads)

    def with_bounds(self, settings: DqSettings, bounds: Mapping[str, float]) -> DqSettings:
        return DqSettings(rmse_by_tensor=dict(bounds))

    def add_cli_args(self, parser: argparse.ArgumentParser) -> None:
        g = parser.add_argument_group("dq (RMSE-bounded, trellis-coded) settings, see docs/error-bounded.md")
        g.add_argument("--rmse", type=float, default=None, metavar="R",
                       help="RMSE bound of every lossy tensor (implies --codec dq)")
        g.add_argument("--rel-rmse", type=float, default=None, metavar="K",
                       help="RMSE bound K x the tensor's standard deviation, per tensor (implies --codec dq)")

    def params_from_args(self, args: argparse.Namespace) -> dict[str, Any]:
        return {key: getattr(args, key) for key in ("rmse", "rel_rmse") if getattr(args, key, None) is not None}


CODEC = Dq()
