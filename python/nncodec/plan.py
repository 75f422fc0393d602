"""Per-tensor coding plan: which codec each tensor gets, with which parameters.

A codec is registered here by name with an encoder function; ``encode_array`` applies the plan
to one tensor. Lossy codecs only ever see tensors the plan allows them to touch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _core
from . import pl as _pl
from .dtypes import dtype_name, element_bytes
from .errors import NnzError


@dataclass(frozen=True)
class EncodeOptions:
    """What the user asked for.

    codec:  the codec for every tensor it applies to ("lossless", "raw", ...).
    params: codec-specific parameters (see each codec's documentation).
    """

    codec: str = "lossless"
    params: Mapping[str, Any] = field(default_factory=dict)
    chunk_elems: int = 1 << 18
    threads: int = 1

    def __post_init__(self) -> None:
        if self.codec not in _ENCODERS:
            raise NnzError(f"unknown codec {self.codec!r} (choose from {', '.join(codec_names())})")
        if not 1 <= self.chunk_elems <= 1 << 28:
            raise NnzError("chunk size must be between 1 and 2^28 elements")
        if self.codec in _SETTINGS:
            _SETTINGS[self.codec](self.params)


# An encoder gets the tensor, its .nnz dtype name, its bytes (flat uint8 view) and the options.
Encoder = Callable[[np.ndarray, str, np.ndarray, EncodeOptions], "_core.EncodedTensor"]


def _encode_raw(array: np.ndarray, dtype: str, data: np.ndarray, options: EncodeOptions) -> _core.EncodedTensor:
    return _core.encode_raw(data, dtype)


def _encode_lossless(array: np.ndarray, dtype: str, data: np.ndarray, options: EncodeOptions) -> _core.EncodedTensor:
    return _core.encode_lossless(data, dtype, options.chunk_elems, options.threads)


def _encode_pl(array: np.ndarray, dtype: str, data: np.ndarray, options: EncodeOptions) -> _core.EncodedTensor:
    coded, _ = _pl.encode(array, data, _pl.settings(options.params), options.threads)
    # Where p is below what PL can use (say, below the float32 resolution), exact coding is smaller.
    lossless = _encode_lossless(array, dtype, data, options)
    return lossless if lossless.coded_bytes + len(lossless.params) <= coded.coded_bytes + len(coded.params) else coded


_ENCODERS: dict[str, Encoder] = {"lossless": _encode_lossless, "raw": _encode_raw, "pl": _encode_pl}
# Lossy codecs: which tensors each may touch (all others are coded lossless), how its settings
# are validated, and what its stored parameters say (error bound, measured maximum error).
_LOSSY_APPLIES: dict[str, Callable[[np.ndarray], bool]] = {"pl": _pl.applies}
_SETTINGS: dict[str, Callable[[Mapping[str, Any]], Any]] = {"pl": _pl.settings}
_DESCRIBE: dict[str, Callable[[bytes], dict[str, Any]]] = {"pl": _pl.describe}


def register_codec(name: str, encoder: Encoder) -> None:
    _ENCODERS[name] = encoder


def codec_names() -> list[str]:
    return list(_ENCODERS)


def plan_codec(name: str, array: np.ndarray, options: EncodeOptions) -> str:
    """The codec tensor ``name`` gets under ``options``."""
    applies = _LOSSY_APPLIES.get(options.codec)
    if applies is not None and not applies(array):
        return "lossless"
    return options.codec


def codec_details(codec: str, params: bytes) -> dict[str, Any]:
    """What a tensor's stored parameters say about its error: ``max_error`` (0 for exact codecs)
    and, for bounded codecs, ``error_bound``. Empty for codecs this nncodec does not know."""
    if codec in ("lossless", "raw"):
        return {"max_error": 0.0}
    describe = _DESCRIBE.get(codec)
    return describe(params) if describe else {}


def encode_array(name: str, array: np.ndarray, options: EncodeOptions) -> _core.EncodedTensor:
    """Code one tensor by the plan; falls back to ``raw`` where coding does not pay (tiny tensors)."""
    dtype = dtype_name(array.dtype)
    if dtype is None:
        raise NnzError(f"tensor {name!r}: unsupported dtype {array.dtype}")
    data = element_bytes(array)
    codec = plan_codec(name, array, options)
    if codec != "raw":
        coded = _ENCODERS[codec](array, dtype, data, options)
        if len(coded.params) + coded.coded_bytes < data.nbytes:
            return coded
    return _encode_raw(array, dtype, data, options)
