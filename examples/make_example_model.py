"""Builds examples/models/tiny_cnn.onnx, the small example model the quick start compresses.

A 3-layer CNN classifier (conv 3->16, conv 16->32, global pooling, dense 32->10) with
He-initialised float32 weights, so its weight statistics look like a real network's.
"""

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

rng = np.random.default_rng(2026)


def he(shape, fan_in):
    return (rng.standard_normal(shape) * np.sqrt(2.0 / fan_in)).astype(np.float32)


inits = [
    numpy_helper.from_array(he((32, 3, 3, 3), 27), "conv1.weight"),
    numpy_helper.from_array((rng.standard_normal(32) * 0.01).astype(np.float32), "conv1.bias"),
    numpy_helper.from_array(he((64, 32, 3, 3), 288), "conv2.weight"),
    numpy_helper.from_array((rng.standard_normal(64) * 0.01).astype(np.float32), "conv2.bias"),
    numpy_helper.from_array(he((64, 128), 64), "fc1.weight"),
    numpy_helper.from_array(he((128, 10), 128), "fc2.weight"),
    numpy_helper.from_array(np.zeros(10, np.float32), "fc2.bias"),
]
nodes = [
    helper.make_node("Conv", ["image", "conv1.weight", "conv1.bias"], ["c1"], pads=[1, 1, 1, 1]),
    helper.make_node("Relu", ["c1"], ["r1"]),
    helper.make_node("Conv", ["r1", "conv2.weight", "conv2.bias"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]),
    helper.make_node("Relu", ["c2"], ["r2"]),
    helper.make_node("GlobalAveragePool", ["r2"], ["p"]),
    helper.make_node("Flatten", ["p"], ["f"]),
    helper.make_node("MatMul", ["f", "fc1.weight"], ["h"]),
    helper.make_node("Relu", ["h"], ["hr"]),
    helper.make_node("MatMul", ["hr", "fc2.weight"], ["l"]),
    helper.make_node("Add", ["l", "fc2.bias"], ["logits"]),
]
graph = helper.make_graph(nodes, "tiny_cnn", [helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, 32, 32])],
                          [helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 10])], inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8,
                          producer_name="nncodec-example")
onnx.checker.check_model(model)
out = Path(__file__).parent / "models" / "tiny_cnn.onnx"
out.parent.mkdir(exist_ok=True)
onnx.save(model, out)
print(f"wrote {out} ({out.stat().st_size} bytes)")
