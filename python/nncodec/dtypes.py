"""Mapping between numpy dtypes and the element types of a .nnz file."""

from __future__ import annotations

import ml_dtypes
import numpy as np

from .errors import CorruptFileError, UnsupportedError

# name in .nnz files / the core  ->  numpy dtype (little-endian)
NUMPY_DTYPES: dict[str, np.dtype] = {
    "float32": np.dtype("<f4"),
    "float16": np.dtype("<f2"),
    "bfloat16": np.dtype(ml_dtypes.bfloat16),
    "float64": np.dtype("<f8"),
    "int8": np.dtype("i1"),
    "uint8": np.dtype("u1"),
    "int16": np.dtype("<i2"),
    "uint16": np.dtype("<u2"),
    "int32": np.dtype("<i4"),
    "uint32": np.dtype("<u4"),
    "int64": np.dtype("<i8"),
    "uint64": np.dtype("<u8"),
    "bool": np.dtype("?"),
}

FLOAT_DTYPES = frozenset({"float32", "float16", "bfloat16", "float64"})


_NAME_OF = {candidate: name for name, candidate in NUMPY_DTYPES.items()}


def dtype_name(dtype: np.dtype) -> str | None:
    """The .nnz name of a numpy dtype, or None if .nnz cannot hold it."""
    dtype = np.dtype(dtype)
    if dtype.byteorder == ">":
        dtype = dtype.newbyteorder("<")
    name = _NAME_OF.get(dtype)  # a dict of dtypes: called per tensor, on every load
    if name is not None:
        return name
    for name, candidate in NUMPY_DTYPES.items():  # dtypes equal to a candidate but hashed apart
        if dtype == candidate:
            return name
    return None


def numpy_dtype(name: str) -> np.dtype:
    try:
        return NUMPY_DTYPES[name]
    except KeyError:
        raise UnsupportedError(f"unsupported dtype {name!r}") from None


def element_bytes(array: np.ndarray) -> np.ndarray:
    """The array's elements as a flat little-endian uint8 view (a copy only when needed)."""
    name = dtype_name(array.dtype)
    if name is None:
        raise UnsupportedError(f"unsupported dtype {array.dtype}")
    flat = np.ascontiguousarray(array, dtype=NUMPY_DTYPES[name]).reshape(-1)
    return flat.view(np.uint8)


MAX_RANK = 32  # the .nnz index's limit, and numpy's on every version
_MAX_ELEMENTS = 1 << 62


def check_shape(shape, what: str) -> tuple[int, ...]:
    """``shape`` as a tuple if numpy can make an array of it (rank, dimensions, element count)."""
    shape = tuple(shape)
    if len(shape) > MAX_RANK:
        raise CorruptFileError(f"{what} has {len(shape)} dimensions (at most {MAX_RANK})")
    count = 1
    for d in shape:
        if type(d) is not int or d < 0:
            raise CorruptFileError(f"{what} has an invalid dimension {d!r}")
        count *= max(d, 1)  # numpy refuses huge dimensions even beside a zero one
        if count > _MAX_ELEMENTS:
            raise CorruptFileError(f"{what} has a shape too large for any array")
    return shape
