"""The sparse layer (C++ codec id ``sparse``): the positions of a tensor's non-zeros, and the
non-zeros coded by any codec. Not a codec to choose: the writer tries it over the chosen one
(``EncodeOptions.plan.sparse``) and keeps it where it is smaller."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import _core
from ..dtypes import dtype_name, element_bytes
from .base import Codec, Settings

if TYPE_CHECKING:
    from .coding import EncodeOptions

MIN_ELEMS = 64
MAX_NONZERO_SHARE = 0.75


def worth_trying(data: np.ndarray, esize: int) -> bool:
    """Whether a tensor (its element bytes) has enough exact zeros for the layer to pay."""
    if not MIN_ELEMS <= data.size // esize < 1 << 32:
        return False
    # Elements with any bit set (so -0.0 counts), through an integer view: count_nonzero on it is
    # ~20x faster than any() over rows of esize bytes.
    nonzero = np.count_nonzero(data.view(f"<u{esize}"))
    return nonzero <= MAX_NONZERO_SHARE * (data.size // esize)


def encode_layer(codec: Codec, array: np.ndarray, settings: Settings, options: EncodeOptions) -> _core.EncodedTensor:
    """The sparse layer over ``codec``: positions of the non-zeros + the non-zeros coded by it."""
    dtype = dtype_name(array.dtype)
    data = element_bytes(array)
    values = _core.sparse_values(data, dtype)
    return _core.encode_sparse(data, dtype, codec.encode(values.view(array.dtype), settings, options))
