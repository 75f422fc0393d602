"""Small real ONNX models for the lossy-coding tests (built with onnx.helper, run by onnxruntime)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def mlp(path: Path, *, seed: int = 0, hidden: int = 64, sensitive_gain: float = 1.0,
        pruned: float = 0.0) -> dict[str, np.ndarray]:
    """y = W2 relu(LayerNorm(W1 x + b1)) + gain * (W3 x): two branches of different sensitivity.

    Returns the initializers. ``pruned`` zeroes that fraction of the smallest weights of W1.
    """
    rng = np.random.default_rng(seed)
    w1 = (rng.standard_normal((32, hidden)) * 0.2).astype(np.float32)
    if pruned:
        w1[np.abs(w1) < np.quantile(np.abs(w1), pruned)] = 0.0
    inits = {
        "fc1.weight": w1,
        "fc1.bias": (rng.standard_normal(hidden) * 0.1).astype(np.float32),
        "norm.weight": (1 + 0.1 * rng.standard_normal(hidden)).astype(np.float32),
        "norm.bias": (0.1 * rng.standard_normal(hidden)).astype(np.float32),
        "fc2.weight": (rng.standard_normal((hidden, 16)) * 0.2).astype(np.float32),
        "side.weight": (rng.standard_normal((32, 16)) * 0.2).astype(np.float32),
        "gain": np.array(sensitive_gain, np.float32),
        "steps": np.arange(40, dtype=np.int64).reshape(5, 8),
    }
    nodes = [
        helper.make_node("MatMul", ["x", "fc1.weight"], ["h0"]),
        helper.make_node("Add", ["h0", "fc1.bias"], ["h1"]),
        helper.make_node("LayerNormalization", ["h1", "norm.weight", "norm.bias"], ["h2"], axis=-1),
        helper.make_node("Relu", ["h2"], ["h3"]),
        helper.make_node("MatMul", ["h3", "fc2.weight"], ["y1"]),
        helper.make_node("MatMul", ["x", "side.weight"], ["s0"]),
        helper.make_node("Mul", ["s0", "gain"], ["s1"]),
        helper.make_node("Add", ["y1", "s1"], ["y"]),
        helper.make_node("Shape", ["steps"], ["steps_shape"]),
    ]
    graph = helper.make_graph(
        nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", 32])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", 16]),
         helper.make_tensor_value_info("steps_shape", TensorProto.INT64, [2])],
        [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return inits


def run(path: Path, x: np.ndarray) -> np.ndarray:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["y"], {"x": x})[0]
