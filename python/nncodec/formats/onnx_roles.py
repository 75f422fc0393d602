"""What each tensor of an ONNX model is for, read from the graph: which tensors are the weight
matrices and kernels of MatMul/Gemm/Conv (and along which axis their outputs run), which are
embeddings or normalization parameters. Used to decide what pruning may touch.
"""

from __future__ import annotations

from collections.abc import Iterator

import onnx


# Operators whose tensor inputs (from index 1 on) are normalization parameters.
_NORM_OPS = frozenset({
    "BatchNormalization", "LayerNormalization", "InstanceNormalization", "GroupNormalization",
    "RMSNormalization", "SimplifiedLayerNormalization", "SkipLayerNormalization",
    "SkipSimplifiedLayerNormalization", "LpNormalization",
})


def _attr_int(node: onnx.NodeProto, name: str, default: int) -> int:
    for a in node.attribute:
        if a.name == name:
            return int(a.i)
    return default


def _use(node: onnx.NodeProto, index: int) -> tuple[str, int | None]:
    """(kind, output axis of the weight, or None) of input ``index`` of ``node``.

    The output axis is where the layer's output units run: 1 (the last) for MatMul's B, which is
    (in, out); 0 or 1 for Gemm's B by transB; 0 for Conv kernels (out, in, k...); 1 for ConvTranspose
    kernels (in, out, k...).
    """
    op = node.op_type
    if op == "MatMul" and index == 1:
        return "dense", -1
    if op == "Gemm" and index == 1:
        return "dense", 0 if _attr_int(node, "transB", 0) else 1
    if op == "Conv" and index == 1:
        return "conv", 0
    if op == "ConvTranspose" and index == 1:
        return "conv", 1
    if op == "Gather" and index == 0:
        return "embedding", None
    if op in _NORM_OPS and index >= 1:
        return "norm", None
    return "other", None


def _graphs(model: onnx.ModelProto) -> Iterator[list[onnx.NodeProto]]:
    def walk(nodes) -> Iterator[list[onnx.NodeProto]]:
        yield list(nodes)
        for node in nodes:
            for a in node.attribute:
                if a.type == onnx.AttributeProto.GRAPH:
                    yield from walk(a.g.node)
                elif a.type == onnx.AttributeProto.GRAPHS:
                    for g in a.graphs:
                        yield from walk(g.node)

    yield from walk(model.graph.node)
    for func in model.functions:
        yield from walk(func.node)


def graph_roles(model: onnx.ModelProto) -> dict[str, tuple[str, int | None, str]]:
    """name -> (kind, output axis, consumer op) for every tensor some node consumes.

    kind is "dense" or "conv" for a weight, "embedding", "norm" or "other". A tensor with several
    uses takes the most restrictive: any use other than as a weight makes it "other" (or
    "embedding"/"norm"), and weights used with different output axes become "other".
    """
    rank = {"dense": 0, "conv": 0, "other": 1, "norm": 2, "embedding": 3}
    roles: dict[str, tuple[str, int | None, str]] = {}
    for nodes in _graphs(model):
        for node in nodes:
            for index, name in enumerate(node.input):
                if not name:
                    continue
                kind, axis = _use(node, index)
                new = (kind, axis, node.op_type)
                old = roles.get(name)
                if old is None:
                    roles[name] = new
                elif rank[new[0]] > rank[old[0]]:
                    roles[name] = new
                elif rank[new[0]] == rank[old[0]] == 0 and (old[0], old[1]) != (new[0], new[1]):
                    roles[name] = ("other", None, f"{old[2]}+{new[2]}")
    return roles
