"""Which tensors of a model pruning may touch, and how each is seen as a matrix.

The rule (docs/pruning.md):

* Only floating-point tensors with at least 2 dimensions and at least 2 rows and 2 columns in
  their matrix view: weight matrices and convolution kernels. Biases, normalization scales and
  other vectors are never pruned.
* Where the format knows the graph (ONNX), only tensors that every consumer uses as the weight of
  MatMul, Gemm, Conv or ConvTranspose; embeddings (Gather data), normalization parameters and
  anything else stay as they are.
* Where it does not (state dicts), by name: names that look like embeddings or normalization
  layers are left alone; everything else that passes the first rule is a weight whose output
  units run along axis 0 (PyTorch's (out, in, k...) layout).
* ``include`` / ``exclude`` (regular expressions searched in the tensor name) override the last
  two rules; the first always holds.

The matrix view puts output units on rows: the tensor with its output axis moved first, the other
axes flattened into columns (a conv kernel (out, in, kh, kw) becomes out x in*kh*kw).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ..dtypes import FLOAT_DTYPES, dtype_name
from ..errors import NnzError
from ..model import ModelDocument

_EMBEDDING_NAME = re.compile(r"embed|(^|[._/])(wte|wpe|tok_emb|pos_emb|position_ids|token_type)", re.I)
_NORM_NAME = re.compile(r"norm|(^|[._/])(ln|ln_\w+|bn\d*|gn)([._/]|$)", re.I)


@dataclass(frozen=True)
class WeightRole:
    """How a prunable tensor is used.

    kind:     "dense" (a matrix) or "conv" (a kernel with spatial axes).
    out_axis: the axis along which the layer's output units run.
    source:   where the decision came from ("graph: MatMul", "name", "include").
    """

    kind: str
    out_axis: int
    source: str


def _graph_roles(doc: ModelDocument) -> dict[str, tuple[str, int | None, str]] | None:
    if doc.format == "onnx":
        from ..formats.onnx_format import model_proto
        from ..formats.onnx_roles import graph_roles

        return graph_roles(model_proto(doc))
    return None


def _compile(pattern: str | None, what: str) -> re.Pattern | None:
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise NnzError(f"bad {what} pattern {pattern!r}: {exc}") from None


def weight_roles(doc: ModelDocument, include: str | None = None,
                 exclude: str | None = None) -> tuple[dict[str, WeightRole], dict[str, str]]:
    """(prunable tensors and their roles, the other tensors with the reason they are left alone)."""
    include_re, exclude_re = _compile(include, "--include"), _compile(exclude, "--exclude")
    graph = _graph_roles(doc)
    roles: dict[str, WeightRole] = {}
    skipped: dict[str, str] = {}
    for name, array in doc.tensors.items():
        if dtype_name(array.dtype) not in FLOAT_DTYPES:
            skipped[name] = "not floating point"
            continue
        if array.ndim < 2 or array.shape[0] < 2 or array.size // array.shape[0] < 2:
            skipped[name] = "not a matrix (bias, scale or vector)"
            continue
        kind = "conv" if array.ndim >= 3 else "dense"
        use = graph.get(name) if graph is not None else None
        if use is not None and use[0] in ("dense", "conv"):
            kind = use[0]
        if exclude_re is not None and exclude_re.search(name):
            skipped[name] = "excluded (--exclude)"
            continue
        if include_re is not None and include_re.search(name):
            out_axis = use[1] % array.ndim if use is not None and use[1] is not None else 0
            roles[name] = WeightRole(kind, out_axis, "include")
            continue
        if graph is not None:
            if use is None:
                skipped[name] = "not used by any node"
            elif use[0] in ("dense", "conv"):
                roles[name] = WeightRole(kind, use[1] % array.ndim, f"graph: {use[2]}")
            else:
                skipped[name] = f"{use[0]} (used by {use[2]})"
            continue
        if _EMBEDDING_NAME.search(name):
            skipped[name] = "embedding (by name)"
        elif _NORM_NAME.search(name):
            skipped[name] = "normalization (by name)"
        else:
            roles[name] = WeightRole(kind, 0, "name")
    return roles, skipped


def matrix_view(array: np.ndarray, role: WeightRole) -> np.ndarray:
    """The tensor as a float32 matrix with one row per output unit (a copy)."""
    moved = np.moveaxis(np.asarray(array), role.out_axis, 0)
    return np.ascontiguousarray(moved.reshape(moved.shape[0], -1), dtype=np.float32)


def tensor_mask(matrix_mask: np.ndarray, shape: tuple[int, ...], role: WeightRole) -> np.ndarray:
    """A mask over the matrix view mapped back to the tensor's own layout."""
    moved_shape = (shape[role.out_axis],) + tuple(d for k, d in enumerate(shape) if k != role.out_axis)
    return np.moveaxis(matrix_mask.reshape(moved_shape), 0, role.out_axis)
