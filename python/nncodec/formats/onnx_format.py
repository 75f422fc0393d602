"""ONNX models in and out.

Every tensor with data is found: graph initializers, sparse initializers, ``Constant`` node values
and other tensor attributes, at any depth of subgraphs (``If``/``Loop``/``Scan`` bodies), in local
functions and in training-info graphs. Their data (raw bytes, typed fields or external files) is
taken out of the protobuf; what remains (the skeleton) keeps everything else, so writing it back
with the same tensors reproduces the model, and in practice the very same bytes.

Tensors are matched between reading and writing by their position in one fixed traversal order,
recorded in ``attrs["slots"]``: for each tensor proto, the .nnz tensor name and where its data
lived, or ``None`` for tensors left untouched in the skeleton (dtypes .nnz does not hold, such as
strings or float8, and malformed tensors).
"""

from __future__ import annotations

import os
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto

from ..dtypes import NUMPY_DTYPES, check_shape
from ..errors import CorruptFileError, UnsafeInputError
from ..limits import DEFAULT_LIMITS, Limits
from ..model import ModelDocument

FORMAT = "onnx"
SUFFIXES = (".onnx",)

# ONNX data type -> .nnz dtype name, and the typed field that can hold it.
_ONNX_TYPES: dict[int, tuple[str, str]] = {
    TensorProto.FLOAT: ("float32", "float_data"),
    TensorProto.UINT8: ("uint8", "int32_data"),
    TensorProto.INT8: ("int8", "int32_data"),
    TensorProto.UINT16: ("uint16", "int32_data"),
    TensorProto.INT16: ("int16", "int32_data"),
    TensorProto.INT32: ("int32", "int32_data"),
    TensorProto.INT64: ("int64", "int64_data"),
    TensorProto.BOOL: ("bool", "int32_data"),
    TensorProto.FLOAT16: ("float16", "int32_data"),
    TensorProto.DOUBLE: ("float64", "double_data"),
    TensorProto.UINT32: ("uint32", "uint64_data"),
    TensorProto.UINT64: ("uint64", "uint64_data"),
    TensorProto.BFLOAT16: ("bfloat16", "int32_data"),
}
_TYPED_FIELDS = ("float_data", "int32_data", "int64_data", "double_data", "uint64_data")
_STORAGES = frozenset(_TYPED_FIELDS) | {"raw_data", "external"}
# Room between tensors of one external-data file (writers align tensors to pages or to the 64 KiB
# allocation granularity): a decoded file is no larger than its tensors plus this each.
EXTERNAL_ALIGNMENT_SLACK = 1 << 16
# Types stored bit-for-bit in int32_data as unsigned 16-bit patterns.
_BITS_IN_INT32 = {TensorProto.FLOAT16: np.uint16, TensorProto.BFLOAT16: np.uint16}


def sniff(head: bytes) -> bool:
    """ONNX has no magic number: a ModelProto starts with field 1 (ir_version, varint) in practice."""
    return len(head) > 1 and head[0] == 0x08


# ---------------------------------------------------------------------------------------------
# Traversal


def _graph_tensors(graph: onnx.GraphProto, where: str) -> Iterator[tuple[TensorProto, str]]:
    for t in graph.initializer:
        yield t, t.name or f"{where}initializer"
    for st in graph.sparse_initializer:
        base = st.values.name or f"{where}sparse"
        yield st.values, base
        yield st.indices, base + ".indices"
    yield from _nodes_tensors(graph.node, where)


def _nodes_tensors(nodes, where: str) -> Iterator[tuple[TensorProto, str]]:
    for node in nodes:
        node_id = (node.output[0] if node.output and node.output[0] else node.name) or node.op_type
        for attr in node.attribute:
            label = node_id if node.op_type == "Constant" else f"{node_id}.{attr.name}"
            if attr.type == onnx.AttributeProto.TENSOR:
                yield attr.t, label
            elif attr.type == onnx.AttributeProto.TENSORS:
                for i, t in enumerate(attr.tensors):
                    yield t, f"{label}[{i}]"
            elif attr.type == onnx.AttributeProto.SPARSE_TENSOR:
                yield attr.sparse_tensor.values, label
                yield attr.sparse_tensor.indices, label + ".indices"
            elif attr.type == onnx.AttributeProto.GRAPH:
                yield from _graph_tensors(attr.g, f"{node_id}.{attr.name}/")
            elif attr.type == onnx.AttributeProto.GRAPHS:
                for i, g in enumerate(attr.graphs):
                    yield from _graph_tensors(g, f"{node_id}.{attr.name}[{i}]/")


def _model_tensors(model: onnx.ModelProto) -> Iterator[tuple[TensorProto, str]]:
    yield from _graph_tensors(model.graph, "")
    for func in model.functions:
        yield from _nodes_tensors(func.node, f"{func.domain}.{func.name}/")
    for i, info in enumerate(model.training_info):
        yield from _graph_tensors(info.initialization, f"training_info[{i}].initialization/")
        yield from _graph_tensors(info.algorithm, f"training_info[{i}].algorithm/")


# ---------------------------------------------------------------------------------------------
# External data


def _external_info(t: TensorProto) -> dict[str, str]:
    info = {e.key: e.value for e in t.external_data}
    # protobuf hands out proto2 string fields that are not valid UTF-8 as bytes
    if not all(isinstance(v, str) for item in info.items() for v in item):
        raise CorruptFileError(f"tensor {t.name!r}: external data entries are not valid UTF-8")
    return info


def safe_external_path(base_dir: Path, location: str) -> Path:
    """Resolve an external-data location, refusing anything that leaves the model's folder."""
    if not location or os.path.isabs(location) or "\\" in location or "\x00" in location:
        raise UnsafeInputError(f"external data location {location!r} is not a plain relative path")
    base = base_dir.resolve()
    target = (base / location).resolve()
    if base not in target.parents:
        raise UnsafeInputError(f"external data location {location!r} points outside the model's folder")
    return target


def _external_range(info: dict[str, str], name: str) -> tuple[int, int | None]:
    try:
        offset = int(info.get("offset", "0"))
        length = int(info["length"]) if "length" in info else None
    except ValueError:
        raise CorruptFileError(f"tensor {name!r}: malformed external data offset/length") from None
    if offset < 0 or (length is not None and length < 0):
        raise CorruptFileError(f"tensor {name!r}: negative external data offset/length")
    return offset, length


class _ExternalRanges:
    """The byte ranges read from each external-data file, so that no two tensors share bytes
    (aliased ranges would be coded once per tensor: a small model, a huge .nnz)."""

    def __init__(self) -> None:
        self.taken: dict[Path, list[tuple[int, int, str]]] = defaultdict(list)

    def check(self) -> None:
        for path, ranges in self.taken.items():
            ranges.sort()
            for (_, end, first), (begin, _, second) in zip(ranges, ranges[1:]):
                if begin < end:
                    raise CorruptFileError(f"tensors {first!r} and {second!r} share bytes of the external data file "
                                           f"{path.name!r}")


def _read_external(t: TensorProto, base_dir: Path, ranges: _ExternalRanges) -> bytes:
    info = _external_info(t)
    path = safe_external_path(base_dir, info.get("location", ""))
    offset, length = _external_range(info, t.name)
    if not path.is_file():
        raise CorruptFileError(f"tensor {t.name!r}: external data file {info['location']!r} not found")
    size = path.stat().st_size
    if offset > size or (length is not None and offset + length > size):
        raise CorruptFileError(f"tensor {t.name!r}: external data range is past the end of {info['location']!r}")
    length = size - offset if length is None else length
    ranges.taken[path].append((offset, offset + length, t.name))
    with open(path, "rb") as f:
        f.seek(offset)
        return f.read(length)


# ---------------------------------------------------------------------------------------------
# Reading


def _element_count(t: TensorProto) -> int:
    count = 1
    for d in t.dims:
        if d < 0:
            raise CorruptFileError(f"tensor {t.name!r} has a negative dimension")
        count *= d
    return count


def _take_data(t: TensorProto, base_dir: Path, ranges: _ExternalRanges) -> tuple[np.ndarray, str] | None:
    """The tensor's values and where they were stored, or None to leave it in the skeleton."""
    if t.data_type not in _ONNX_TYPES or t.HasField("segment"):
        return None
    name, typed_field = _ONNX_TYPES[t.data_type]
    dtype = NUMPY_DTYPES[name]
    count = _element_count(t)
    shape = check_shape(t.dims, f"tensor {t.name!r}")
    if t.data_location == TensorProto.EXTERNAL:
        data = _read_external(t, base_dir, ranges)
        if len(data) != count * dtype.itemsize:
            raise CorruptFileError(f"tensor {t.name!r}: external data size does not match its shape")
        return np.frombuffer(data, dtype=dtype).reshape(shape), "external"
    if t.raw_data:
        if len(t.raw_data) != count * dtype.itemsize:
            return None  # malformed: keep it as it is
        return np.frombuffer(t.raw_data, dtype=dtype).reshape(shape), "raw_data"
    present = [f for f in _TYPED_FIELDS if len(getattr(t, f))]
    if present != [typed_field] or len(getattr(t, typed_field)) != count:
        return None  # empty, or an unusual mix of fields: keep it as it is
    values = getattr(t, typed_field)
    if t.data_type in _BITS_IN_INT32:
        wide = np.asarray(values, dtype=np.int64)
        if wide.min() < 0 or wide.max() > 0xFFFF:
            return None
        array = wide.astype(np.uint16).view(dtype)
    else:
        array = np.asarray(values, dtype=dtype)
        if not np.array_equal(np.asarray(array.tolist()), np.asarray(list(values)), equal_nan=array.dtype.kind == "f"):
            return None  # values that do not survive the conversion exactly
    return array.reshape(shape), typed_field


def read(path: Path, limits: Limits = DEFAULT_LIMITS) -> ModelDocument:
    path = Path(path)
    try:
        model = onnx.load_model(str(path), load_external_data=False)
    except Exception as exc:  # onnx raises DecodeError, ValueError, ... on malformed input
        raise CorruptFileError(f"{path.name}: not a readable ONNX model ({exc})") from None
    if not model.HasField("graph"):
        raise CorruptFileError(f"{path.name}: not an ONNX model (it has no graph)")
    base_dir = path.parent
    tensors: dict[str, np.ndarray] = {}
    slots: list[list[str] | None] = []
    ranges = _ExternalRanges()
    for t, label in _model_tensors(model):
        if not isinstance(label, str):  # a tensor name that is not valid UTF-8 (see _external_info)
            raise CorruptFileError(f"{path.name}: tensor name {label!r} is not valid UTF-8")
        taken = _take_data(t, base_dir, ranges)
        if taken is None:
            slots.append(None)
            continue
        array, storage = taken
        name = label
        k = 1
        while name in tensors:
            k += 1
            name = f"{label}#{k}"
        tensors[name] = array
        slots.append([name, storage])
        if storage == "raw_data":
            t.ClearField("raw_data")
        elif storage != "external":
            t.ClearField(storage)
    ranges.check()
    return ModelDocument(FORMAT, tensors, model.SerializeToString(), {"slots": slots})


# ---------------------------------------------------------------------------------------------
# Writing


def _put_typed(t: TensorProto, storage: str, array: np.ndarray) -> None:
    flat = array.reshape(-1)
    if t.data_type in _BITS_IN_INT32:
        getattr(t, storage).extend(flat.view(np.uint16).astype(np.int64).tolist())
    elif flat.dtype == np.bool_:  # protobuf's int32_data refuses Python bools
        getattr(t, storage).extend(flat.astype(np.int32).tolist())
    else:
        getattr(t, storage).extend(flat.tolist())


def _slots(attrs: Any, count: int) -> list[tuple[str, str] | None]:
    """The stored slots (one per tensor proto), type-checked: they come from the .nnz file."""
    slots = attrs.get("slots", []) if isinstance(attrs, dict) else None
    if not isinstance(slots, list) or len(slots) != count:
        raise CorruptFileError("the stored ONNX graph does not match its tensor list")
    checked: list[tuple[str, str] | None] = []
    for slot in slots:
        if slot is None:
            checked.append(None)
        elif isinstance(slot, list) and len(slot) == 2 and isinstance(slot[0], str) and slot[1] in _STORAGES:
            checked.append((slot[0], slot[1]))
        else:
            raise CorruptFileError("the stored ONNX tensor list is damaged")
    return checked


def _write_external(staging, location: str, pieces: list[tuple[int, np.ndarray, str]]) -> None:
    """One external-data file: its tensors at their offsets, no two overlapping, and no file larger
    than its tensors and their alignment (a stored offset could otherwise ask for terabytes)."""
    pieces.sort(key=lambda p: p[0])
    end = 0
    for offset, array, name in pieces:
        if offset < end:
            raise CorruptFileError(f"tensor {name!r} overlaps another in external data file {location!r}")
        end = offset + array.nbytes
    room = sum(a.nbytes for _, a, _ in pieces) + EXTERNAL_ALIGNMENT_SLACK * len(pieces)
    if end > room:
        raise CorruptFileError(f"external data file {location!r} would be {end:,} bytes for {room:,} bytes of tensors")
    with open(staging.path(location), "wb") as f:
        for offset, array, _ in pieces:
            f.seek(offset)
            f.write(array.reshape(-1).view(np.uint8))


def write(doc: ModelDocument, out: Path, staging, *, inline_external: bool = False,
          limits: Limits = DEFAULT_LIMITS) -> None:
    """Write the model to ``staging.path(out.name)`` (external data files beside it, each opened
    once, one at a time)."""
    model = onnx.ModelProto()
    try:
        model.ParseFromString(doc.skeleton)
    except Exception as exc:
        raise CorruptFileError(f"the stored ONNX graph is damaged ({exc})") from None
    protos = list(_model_tensors(model))
    external: dict[str, list[tuple[int, np.ndarray, str]]] = defaultdict(list)
    for (t, _), slot in zip(protos, _slots(doc.attrs, len(protos))):
        if slot is None:
            continue
        name, storage = slot
        if name not in doc.tensors:
            raise CorruptFileError(f"tensor {name!r} is missing from the file")
        array = np.ascontiguousarray(doc.tensors[name])
        if storage == "external" and inline_external:
            del t.external_data[:]
            t.data_location = TensorProto.DEFAULT
            storage = "raw_data"
        if storage == "raw_data":
            t.raw_data = array.tobytes()
        elif storage == "external":
            info = _external_info(t)
            location = info.get("location", "")
            if location.casefold() == out.name.casefold():
                raise UnsafeInputError(f"tensor {name!r}: its external data file would replace the model file")
            external[location].append((_external_range(info, name)[0], array, name))
        else:
            _put_typed(t, storage, array)
    for location, pieces in external.items():
        _write_external(staging, location, pieces)
    with open(staging.path(out.name), "wb") as f:
        f.write(model.SerializeToString())
