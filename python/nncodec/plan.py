"""Per-tensor coding plan: which codec each tensor gets, with which parameters.

A codec is registered here by name with an encoder function; ``encode_array`` applies the plan
to one tensor. Lossy codecs only ever see tensors the plan allows them to touch.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from . import _core
from .dtypes import FLOAT_DTYPES, dtype_name, element_bytes
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


# An encoder gets the tensor, its .nnz dtype name, its bytes (flat uint8 view) and the options.
Encoder = Callable[[np.ndarray, str, np.ndarray, EncodeOptions], "_core.EncodedTensor"]


def _encode_raw(array: np.ndarray, dtype: str, data: np.ndarray, options: EncodeOptions) -> _core.EncodedTensor:
    return _core.encode_raw(data, dtype)


def _encode_lossless(array: np.ndarray, dtype: str, data: np.ndarray, options: EncodeOptions) -> _core.EncodedTensor:
    return _core.encode_lossless(data, dtype, options.chunk_elems, options.threads)


def _encode_eb(array: np.ndarray, dtype: str, data: np.ndarray, options: EncodeOptions) -> _core.EncodedTensor:
    return _core.encode_eb(data, dtype, float(options.params["error"]), options.chunk_elems, options.threads)


_ENCODERS: dict[str, Encoder] = {"lossless": _encode_lossless, "raw": _encode_raw, "eb": _encode_eb}
# Codecs that change values: they only get the tensors the protection rule allows (plan_codec).
_LOSSY: set[str] = {"eb"}


def register_codec(name: str, encoder: Encoder, *, lossy: bool = False) -> None:
    _ENCODERS[name] = encoder
    if lossy:
        _LOSSY.add(name)


def codec_names() -> list[str]:
    return list(_ENCODERS)


def is_lossy(codec: str) -> bool:
    return codec in _LOSSY


# Name parts of biases and normalisation parameters (after splitting the name at non-letters and
# case changes): "conv1.bias", "encoder.LayerNorm.weight", "bn1.running_var", "ln_f.weight", ...
_PROTECTED_WORDS = re.compile(r"^(bias(es)?|bn\d*|ln\d*|gn\d*|norm\w*|\w*norm|running|mean|var|num|batches|tracked|"
                              r"gamma|beta)$", re.IGNORECASE)
DEFAULT_MIN_LOSSY_ELEMS = 1024


def _name_words(name: str) -> list[str]:
    return [w for w in re.split(r"[^A-Za-z0-9]+|(?<=[a-z])(?=[A-Z])", name) if w]


def lossy_allowed(name: str, array: np.ndarray, options: EncodeOptions) -> bool:
    """Whether a lossy codec may touch tensor ``name`` (the protection rule).

    By default a tensor stays lossless unless all of these hold:
      - its dtype is a float type (integer and bool tensors are indices, shapes, quantized data);
      - it has at least 2 dimensions and ``min_lossy_elems`` elements (default 1024): vectors are
        biases and normalisation parameters, small tensors save nothing worth their error;
      - no part of its name says bias or normalisation (bias, bn1, ln_f, LayerNorm, running_var,
        gamma, beta, ...).
    Overrides, in ``options.params``: ``keep`` (glob patterns: always lossless), ``lossy`` (glob
    patterns: lossy whenever the dtype is a float), ``min_lossy_elems`` (int) and ``protect``
    (False: every float tensor not matched by ``keep`` is lossy).
    """
    if dtype_name(array.dtype) not in FLOAT_DTYPES:
        return False
    params = options.params
    if any(fnmatch.fnmatchcase(name, p) for p in params.get("keep", ())):
        return False
    if any(fnmatch.fnmatchcase(name, p) for p in params.get("lossy", ())) or not params.get("protect", True):
        return True
    if array.ndim < 2 or array.size < int(params.get("min_lossy_elems", DEFAULT_MIN_LOSSY_ELEMS)):
        return False
    return not any(_PROTECTED_WORDS.match(w) for w in _name_words(name))


def plan_codec(name: str, array: np.ndarray, options: EncodeOptions) -> str:
    """The codec tensor ``name`` gets under ``options``: the requested codec, except that a lossy
    codec leaves protected tensors (see ``lossy_allowed``) to ``lossless``."""
    if is_lossy(options.codec) and not lossy_allowed(name, array, options):
        return "lossless"
    return options.codec


def check_params(codec: str, params: Mapping[str, Any]) -> None:
    """Fails early (before any file is touched) on parameters a codec cannot work with."""
    if not is_lossy(codec) and any(k in params for k in ("error", "rel_error", "error_by_tensor")):
        raise NnzError(f"an error bound applies to lossy codecs (eb), not to {codec!r}")
    if codec == "eb" and not any(k in params for k in ("error", "rel_error", "error_by_tensor")):
        raise NnzError("codec eb needs an error bound: --error E (absolute) or --rel-error K (K x std per tensor)")
    for key in ("error", "rel_error"):
        if key in params and not (np.isfinite(params[key]) and params[key] > 0):
            raise NnzError(f"{key.replace('_', '-')} must be a finite number > 0")
    if params.get("sparse", "auto") not in ("auto", "off"):
        raise NnzError("sparse must be 'auto' or 'off'")


def _tensor_options(name: str, array: np.ndarray, options: EncodeOptions) -> EncodeOptions | None:
    """Options with this tensor's absolute error bound resolved (eb: ``error_by_tensor`` first, then
    ``rel_error`` x the tensor's std, then ``error``); None if no bound can be had (a constant tensor
    under a relative bound: it is coded losslessly, which is exact and as small)."""
    params = options.params
    by_tensor = params.get("error_by_tensor") or {}
    if name in by_tensor:
        error = float(by_tensor[name])
    elif "rel_error" in params:
        values = np.asarray(array, dtype=np.float64)
        std = float(values[np.isfinite(values)].std()) if values.size else 0.0
        error = float(params["rel_error"]) * std
    elif "error" in params:
        error = float(params["error"])
    else:
        return None
    if not (np.isfinite(error) and error > 0):
        return None
    return replace(options, params={**params, "error": error})


def _sparse_worth_trying(data: np.ndarray, esize: int, options: EncodeOptions) -> bool:
    if options.params.get("sparse", "auto") == "off" or not 64 <= data.size // esize < 1 << 32:
        return False
    nonzero = np.count_nonzero(data.reshape(-1, esize).any(axis=1))
    return nonzero <= 0.75 * (data.size // esize)


def encode_sparse_layer(array: np.ndarray, codec: str, dtype: str, data: np.ndarray,
                   options: EncodeOptions) -> _core.EncodedTensor:
    """The sparse layer over any codec: positions of the non-zeros + the non-zeros coded by it."""
    values = _core.sparse_values(data, dtype)
    value_array = values.view(array.dtype)
    inner = _ENCODERS[codec](value_array, dtype, values, options)
    return _core.encode_sparse(data, dtype, inner)


def encode_array(name: str, array: np.ndarray, options: EncodeOptions) -> _core.EncodedTensor:
    """Code one tensor by the plan; falls back to ``raw`` where coding does not pay (tiny tensors)."""
    dtype = dtype_name(array.dtype)
    if dtype is None:
        raise NnzError(f"tensor {name!r}: unsupported dtype {array.dtype}")
    data = element_bytes(array)
    codec = plan_codec(name, array, options)
    if is_lossy(codec):
        tensor_options = _tensor_options(name, array, options)
        codec, options = ("lossless", options) if tensor_options is None else (codec, tensor_options)
    if codec != "raw":
        coded = _ENCODERS[codec](array, dtype, data, options)
        if _sparse_worth_trying(data, array.dtype.itemsize, options):
            sparse = encode_sparse_layer(array, codec, dtype, data, options)
            if len(sparse.params) + sparse.coded_bytes < len(coded.params) + coded.coded_bytes:
                coded = sparse
        if len(coded.params) + coded.coded_bytes < data.nbytes:
            return coded
    return _encode_raw(array, dtype, data, options)
