"""The ``raw`` codec: the elements stored as they are (also what the writer falls back to where
coding would not make a tensor smaller)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import _core
from ..dtypes import dtype_name, element_bytes
from .base import Codec, NoSettings

if TYPE_CHECKING:
    from .coding import EncodeOptions


class Raw(Codec):
    id = "raw"
    Settings = NoSettings
    sparse_layer = False  # stored as is: a sparse layer would be coding
    summary = "stored as is"

    def encode(self, array: np.ndarray, settings: NoSettings, options: EncodeOptions) -> _core.EncodedTensor:
        return _core.encode_raw(element_bytes(array), dtype_name(array.dtype))


CODEC = Raw()
