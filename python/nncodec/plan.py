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
from . import pl as _pl
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
        if self.codec in _SETTINGS:
            _SETTINGS[self.codec](codec_settings(self.params))


# An encoder gets the tensor, its .nnz dtype name, its bytes (flat uint8 view) and the options.
Encoder = Callable[[np.ndarray, str, np.ndarray, EncodeOptions], "_core.EncodedTensor"]


def _encode_raw(array: np.ndarray, dtype: str, data: np.ndarray, options: EncodeOptions) -> _core.EncodedTensor:
    return _core.encode_raw(data, dtype)


def _encode_lossless(array: np.ndarray, dtype: str, data: np.ndarray, options: EncodeOptions) -> _core.EncodedTensor:
    return _core.encode_lossless(data, dtype, options.chunk_elems, options.threads)


# Settings of the plan itself (which tensors a lossy codec may touch, the sparse layer): they
# apply to every codec and are not passed to a codec's own settings validator.
PLAN_KEYS = frozenset({"keep", "lossy", "protect", "min_lossy_elems", "sparse"})


def codec_settings(params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` without the plan's own keys: what the codec itself is configured with."""
    return {k: v for k, v in params.items() if k not in PLAN_KEYS}


def _encode_pl(array: np.ndarray, dtype: str, data: np.ndarray, options: EncodeOptions) -> _core.EncodedTensor:
    coded, _ = _pl.encode(array, data, _pl.settings(codec_settings(options.params)), options.threads)
    # Where p is below what PL can use (say, below the float32 resolution), exact coding is smaller.
    lossless = _encode_lossless(array, dtype, data, options)
    return lossless if lossless.coded_bytes + len(lossless.params) <= coded.coded_bytes + len(coded.params) else coded


def _encode_eb(array: np.ndarray, dtype: str, data: np.ndarray, options: EncodeOptions) -> _core.EncodedTensor:
    return _core.encode_eb(data, dtype, float(options.params["error"]), options.chunk_elems, options.threads)


_EB_KEYS = frozenset({"error", "rel_error", "error_by_tensor"})


def _eb_settings(params: Mapping[str, Any]) -> None:
    """Validates eb settings (a bound is required by check_params: fidelity targets add it later)."""
    unknown = set(params) - _EB_KEYS
    if unknown:
        raise NnzError(f"unknown eb setting(s): {', '.join(sorted(unknown))} (known: {', '.join(sorted(_EB_KEYS))})")
    if "error" in params and "rel_error" in params:
        raise NnzError("give either an absolute error or a relative one, not both")
    for key in ("error", "rel_error"):
        if key in params:
            try:
                value = float(params[key])
            except (TypeError, ValueError):
                raise NnzError(f"{key.replace('_', '-')} must be a number") from None
            if not (np.isfinite(value) and value > 0):
                raise NnzError(f"{key.replace('_', '-')} must be a finite number > 0")


def _eb_describe(params: bytes) -> dict[str, Any]:
    """What an eb tensor's parameters record: its bound E (every weight within E)."""
    if len(params) != 12:
        return {}
    bound = float(np.frombuffer(params[:8], "<f8")[0])
    return {"error_bound": bound, "max_error": bound}


def _sparse_describe(params: bytes) -> dict[str, Any]:
    """A sparse tensor is as exact as its inner codec: that codec's description."""
    if len(params) < 5 or len(params) < 1 + params[0] + 4:
        return {}
    inner, rest = params[1:1 + params[0]].decode("ascii", "replace"), params[1 + params[0]:]
    return codec_details(inner, rest[4:]) if int.from_bytes(rest[:4], "little") == len(rest) - 4 else {}


_ENCODERS: dict[str, Encoder] = {"lossless": _encode_lossless, "raw": _encode_raw, "pl": _encode_pl,
                                 "eb": _encode_eb}
# Lossy codecs: which tensors each may touch (all others are coded lossless; the protection rule,
# lossy_allowed, applies on top), how its settings are validated, and what its stored parameters
# say (error bound, measured maximum error).
_LOSSY_APPLIES: dict[str, Callable[[np.ndarray], bool]] = {
    "pl": _pl.applies, "eb": lambda array: dtype_name(array.dtype) in FLOAT_DTYPES}
_SETTINGS: dict[str, Callable[[Mapping[str, Any]], Any]] = {"pl": _pl.settings, "eb": _eb_settings}
_DESCRIBE: dict[str, Callable[[bytes], dict[str, Any]]] = {"pl": _pl.describe, "eb": _eb_describe,
                                                          "sparse": _sparse_describe}


def register_codec(name: str, encoder: Encoder, *, applies: Callable[[np.ndarray], bool] | None = None) -> None:
    """Adds a codec; ``applies`` makes it lossy: it gets only the tensors it applies to and the
    protection rule allows."""
    _ENCODERS[name] = encoder
    if applies is not None:
        _LOSSY_APPLIES[name] = applies


def codec_names() -> list[str]:
    return list(_ENCODERS)


def is_lossy(codec: str) -> bool:
    return codec in _LOSSY_APPLIES


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
    codec leaves to ``lossless`` the tensors it does not apply to and the protected ones (see
    ``lossy_allowed``)."""
    applies = _LOSSY_APPLIES.get(options.codec)
    if applies is not None and not (applies(array) and lossy_allowed(name, array, options)):
        return "lossless"
    return options.codec


def check_params(codec: str, params: Mapping[str, Any]) -> None:
    """Fails early (before any file is touched) on parameters a codec cannot work with."""
    if codec != "eb" and any(k in params for k in _EB_KEYS):
        raise NnzError(f"an error bound (--error, --rel-error) applies to codec eb, not to {codec!r}")
    if codec == "eb" and not any(k in params for k in ("error", "rel_error", "error_by_tensor")):
        raise NnzError("codec eb needs an error bound: --error E (absolute) or --rel-error K (K x std per tensor)")
    for key in ("error", "rel_error"):
        if key in params and not (np.isfinite(params[key]) and params[key] > 0):
            raise NnzError(f"{key.replace('_', '-')} must be a finite number > 0")
    if params.get("sparse", "auto") not in ("auto", "off"):
        raise NnzError("sparse must be 'auto' or 'off'")
    min_size = params.get("min_lossy_elems", 0)
    if type(min_size) is not int or min_size < 0:
        raise NnzError(f"min-lossy-size must be a whole number >= 0, not {min_size!r}")


def _eb_tensor_options(name: str, array: np.ndarray, options: EncodeOptions) -> EncodeOptions | None:
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
    resolved = {k: v for k, v in params.items() if k not in ("rel_error", "error_by_tensor")}
    return replace(options, params={**resolved, "error": error})


def _pl_tensor_options(name: str, array: np.ndarray, options: EncodeOptions) -> EncodeOptions | None:
    """Options with a relative p resolved against this whole tensor (so that the sparse layer's
    inner coding of the non-zeros keeps the tensor's bound)."""
    settings = _pl.settings(codec_settings(options.params))
    if not settings.relative:
        return options
    return replace(options, params={**options.params, "p": repr(_pl.absolute_p(array, settings))})


# Per-tensor resolution of a lossy codec's settings, before the codec (or the sparse layer) runs.
_TENSOR_OPTIONS: dict[str, Callable[[str, np.ndarray, EncodeOptions], EncodeOptions | None]] = {
    "eb": _eb_tensor_options, "pl": _pl_tensor_options}


def _sparse_worth_trying(data: np.ndarray, esize: int, options: EncodeOptions) -> bool:
    if options.params.get("sparse", "auto") == "off" or not 64 <= data.size // esize < 1 << 32:
        return False
    # Elements with any bit set (so -0.0 counts), through an integer view: count_nonzero on it is
    # ~20x faster than any() over rows of esize bytes.
    nonzero = np.count_nonzero(data.view(f"<u{esize}"))
    return nonzero <= 0.75 * (data.size // esize)


def encode_sparse_layer(array: np.ndarray, codec: str, dtype: str, data: np.ndarray,
                        options: EncodeOptions) -> _core.EncodedTensor:
    """The sparse layer over any codec: positions of the non-zeros + the non-zeros coded by it."""
    values = _core.sparse_values(data, dtype)
    value_array = values.view(array.dtype)
    inner = _ENCODERS[codec](value_array, dtype, values, options)
    return _core.encode_sparse(data, dtype, inner)


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
    if codec in _TENSOR_OPTIONS:
        tensor_options = _TENSOR_OPTIONS[codec](name, array, options)
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
