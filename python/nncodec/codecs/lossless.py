"""The ``lossless`` codec: exact, bit for bit (byte planes, docs/FORMAT.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import _core
from ..dtypes import dtype_name, element_bytes
from .base import Codec, NoSettings

if TYPE_CHECKING:
    from .coding import EncodeOptions


class Lossless(Codec):
    id = "lossless"
    Settings = NoSettings
    summary = "exact, bit for bit (default)"

    def encode(self, array: np.ndarray, settings: NoSettings, options: EncodeOptions) -> _core.EncodedTensor:
        return _core.encode_lossless(element_bytes(array), dtype_name(array.dtype), options.chunk_elems,
                                     options.threads)


CODEC = Lossless()
