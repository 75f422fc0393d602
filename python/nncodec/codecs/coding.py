"""Coding one tensor: the options the writer codes with, the plan's choice of codec for a tensor,
and the rules around every codec (the sparse layer where smaller, raw where coding does not pay).
The fidelity search measures through the same functions (``Codec.roundtrip``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import _core
from ..dtypes import dtype_name, element_bytes
from ..errors import NnzError
from ..plan import PLAN_KEYS, Plan
from . import get, registered, sparse
from .base import Codec, Settings
from .lossless import CODEC as LOSSLESS
from .raw import CODEC as RAW

DEFAULT_CHUNK_ELEMS = 1 << 18


@dataclass(frozen=True)
class EncodeOptions:
    """What the writer codes with.

    codec:       the id of a registered codec (``nncodec.codecs.ids()``), for every tensor the
                 plan lets it code.
    settings:    that codec's Settings (None: its defaults).
    plan:        which tensors a lossy codec may touch, the sparse layer (nncodec.plan.Plan).
    chunk_elems: elements per independently decodable chunk; threads: worker threads.

    ``EncodeOptions.from_params`` builds them from the API's parameter mapping.
    """

    codec: str = "lossless"
    settings: Settings | None = None
    plan: Plan = field(default_factory=Plan)
    chunk_elems: int = DEFAULT_CHUNK_ELEMS
    threads: int = 1

    def __post_init__(self) -> None:
        codec = get(self.codec)
        if not 1 <= self.chunk_elems <= 1 << 28:
            raise NnzError("chunk size must be between 1 and 2^28 elements")
        if self.settings is None:
            object.__setattr__(self, "settings", codec.settings())
        elif not isinstance(self.settings, codec.Settings):
            raise NnzError(f"codec {self.codec!r} takes {codec.Settings.__name__}, not {type(self.settings).__name__}")
        if not isinstance(self.plan, Plan):
            raise NnzError(f"plan must be a Plan, not {type(self.plan).__name__}")

    @classmethod
    def from_params(cls, codec: str = "lossless", params: Mapping[str, Any] | None = None, **options: Any) -> EncodeOptions:
        """Options from a parameter mapping holding the codec's settings and the plan's
        (``keep``, ``lossy``, ``protect``, ``min_lossy_elems``, ``sparse``)."""
        params = dict(params or {})
        plan = Plan.from_params({k: params.pop(k) for k in PLAN_KEYS if k in params})
        unit = get(codec)
        for key in set(params) - unit.Settings.keys():
            owner = next((c.id for c in registered() if key in c.Settings.keys()), None)
            if owner is not None:
                raise NnzError(f"{key.replace('_', '-')} applies to codec {owner}, not to {codec!r}")
        return cls(codec, unit.settings(params), plan, **options)

    @property
    def unit(self) -> Codec:
        """The codec itself (``codec`` is its id)."""
        return get(self.codec)

    def to_json(self) -> dict[str, Any]:
        """What meta.json records of them: the codec, its settings and the plan."""
        return {"codec": self.codec, "codec_params": self.settings.to_json(), "plan": self.plan.to_json()}


def lossy_candidate(name: str, array: np.ndarray, options: EncodeOptions) -> bool:
    """Whether the (lossy) codec of ``options`` may code tensor ``name``: it applies to the
    tensor and the plan allows a lossy codec to touch it."""
    return options.unit.applies(array) and options.plan.lossy_allowed(name, array)


def planned(name: str, array: np.ndarray, options: EncodeOptions) -> tuple[Codec, Settings]:
    """The codec tensor ``name`` gets under ``options`` and its settings for this tensor: the
    requested codec, except that a lossy codec leaves to lossless the tensors it does not apply
    to, those the plan protects and those it has no bound for."""
    codec = options.unit
    if codec.lossy and not lossy_candidate(name, array, options):
        return LOSSLESS, LOSSLESS.Settings()
    settings = codec.for_tensor(name, array, options.settings)
    return (codec, settings) if settings is not None else (LOSSLESS, LOSSLESS.Settings())


def _size(encoded: _core.EncodedTensor) -> int:
    return len(encoded.params) + encoded.coded_bytes


def encode_tensor(codec: Codec, array: np.ndarray, settings: Settings, options: EncodeOptions) -> _core.EncodedTensor:
    """``array`` coded by ``codec`` (settings resolved for it), or by the sparse layer over it
    where that is smaller, or stored raw where neither is smaller than the elements."""
    data = element_bytes(array)
    coded = codec.encode(array, settings, options)
    if codec.sparse_layer and options.plan.sparse == "auto" and sparse.worth_trying(data, array.dtype.itemsize):
        layered = sparse.encode_layer(codec, array, settings, options)
        if _size(layered) < _size(coded):
            coded = layered
    if _size(coded) < data.nbytes or coded.codec == RAW.id:
        return coded
    return RAW.encode(array, RAW.Settings(), options)


def encode_array(name: str, array: np.ndarray, options: EncodeOptions) -> _core.EncodedTensor:
    """Code one tensor of a model by the plan (what the writer stores for it)."""
    if dtype_name(array.dtype) is None:
        raise NnzError(f"tensor {name!r}: unsupported dtype {array.dtype}")
    codec, settings = planned(name, array, options)
    return encode_tensor(codec, array, settings, options)


def decode_encoded(encoded: _core.EncodedTensor, like: np.ndarray, threads: int = 1) -> np.ndarray:
    """A coded tensor decoded into an array of ``like``'s shape and dtype."""
    out = np.empty(like.shape, dtype=like.dtype)
    _core.decode_payload(encoded.codec, dtype_name(like.dtype), like.size, encoded.params,
                         np.frombuffer(encoded.payload, np.uint8), out.reshape(-1).view(np.uint8), threads)
    return out
