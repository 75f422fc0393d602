"""The interface every codec of nncodec's front end has (docs/ADDING_A_CODEC.md).

A codec is a :class:`Codec` subclass in its own module of this package with a :class:`Settings`
dataclass. The rest of nncodec (the plan, the writer, the API, the CLI, the fidelity search)
only goes through this interface and the registry (``nncodec.codecs``); none of it names a codec.
"""

from __future__ import annotations

import argparse
import math
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np

from .. import _core
from ..errors import CorruptFileError, NnzError, UnsupportedError

if TYPE_CHECKING:
    from .coding import EncodeOptions


@dataclass(frozen=True)
class Settings:
    """A codec's settings: a frozen dataclass that checks its values in ``__post_init__``.

    ``to_json`` gives them as the parameter mapping ``from_params`` takes (JSON values: what
    meta.json records under ``codec_params``), so ``from_params(s.to_json()) == s``.
    """

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> Settings:
        """Settings from a mapping of parameter name -> value (API and meta.json form)."""
        check_known_keys(cls, params)
        return cls(**params)

    def to_json(self) -> dict[str, Any]:
        return {f.name: _json_value(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def keys(cls) -> frozenset[str]:
        """The parameter names ``from_params`` takes."""
        return frozenset(f.name for f in fields(cls))

    @classmethod
    def json_types(cls) -> dict[str, tuple[Any, ...]]:
        """Field path -> the JSON types its value may have in meta.json, with "[]" for every
        element of a list and "{}" for every value of an object (paths as in nncodec.meta)."""
        hints = typing.get_type_hints(cls)
        paths: dict[str, tuple[Any, ...]] = {}
        for f in fields(cls):
            paths[f.name] = _json_types(hints[f.name])
            origin, args = typing.get_origin(hints[f.name]), typing.get_args(hints[f.name])
            if isinstance(origin, type) and issubclass(origin, Mapping):
                paths[f.name + "{}"] = _json_types(args[1])
            elif origin in (tuple, list):
                paths[f.name + "[]"] = _json_types(args[0])
        return paths


@dataclass(frozen=True)
class NoSettings(Settings):
    """The settings of a codec that has none of its own (chunk size and threads are the writer's)."""


def _json_value(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _json_value(v) for k, v in value.items()}
    if isinstance(value, (tuple, list)):
        return [_json_value(v) for v in value]
    return value


def _json_types(hint: Any) -> tuple[Any, ...]:
    """The JSON types of a Settings field's annotation (float admits ints: JSON has numbers)."""
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return tuple(t for part in typing.get_args(hint) for t in _json_types(part))
    origin = typing.get_origin(hint) or hint
    if hint is type(None):
        return (None,)
    if origin is float:
        return (int, float)
    if isinstance(origin, type) and issubclass(origin, Mapping):
        return (dict,)
    if origin in (tuple, list):
        return (list,)
    return (origin,)


def check_known_keys(settings: type[Settings], params: Mapping[str, Any], codec: str = "") -> None:
    unknown = set(params) - settings.keys()
    if unknown:
        known = ", ".join(sorted(settings.keys())) or "none"
        raise NnzError(f"unknown {codec + ' ' if codec else ''}setting(s): {', '.join(sorted(map(str, unknown)))} "
                       f"(known: {known})")


def positive_number(value: Any, what: str) -> float:
    """``value`` as a float that is finite and > 0, else NnzError naming ``what``."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise NnzError(f"{what} must be a number") from None
    if isinstance(value, bool) or not (math.isfinite(number) and number > 0):
        raise NnzError(f"{what} must be a finite number > 0")
    return number


def check_bound_fields(settings: Settings, absolute: str, relative: str, by_tensor: str, what: str,
                       bound_name: str) -> None:
    """Validates a bounded codec's three ways of giving a bound, in place (frozen dataclass): an
    absolute one, one relative to each tensor's std (not both), and one per tensor name; numbers
    given as text are converted, every bound must be finite and > 0. ``what`` and ``bound_name``
    name the bound in errors ("give either an absolute {what} ...", "the {bound_name} of tensor")."""
    if getattr(settings, absolute) is not None and getattr(settings, relative) is not None:
        raise NnzError(f"give either an absolute {what} or a relative one, not both")
    for name in (absolute, relative):
        if getattr(settings, name) is not None:
            object.__setattr__(settings, name, positive_number(getattr(settings, name), name.replace("_", "-")))
    bounds = getattr(settings, by_tensor)
    if not isinstance(bounds, Mapping):
        raise NnzError(f"{by_tensor} must map tensor names to bounds")
    object.__setattr__(settings, by_tensor, {str(k): positive_number(v, f"the {bound_name} of tensor {k!r}")
                                             for k, v in bounds.items()})


def finite_std(array: np.ndarray) -> float:
    """The standard deviation of a tensor's finite elements (0 where it has none)."""
    values = np.asarray(array, dtype=np.float64)
    values = values[np.isfinite(values)]
    return float(values.std()) if values.size else 0.0


def tensor_bound(name: str, array: np.ndarray, by_tensor: Mapping[str, float], absolute: float | None,
                 relative: float | None) -> float | None:
    """A tensor's absolute bound: by its name, else relative x its std, else the absolute one;
    None where there is none or it is not finite and > 0 (a constant tensor under a relative
    bound: lossless coding is exact and as small)."""
    if name in by_tensor:
        bound = by_tensor[name]
    elif relative is not None:
        bound = relative * finite_std(array)
    elif absolute is not None:
        bound = absolute
    else:
        return None
    return bound if math.isfinite(bound) and bound > 0 else None


def stored_description(codec_id: str, params: bytes) -> tuple[float, float, float, float] | None:
    """(error bound, largest error, RMSE bound, RMSE) from the C++ codec table's describe (the
    last two 0 where the codec bounds no RMSE); None for an id this build does not know and for
    parameters it cannot read (a damaged or newer file)."""
    try:
        return _core.describe_params(codec_id, params)
    except (CorruptFileError, UnsupportedError):
        return None


def describe_stored(codec_id: str, params: bytes) -> dict[str, Any]:
    """What a stored tensor's parameters say about its error, for ids no registered codec has (the
    sparse layer says what its inner codec does): ``max_error`` alone where both are 0."""
    described = stored_description(codec_id, params)
    if described is None:
        return {}
    bound, max_error = described[:2]
    return {"max_error": 0.0} if bound == 0 and max_error == 0 else {"error_bound": bound, "max_error": max_error}


class Codec:
    """A codec as the front end sees it.

    ``id``: the name ``--codec`` and meta.json use; for the built-in codecs also the C++ codec
    id their tensors carry (``encode`` may return another id, say lossless where that is
    smaller). ``lossy``: the plan's protection rule applies (lossy codecs only get the tensors
    ``applies`` and the plan allow; the others are coded lossless). ``sparse_layer``: the writer
    tries the sparse layer over it. ``bounded``: ``with_bounds`` gives settings with an error
    bound per tensor, so a fidelity search can choose them.
    """

    id: ClassVar[str]
    Settings: ClassVar[type[Settings]]
    lossy: ClassVar[bool] = False
    sparse_layer: ClassVar[bool] = True
    bounded: ClassVar[bool] = False
    summary: ClassVar[str] = ""  # one line for --codec's help

    def settings(self, params: Mapping[str, Any] | None = None) -> Settings:
        """Validated settings from parameters (the codec's own, without the plan's)."""
        params = params or {}
        check_known_keys(self.Settings, params, self.id)
        return self.Settings.from_params(params)

    def check_encodable(self, settings: Settings) -> None:
        """Fails (NnzError) on settings that cannot code a file without more (say, a bound)."""

    def applies(self, array: np.ndarray) -> bool:
        """Whether the codec can code this tensor (lossy codecs: else the plan codes it lossless)."""
        return True

    def for_tensor(self, name: str, array: np.ndarray, settings: Settings) -> Settings | None:
        """The settings for tensor ``name`` (relative bounds resolved against it); None: code it
        lossless instead (no bound can be had for it)."""
        return settings

    def encode(self, array: np.ndarray, settings: Settings, options: EncodeOptions) -> _core.EncodedTensor:
        """Code one tensor with settings ``for_tensor`` resolved (chunk size and threads from
        ``options``); the result must not depend on the thread count."""
        raise NotImplementedError

    def roundtrip(self, array: np.ndarray, settings: Settings, options: EncodeOptions) -> tuple[np.ndarray, int]:
        """The tensor as a file written with these settings holds it, and its coded size in
        bytes: coded as the writer codes it (this codec, the sparse layer where smaller, raw
        where coding does not pay), then decoded. For searches over settings."""
        from .coding import decode_encoded, encode_tensor

        encoded = encode_tensor(self, array, settings, options)
        return decode_encoded(encoded, array, options.threads), len(encoded.params) + encoded.coded_bytes

    def describe(self, params: bytes) -> dict[str, Any]:
        """What the stored parameters of a tensor of this codec's id say about its error:
        ``max_error`` (0 for exact codecs) and, for lossy ones, ``error_bound`` (and ``rmse_bound``
        and ``rmse`` for codecs that bound the RMSE); empty where the parameters cannot be read."""
        described = stored_description(self.id, params)
        if described is None:
            return {}
        bound, max_error, rmse_bound, rmse = described
        if not self.lossy:
            return {"max_error": 0.0}
        rmse_figures = {"rmse_bound": rmse_bound, "rmse": rmse} if rmse_bound else {}
        return {"error_bound": bound, "max_error": max_error, **rmse_figures}

    def error_bound(self, settings: Settings) -> float | None:
        """The absolute bound every weight keeps under ``settings`` (resolved for one tensor by
        ``for_tensor``), if the codec has one. Coding against a base model then codes the
        difference from the base with this codec, at a bound that leaves room for rounding."""
        return None

    def at_bound(self, bound: float) -> Settings:
        """Settings that keep every weight within ``bound`` (codecs with ``error_bound``)."""
        raise UnsupportedError(f"codec {self.id!r} has no error bound")

    def with_bounds(self, settings: Settings, bounds: Mapping[str, float]) -> Settings:
        """``settings`` with an error bound per tensor name (bounded codecs)."""
        raise UnsupportedError(f"codec {self.id!r} has no error bound to choose")

    def add_cli_args(self, parser: argparse.ArgumentParser) -> None:
        """Adds the codec's options to ``nncodec encode`` (none by default)."""

    def params_from_args(self, args: argparse.Namespace) -> dict[str, Any]:
        """The codec's parameters the user gave on the command line (empty: none given)."""
        return {}
