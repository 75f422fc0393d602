"""Hypothesis strategies shared by the codec tests: arrays of every dtype with edge values."""

from __future__ import annotations

import ml_dtypes
import numpy as np
from hypothesis import strategies as st

FLOAT_DTYPES = [np.dtype("<f4"), np.dtype("<f2"), np.dtype(ml_dtypes.bfloat16), np.dtype("<f8")]
INT_DTYPES = [np.dtype(t) for t in ("i1", "u1", "<i2", "<u2", "<i4", "<u4", "<i8", "<u8", "?")]
ALL_DTYPES = FLOAT_DTYPES + INT_DTYPES

shapes = st.one_of(
    st.just(()),                                   # 0-d
    st.tuples(st.just(0)),                         # empty
    st.tuples(st.integers(1, 3000)),
    st.tuples(st.integers(0, 40), st.integers(0, 60)),
    st.tuples(st.integers(1, 8), st.integers(1, 8), st.integers(1, 3), st.integers(1, 3)),
)


def _uint_view(dtype: np.dtype) -> np.dtype:
    return np.dtype(f"<u{dtype.itemsize}") if dtype.itemsize > 1 else np.dtype("u1")


@st.composite
def arrays(draw, dtypes=ALL_DTYPES):
    """Arrays whose bit patterns cover the hard cases: NaN payloads, ±0, ±Inf, denormals,
    all-equal runs, huge and tiny magnitudes, weight-like distributions, few exact values."""
    dtype = draw(st.sampled_from(dtypes))
    shape = draw(shapes)
    n = int(np.prod(shape, dtype=np.int64))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(["weights", "bits", "special", "constant", "few", "levels", "grid"]))
    if dtype == np.bool_:
        return rng.integers(0, 2, n).astype(bool).reshape(shape)
    is_float = dtype in FLOAT_DTYPES
    if kind == "bits" or (kind == "weights" and not is_float):
        raw = rng.integers(0, 256, n * dtype.itemsize, dtype=np.uint8)
        if kind == "weights":  # small integers, like quantized weights
            return rng.integers(-20, 20, n).astype(dtype).reshape(shape)
        return raw.view(dtype).reshape(shape)
    if kind == "weights":
        scale = draw(st.sampled_from([1e-30, 1e-3, 0.05, 1.0, 1e4]))
        return (rng.standard_normal(n) * scale).astype(dtype).reshape(shape)
    if kind == "special":
        u = _uint_view(dtype)
        bits = np.iinfo(u).bits
        if is_float:
            finfo = ml_dtypes.finfo(dtype) if dtype == ml_dtypes.bfloat16 else np.finfo(dtype)
            specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, finfo.max, -finfo.max, finfo.tiny,
                                 finfo.smallest_subnormal, -finfo.smallest_subnormal], dtype=dtype)
            pool = np.concatenate([specials.view(u), rng.integers(0, 2**bits - 1, 8, dtype=np.uint64).astype(u)])
            # NaNs with arbitrary payloads: exponent all ones, random mantissa.
            exp_mask = {2: 0x7F80 if dtype == ml_dtypes.bfloat16 else 0x7C00, 4: 0x7F800000, 8: 0x7FF0000000000000}
            nan = (rng.integers(1, 2**min(bits - 1, 62), 4, dtype=np.uint64).astype(u) | u.type(exp_mask[dtype.itemsize]))
            pool = np.concatenate([pool, nan])
        else:
            info = np.iinfo(dtype)
            pool = np.array([0, 1, -1 if info.min < 0 else 2, info.min, info.max], dtype=dtype).view(u)
        return pool[rng.integers(0, pool.size, n)].view(dtype).reshape(shape)
    if kind == "levels" and is_float:  # fake-quantized weights: a few hundred exact values, some strays
        pool = (rng.standard_normal(draw(st.integers(1, 3000))) * 0.05).astype(dtype)
        out = pool[rng.integers(0, pool.size, n)]
        stray = rng.random(n) < draw(st.sampled_from([0.0, 0.02, 0.4]))
        out[stray] = (rng.standard_normal(int(stray.sum())) * 0.05).astype(dtype)
        return out.reshape(shape)
    if kind == "grid" and is_float and n:  # fake-quantized per tensor, output channel, column or group
        return _on_grid(draw, rng, dtype, shape)
    if kind == "constant":
        value = rng.integers(0, 256, dtype.itemsize, dtype=np.uint8).view(dtype)[0]
        return np.full(shape, value, dtype=dtype)
    values = rng.integers(0, 256, 3 * dtype.itemsize, dtype=np.uint8).view(dtype)
    return values[rng.integers(0, 3, n)].reshape(shape)


def _on_grid(draw, rng, dtype: np.dtype, shape: tuple[int, ...]) -> np.ndarray:
    """Integer levels times a scale per block (rounded to the dtype as a float32 product is),
    with strays off the grid: NaN, infinities, -0, outliers."""
    n = int(np.prod(shape))
    block = draw(st.sampled_from(["tensor", "rows", "columns", "groups"]))
    index = np.arange(n)
    rows = shape[0] if len(shape) >= 2 and shape[0] else 1
    cols = shape[-1] if shape and shape[-1] else 1
    which = {"tensor": index * 0, "rows": index // max(1, n // rows), "columns": index % cols,
             "groups": index // 32}[block]
    wide = np.float64 if dtype.itemsize == 8 else np.float32
    scales = (rng.random(int(which.max()) + 1) * 10.0 ** draw(st.sampled_from([-30, -4, -2, 0, 3]))).astype(wide)
    if dtype.itemsize == 2:
        scales = scales.astype(dtype).astype(np.float32)  # 16-bit models keep scales in their dtype
    top = draw(st.sampled_from([7, 127]))
    levels = rng.integers(-top - 1, top + 1, n)
    with np.errstate(over="ignore"):
        out = (levels.astype(wide) * scales[which]).astype(dtype)
    stray = rng.random(n) < draw(st.sampled_from([0.0, 0.01, 0.3]))
    strays = np.array([np.nan, np.inf, -np.inf, -0.0, 1e4], dtype=np.float64)
    out[stray] = strays[rng.integers(0, strays.size, int(stray.sum()))].astype(dtype)
    return out.reshape(shape)


def same_bits(a: np.ndarray, b: np.ndarray) -> bool:
    """Bit-for-bit equality (NaN payloads and signed zeros included)."""
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()
