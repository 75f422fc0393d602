"""The codecs of nncodec's front end and their registry, the only list of them.

Each codec is a module of this package with a :class:`~nncodec.codecs.base.Codec` (its
interface: id, typed Settings, applies, encode, roundtrip, describe, add_cli_args); ``register``
adds one, and everything else (the plan, the writer, the API, the CLI, the fidelity search)
finds codecs here. The C++ codec table (csrc/codecs/codec_table.cpp) is the decoders' list.
"""

from __future__ import annotations

from typing import Any

from ..errors import NnzError
from .base import Codec, Settings, describe_stored

_REGISTRY: dict[str, Codec] = {}


def register(codec: Codec) -> Codec:
    """Adds a codec (its id must be new); returns it."""
    if codec.id in _REGISTRY:
        raise NnzError(f"codec {codec.id!r} is already registered")
    _REGISTRY[codec.id] = codec
    return codec


def unregister(codec_id: str) -> None:
    """Removes a codec (for tests that register one of their own)."""
    _REGISTRY.pop(codec_id, None)


def get(codec_id: str) -> Codec:
    try:
        return _REGISTRY[codec_id]
    except (KeyError, TypeError):
        raise NnzError(f"unknown codec {codec_id!r} (choose from {', '.join(ids())})") from None


def ids() -> list[str]:
    """Every registered codec id, in registration order (the built-in ones first)."""
    return list(_REGISTRY)


def registered() -> list[Codec]:
    return list(_REGISTRY.values())


def first_bounded() -> Codec:
    """The codec a fidelity search chooses bounds for when the chosen codec has none."""
    return next(c for c in _REGISTRY.values() if c.bounded)


def describe(codec_id: str, params: bytes) -> dict[str, Any]:
    """What a stored tensor's parameters say about its error (``max_error``, ``error_bound``):
    by the registered codec of that id, else by the C++ codec table alone."""
    codec = _REGISTRY.get(codec_id)
    return codec.describe(params) if codec is not None else describe_stored(codec_id, params)


def _register_builtins() -> None:
    from . import dq, eb, lossless, pl, raw

    for module in (lossless, raw, pl, eb, dq):
        register(module.CODEC)


_register_builtins()

__all__ = ["Codec", "Settings", "register", "unregister", "get", "ids", "registered", "first_bounded", "describe"]
