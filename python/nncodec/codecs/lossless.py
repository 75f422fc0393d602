"""The ``lossless`` codec: exact, bit for bit (byte planes, docs/FORMAT.md). Float tensors whose
elements lie on a grid per block (fake-quantized weights: every output channel or group an integer
multiple of its own scale) are coded as those integers instead (``lossless-grid``, FORMAT.md 5.9)
where that is smaller."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .. import _core
from ..dtypes import dtype_name, element_bytes, numpy_dtype
from .base import Codec, NoSettings

if TYPE_CHECKING:
    from .coding import EncodeOptions

GRID_MIN_ELEMENTS = 256  # smaller tensors (biases, norms) gain little and cost a probe each
GRID_MIN_SHARE = 0.9  # nonzero elements of the sampled blocks on their grid for lossless-grid to be tried
GRID_GROUPS = (32, 64, 128)  # group sizes of group-wise quantization along the last axis
GRID_FLOATS = ("float32", "float64", "float16", "bfloat16")


def grid_blocks(shape: tuple[int, ...]) -> list[tuple[bool, int]]:
    """Candidate blocks of elements sharing a scale, as (columns, block), fewest scales first:
    the whole tensor; an output channel as a run (axis 0: PyTorch's [out, in, ...]) and as a
    column (the last axis: ONNX MatMul's [in, out], channels-last storage); groups along the last
    axis."""
    count = int(np.prod(shape))
    blocks = [(False, count)]
    if len(shape) >= 2:
        blocks += [(False, count // shape[0]), (True, shape[-1])]
    if len(shape) >= 1:
        blocks += [(False, g) for g in GRID_GROUPS if shape[-1] > g and shape[-1] % g == 0]
    return list(dict.fromkeys((columns, block) for columns, block in blocks if block >= 1))


def grid_encoded(data: np.ndarray, dtype: str, shape: tuple[int, ...], options: EncodeOptions):
    """The tensor as lossless-grid with the candidate block that costs least in scales and
    exceptions (estimated from the share of sampled elements on their grid), or None where no
    block puts enough elements on a grid."""
    if dtype not in GRID_FLOATS:
        return None
    count, esize = int(np.prod(shape)), numpy_dtype(dtype).itemsize
    scale_bytes = 8 if dtype == "float64" else 4
    best_cost, best = float("inf"), None
    for columns, block in grid_blocks(shape):
        share = _core.grid_exact_share(data, dtype, columns, block)
        scales = min(block, count) if columns else -(-count // block)
        cost = scales * scale_bytes + (1 - share) * count * (esize + 1)
        if share >= GRID_MIN_SHARE and cost < best_cost:
            best_cost, best = cost, (columns, block)
    if best is None:
        return None
    return _core.encode_grid(data, dtype, best[0], best[1], options.chunk_elems, options.threads)


class Lossless(Codec):
    id = "lossless"
    Settings = NoSettings
    summary = "exact, bit for bit (default)"

    def encode(self, array: np.ndarray, settings: NoSettings, options: EncodeOptions) -> _core.EncodedTensor:
        data, dtype = element_bytes(array), dtype_name(array.dtype)
        coded = _core.encode_lossless(data, dtype, options.chunk_elems, options.threads)
        if array.size < GRID_MIN_ELEMENTS:
            return coded
        grid = grid_encoded(data, dtype, array.shape, options)
        if grid is not None and len(grid.params) + grid.coded_bytes < len(coded.params) + coded.coded_bytes:
            return grid
        return coded


CODEC = Lossless()
