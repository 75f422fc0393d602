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


def int8_per_channel(w: np.ndarray) -> tuple[int, np.ndarray]:
    """Symmetric int8 per output channel (axis 0), as onnxruntime's quantize_dynamic(per_channel=True)
    quantizes weights: scale = max|w[c]| / 127 per channel, one float32 scale each."""
    flat = w.reshape(w.shape[0], -1).astype(np.float64)
    scale = np.abs(flat).max(1, keepdims=True) / 127
    scale[scale == 0] = 1.0
    q = np.clip(np.rint(flat / scale), -127, 127)
    return w.size + 4 * w.shape[0], (q * scale).astype(np.float32).reshape(w.shape)


def _graphs(graph):
    """The graph and its subgraphs (If/Loop bodies), depth first."""
    import onnx

    yield graph
    for node in graph.node:
        for a in node.attribute:
            if a.type == onnx.AttributeProto.GRAPH:
                yield from _graphs(a.g)


def constants_as_initializers(model):
    """The model with its Constant nodes' tensors as initializers (of the graph holding them), in
    place: quantize_dynamic quantizes initializers only, and some exporters (Paddle, Silero) write
    weights as Constant nodes."""
    for graph in _graphs(model.graph):
        kept = []
        for node in graph.node:
            if node.op_type == "Constant" and [a.name for a in node.attribute] == ["value"]:
                tensor = node.attribute[0].t
                tensor.name = node.output[0]
                graph.initializer.append(tensor)
            else:
                kept.append(node)
        del graph.node[:]
        graph.node.extend(kept)
    return model


def tensor_bytes(model) -> int:
    """Bytes of the model's float and 8-bit tensors (initializers and Constants, subgraphs included):
    what stands for the float32 weights in a converted file (int64 shapes and the like not counted)."""
    from onnx import TensorProto, numpy_helper

    kinds = {TensorProto.FLOAT, TensorProto.FLOAT16, TensorProto.INT8, TensorProto.UINT8}
    tensors = [t for g in _graphs(model.graph) for t in g.initializer]
    tensors += [a.t for g in _graphs(model.graph) for n in g.node if n.op_type == "Constant" for a in n.attribute
                if a.name == "value"]
    return sum(numpy_helper.to_array(t).nbytes for t in tensors if t.data_type in kinds)


def onnx_int8_dynamic(path: Path):
    """onnxruntime quantize_dynamic (int8 weights, per channel, subgraphs too) of an ONNX file:
    (the quantized ModelProto, its file size)."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="nnc-int8-") as tmp:
        src, dst = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        onnx.save(constants_as_initializers(onnx.load(str(path))), str(src))
        quantize_dynamic(str(src), str(dst), per_channel=True, weight_type=QuantType.QInt8,
                         extra_options={"EnableSubgraph": True})
        return onnx.load(str(dst)), dst.stat().st_size


def onnx_float16(path: Path):
    """onnxconverter-common's convert_float_to_float16 (keep_io_types) of an ONNX file, its Cast
    nodes kept in float32 (node_block_list: the converter mistypes casts of shapes to float):
    (the ModelProto, its serialized size). Raises if onnxruntime cannot load the result."""
    import warnings

    import onnx
    import onnxruntime as ort
    from onnxconverter_common import float16

    model = onnx.load(str(path))
    casts = [n.name for n in model.graph.node if n.op_type == "Cast"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # one warning per weight clipped to float16's range
        converted = float16.convert_float_to_float16(model, keep_io_types=True, node_block_list=casts)
    data = converted.SerializeToString()
    options = ort.SessionOptions()
    options.log_severity_level = 4
    ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])
    return converted, len(data)
