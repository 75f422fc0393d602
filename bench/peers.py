"""The codecs nncodec is measured against, each on one tensor (or a set), sizes in bytes.

SZ3 (pysz), ZFP (zfpy), int8 linear quantization, zstd, sparse-matrix formats (CSR, CER, CSER:
sizes from their definitions) and Fraunhofer NNCodec (in its own environment, as a subprocess).
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent


def sz3(w: np.ndarray, error: float) -> tuple[int, np.ndarray]:
    """SZ3 in absolute-error mode; the best of the tensor seen flat and as (rows, rest)."""
    import pysz

    best = None
    for shape in {(w.size,), (w.shape[0], w.size // w.shape[0]) if w.ndim >= 2 else (w.size,)}:
        config = pysz.szConfig()
        config.errorBoundMode = pysz.szErrorBoundMode.ABS
        config.absErrorBound = float(error)
        data = np.ascontiguousarray(w, np.float32).reshape(shape)
        compressed, _ = pysz.sz.compress(data, config)
        if best is None or compressed.nbytes < best[0]:
            decoded, _ = pysz.sz.decompress(compressed, np.float32, shape)
            best = (int(compressed.nbytes), np.asarray(decoded, np.float32).reshape(w.shape))
    return best


def zfp(w: np.ndarray, error: float) -> tuple[int, np.ndarray]:
    """ZFP in fixed-accuracy mode (tolerance = the absolute error bound); the best of the tensor
    seen flat and as (rows, rest) (its own shape wastes blocks on 1x1 kernels)."""
    import zfpy

    best = None
    for shape in {(w.size,), (w.shape[0], w.size // w.shape[0]) if w.ndim >= 2 else (w.size,)}:
        compressed = zfpy.compress_numpy(np.ascontiguousarray(w, np.float32).reshape(shape), tolerance=float(error))
        if best is None or len(compressed) < best[0]:
            best = (len(compressed), zfpy.decompress_numpy(compressed).reshape(w.shape).astype(np.float32))
    return best


def int8_linear(w: np.ndarray) -> tuple[int, np.ndarray]:
    """Symmetric per-tensor int8: scale = max|w| / 127, one float32 scale per tensor."""
    scale = float(np.abs(w).max()) / 127 or 1.0
    q = np.clip(np.rint(w / scale), -127, 127)
    return w.size + 4, (q * scale).astype(np.float32)


def zstd_bytes(data: bytes, level: int = 19) -> int:
    import zstandard

    return len(zstandard.ZstdCompressor(level=level).compress(data))


def matrix_format_bytes(fmt: str, w: np.ndarray) -> int:
    """Exact size of a sparse-matrix format ("csr32": 32-bit indices and float32 values, "cer",
    "cser": Wiedemann et al. 2020 with minimal-width fields) for the tensor as a matrix (rows =
    first dimension), from nncodec's own encoders of those formats (csrc/extras/matrix_formats)."""
    from nncodec import _core

    data = np.ascontiguousarray(w, np.float32).reshape(-1)
    return int(_core.matrix_format_bytes(fmt, data.view(np.uint8), "float32", w.shape[0] if w.ndim else 1))


def _peer_env() -> dict[str, str]:
    """The environment for the peer: without PYTHONPATH, which may point at our own `nncodec`."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return {**env, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def fraunhofer_venv() -> Path:
    """The peer's environment (created on first use by setup_fraunhofer_venv.sh)."""
    out = subprocess.run(["bash", str(BENCH / "setup_fraunhofer_venv.sh")], check=True, capture_output=True, text=True,
                         env=_peer_env(), cwd="/")
    return Path(out.stdout.strip().splitlines()[-1])


def fraunhofer_nncodec(tensors: dict[str, np.ndarray], qps: list[int]) -> list[dict]:
    """Fraunhofer NNCodec at each qp: bytes, encode/decode seconds, decoded tensors."""
    python = fraunhofer_venv() / "bin" / "python"
    with tempfile.TemporaryDirectory(prefix="nnc-peer-") as tmp:
        src = Path(tmp) / "tensors.npz"
        np.savez(src, **{k: np.asarray(v, np.float32) for k, v in tensors.items()})
        proc = subprocess.run([str(python), str(BENCH / "nncodec_peer.py"), str(src), tmp, *map(str, qps)],
                              check=True, capture_output=True, text=True, env=_peer_env(), cwd=tmp)
        results = [json.loads(line[len("RESULT "):]) for line in proc.stdout.splitlines() if line.startswith("RESULT ")]
        for r in results:
            with np.load(Path(tmp) / f"qp{r['qp']}.npz") as data:
                r["decoded"] = {k: data[k] for k in data.files}
    return results


def timed(fn, *args, repeat: int = 3):
    """(best wall seconds, result) over `repeat` runs."""
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn(*args)
        best = min(best, time.perf_counter() - t0)
    return best, result
