"""``nncodec decode --to TARGET``: a model's tensors written to another format.

Every format module can give its tensors by name (``model_tensors(doc)`` where the coded tensors
are not simply the model's, as for PyTorch storages viewed by several tensors). Targets hold
tensors only: the graph, TorchScript code and non-tensor values of a checkpoint are not carried.

- ``safetensors``: one file; metadata from a safetensors source, ``{"format": "pt"}`` for PyTorch.
- ``npz``: numpy's ``savez``; bfloat16 tensors are widened to float32 (exactly: every bfloat16
  value is a float32 value), as numpy has no bfloat16.
- ``onnx-initializers``: an ONNX model with no nodes, every tensor a graph initializer (external
  data beside it when the model would pass protobuf's 2 GB limit).
"""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np

from ..dtypes import dtype_name, element_bytes
from ..errors import UnsupportedError
from ..limits import DEFAULT_LIMITS, Budget, Limits
from ..model import TENSORS_ONLY, ModelDocument

TARGETS = {"safetensors": ".safetensors", "npz": ".npz", "onnx-initializers": ".onnx"}
_ONNX_PROTO_LIMIT = 1_800_000_000


def suffix(target: str) -> str:
    try:
        return TARGETS[target]
    except KeyError:
        raise UnsupportedError(f"unknown target format {target!r} (choose from {', '.join(TARGETS)})") from None


def model_tensors(doc: ModelDocument, budget: Budget | None = None,
                  limits: Limits = DEFAULT_LIMITS) -> dict[str, np.ndarray]:
    """The model's tensors by name; copies a format makes (tensor views) are drawn from ``budget``."""
    from . import by_name

    if doc.format == TENSORS_ONLY:
        return dict(doc.tensors)
    getter = getattr(by_name(doc.format), "model_tensors", None)
    return getter(doc, budget, limits) if getter else dict(doc.tensors)


def _nnz_dtype(name: str, array: np.ndarray, target: str) -> str:
    dtype = dtype_name(array.dtype)
    if dtype is None:
        raise UnsupportedError(f"tensor {name!r} has dtype {array.dtype}, which {target} cannot hold")
    return dtype


def write_safetensors(arrays: dict[str, np.ndarray], path: Path, metadata: dict[str, str]) -> None:
    from .safetensors_format import SAFETENSORS_DTYPES

    header: dict[str, Any] = {"__metadata__": metadata} if metadata else {}
    offset = 0
    for name, array in arrays.items():
        dtype = _nnz_dtype(name, array, "safetensors")
        header[name] = {"dtype": SAFETENSORS_DTYPES[dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + array.nbytes]}
        offset += array.nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)  # the data starts 8-byte aligned, as safetensors writes it
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for array in arrays.values():
            f.write(element_bytes(array))


def write_npz(arrays: dict[str, np.ndarray], path: Path) -> None:
    import ml_dtypes

    out = {}
    for name, array in arrays.items():
        if array.dtype == ml_dtypes.bfloat16:
            array = array.astype(np.float32)
        elif array.dtype.kind != "c":  # complex is fine in npz
            _nnz_dtype(name, array, "npz")
        out[name] = array
    with open(path, "wb") as f:
        np.savez(f, **out)


def write_onnx_initializers(arrays: dict[str, np.ndarray], path: Path) -> None:
    import onnx

    from .onnx_format import _ONNX_TYPES

    onnx_types = {nnz: code for code, (nnz, _) in _ONNX_TYPES.items()}
    graph = onnx.GraphProto(name="initializers")
    total = 0
    for name, array in arrays.items():
        t = graph.initializer.add()
        t.name = name
        t.data_type = onnx_types[_nnz_dtype(name, array, "ONNX")]
        t.dims.extend(array.shape)
        t.raw_data = element_bytes(array).tobytes()
        total += array.nbytes
    model = onnx.helper.make_model(graph, producer_name="nncodec")
    external = total > _ONNX_PROTO_LIMIT
    onnx.save_model(model, str(path), save_as_external_data=external, all_tensors_to_one_file=True,
                    location=path.name + ".data", size_threshold=0)


def write(target: str, doc: ModelDocument, out: Path, staging, budget: Budget | None = None,
          limits: Limits = DEFAULT_LIMITS) -> None:
    """Write the tensors of ``doc`` as ``target`` to ``staging.path(out.name)``."""
    from . import by_name

    suffix(target)
    arrays = model_tensors(doc, budget, limits)
    path = staging.path(out.name)
    if target == "safetensors":
        source_metadata = None if doc.format == TENSORS_ONLY else getattr(by_name(doc.format), "metadata", None)
        metadata = source_metadata(doc, limits) if source_metadata else {"format": "pt"} if doc.format == "torch" else {}
        write_safetensors(arrays, path, metadata)
    elif target == "npz":
        write_npz(arrays, path)
    else:
        write_onnx_initializers(arrays, path)
