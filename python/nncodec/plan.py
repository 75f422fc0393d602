"""Per-tensor coding plan: which codec each tensor gets, with which parameters."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import _core
from .dtypes import dtype_name, element_bytes
from .errors import NnzError

CODECS = ("lossless", "raw")


@dataclass(frozen=True)
class EncodeOptions:
    """What the user asked for. ``codec`` applies to every tensor it can."""

    codec: str = "lossless"
    chunk_elems: int = 1 << 18
    threads: int = 1

    def __post_init__(self) -> None:
        if self.codec not in CODECS:
            raise NnzError(f"unknown codec {self.codec!r} (choose from {', '.join(CODECS)})")
        if not 1 <= self.chunk_elems <= 1 << 28:
            raise NnzError("chunk size must be between 1 and 2^28 elements")


def encode_array(array: np.ndarray, options: EncodeOptions) -> _core.EncodedTensor:
    """Code one tensor. ``lossless`` falls back to ``raw`` where coding does not pay (tiny tensors)."""
    name = dtype_name(array.dtype)
    data = element_bytes(array)
    if options.codec == "lossless":
        coded = _core.encode_lossless(data, name, options.chunk_elems, options.threads)
        if len(coded.params) + coded.coded_bytes < data.nbytes:
            return coded
    return _core.encode_raw(data, name)
