"""Small real ONNX models built with onnx.helper, covering where tensors hide in ONNX files."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

OPSET = [helper.make_opsetid("", 17)]
IR_VERSION = 8  # onnxruntime reads IR versions up to 13; onnx.helper would write its newest


def _init(name: str, array: np.ndarray) -> TensorProto:
    return numpy_helper.from_array(array, name)


def mlp(seed: int = 0, hidden: int = 32) -> onnx.ModelProto:
    """X[N,16] -> MatMul -> Add -> Relu -> MatMul -> Add -> Y[N,10] (float32 initializers)."""
    rng = np.random.default_rng(seed)
    inits = [
        _init("W1", (rng.standard_normal((16, hidden)) * 0.2).astype(np.float32)),
        _init("b1", (rng.standard_normal(hidden) * 0.01).astype(np.float32)),
        _init("W2", (rng.standard_normal((hidden, 10)) * 0.2).astype(np.float32)),
        _init("b2", np.zeros(10, np.float32)),
    ]
    nodes = [
        helper.make_node("MatMul", ["X", "W1"], ["h0"]),
        helper.make_node("Add", ["h0", "b1"], ["h1"]),
        helper.make_node("Relu", ["h1"], ["h2"]),
        helper.make_node("MatMul", ["h2", "W2"], ["h3"]),
        helper.make_node("Add", ["h3", "b2"], ["Y"]),
    ]
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 16])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 10])], inits)
    return helper.make_model(graph, opset_imports=OPSET, ir_version=IR_VERSION)


def constants_and_subgraphs(seed: int = 1) -> onnx.ModelProto:
    """Weights as Constant nodes, some inside If branches (like exported VAD models), a Loop body
    with its own initializer, a typed-field tensor, a string constant and half/bfloat16 weights."""
    rng = np.random.default_rng(seed)
    w = (rng.standard_normal((8, 8)) * 0.3).astype(np.float32)

    def branch(name: str, scale: float) -> onnx.GraphProto:
        c = (rng.standard_normal((8, 8)) * scale).astype(np.float32)
        return helper.make_graph(
            [helper.make_node("Constant", [], [f"{name}_w"], value=numpy_helper.from_array(c)),
             helper.make_node("MatMul", ["x1", f"{name}_w"], [f"{name}_out"])],
            name, [], [helper.make_tensor_value_info(f"{name}_out", TensorProto.FLOAT, ["N", 8])])

    loop_body = helper.make_graph(
        [helper.make_node("Mul", ["acc_in", "loop_scale"], ["acc_out"]),
         helper.make_node("Identity", ["cond_in"], ["cond_out"])],
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []),
         helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_in", TensorProto.FLOAT, ["N", 8])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []),
         helper.make_tensor_value_info("acc_out", TensorProto.FLOAT, ["N", 8])],
        [_init("loop_scale", np.full((8,), 0.5, np.float32))])
    half = (rng.standard_normal((8, 8)) * 0.1).astype(np.float16)
    brain = (rng.standard_normal(8) * 0.1).astype(ml_dtypes.bfloat16)
    nodes = [
        helper.make_node("Constant", [], ["w"], value=numpy_helper.from_array(w)),
        helper.make_node("MatMul", ["X", "w"], ["x1"]),
        helper.make_node("Constant", [], ["thr"], value=helper.make_tensor("thr", TensorProto.FLOAT, [], [0.0])),
        helper.make_node("ReduceSum", ["x1"], ["s"], keepdims=0),
        helper.make_node("Greater", ["s", "thr"], ["cond"]),
        helper.make_node("If", ["cond"], ["y_if"], then_branch=branch("then", 0.2), else_branch=branch("else", 0.4)),
        helper.make_node("Constant", [], ["trip"], value=numpy_helper.from_array(np.array(3, np.int64))),
        helper.make_node("Constant", [], ["true"], value=numpy_helper.from_array(np.array(True))),
        helper.make_node("Loop", ["trip", "true", "y_if"], ["y_loop"], body=loop_body),
        helper.make_node("Cast", ["half_w"], ["half_f"], to=TensorProto.FLOAT),
        helper.make_node("MatMul", ["y_loop", "half_f"], ["y_half"]),
        helper.make_node("Cast", ["brain_b"], ["brain_f"], to=TensorProto.FLOAT),
        helper.make_node("Add", ["y_half", "brain_f"], ["Y"]),
        helper.make_node("Constant", [], ["label"], value=helper.make_tensor("label", TensorProto.STRING, [1], [b"vad"])),
    ]
    inits = [_init("half_w", half), numpy_helper.from_array(brain, "brain_b"),
             helper.make_tensor("typed", TensorProto.FLOAT, [3], [1.5, -2.25, 3.0]),  # float_data, not raw
             helper.make_tensor("typed_i64", TensorProto.INT64, [2], [7, -9])]
    graph = helper.make_graph(nodes, "sub", [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["N", 8])],
                              [helper.make_tensor_value_info("Y", TensorProto.FLOAT, ["N", 8])], inits)
    return helper.make_model(graph, opset_imports=OPSET, ir_version=IR_VERSION)


def with_nan_payloads() -> onnx.ModelProto:
    """An Add with a constant holding NaN payloads, signed zeros, infinities and denormals."""
    bits = np.array([0x7FC00001, 0xFFC12345, 0x7F800001, 0x80000000, 0x00000001, 0x7F800000, 0xFF800000, 0x3F800000],
                    np.uint32)
    graph = helper.make_graph(
        [helper.make_node("Add", ["X", "c"], ["Y"])], "nan",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [8])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, [8])], [_init("c", bits.view(np.float32))])
    return helper.make_model(graph, opset_imports=OPSET, ir_version=IR_VERSION)
