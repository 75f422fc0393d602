"""ONNX models in and out.

Every tensor with data is found (:mod:`.onnx_wire`, from the protobuf wire format): graph
initializers, sparse initializers, ``Constant`` node values and other tensor attributes, at any
depth of subgraphs (``If``/``Loop``/``Scan`` bodies), in local functions and in training-info
graphs. A tensor whose data is one contiguous run of the file (``raw_data``, packed
``float_data``/``double_data``) or of an external-data file is coded; every other byte of the
model and its external files is kept (:mod:`.byte_layout`), so decoding gives the very same files
byte for byte, with no protobuf library (libnnz restores them too). Tensors typed otherwise
(``int32_data``-packed, strings, float8, segments) stay in the kept bytes.

Files written by format 1.0 hold a ModelProto without tensor data and ``attrs["slots"]``: for
each tensor proto in one fixed traversal order, the .nnz tensor name and where its data lived
(or ``None``); :func:`write` still decodes them.
"""

from __future__ import annotations

import itertools
import math
import os
from collections import defaultdict
from collections.abc import Iterator, Mapping
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import onnx
from onnx import TensorProto

from ..atomic import check_member_name
from ..dtypes import NUMPY_DTYPES, check_shape
from ..errors import CorruptFileError, UnsafeInputError
from ..limits import DEFAULT_LIMITS, Limits
from ..model import ModelDocument
from . import byte_layout, onnx_wire

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
        self.taken: dict[str, list[tuple[int, int, str]]] = defaultdict(list)

    def add(self, location: str, begin: int, end: int, name: str) -> None:
        self.taken[location].append((begin, end, name))

    def check(self) -> None:
        for location, ranges in self.taken.items():
            ranges.sort()
            for (_, end, first), (begin, _, second) in zip(ranges, ranges[1:]):
                if begin < end:
                    raise CorruptFileError(f"tensors {first!r} and {second!r} share bytes of the external data file "
                                           f"{location!r}")


def _map(path: Path) -> memoryview:
    """The file's bytes, mapped without holding a file descriptor (a model may have thousands of
    external-data files)."""
    from .. import _core

    return memoryview(_core.FileMap(str(path)))


class _Reader:
    """Turns the TensorProtos found in a model file into coded tensors and holes."""

    def __init__(self, path: Path, buf) -> None:
        self.path = path
        self.model = byte_layout.FileLayout(path.name, buf)
        self.externals: dict[str, byte_layout.FileLayout] = {}
        self.ranges = _ExternalRanges()
        self.tensors: dict[str, np.ndarray] = {}

    def add(self, t: onnx_wire.WireTensor) -> None:
        if t.external_location:  # the file goes with the model even when the tensor is not coded
            self._external_file(t)
        if t.unusual or t.data_type not in _ONNX_TYPES:
            return  # kept as it is, in the model's bytes (and its external file's)
        dtype = NUMPY_DTYPES[_ONNX_TYPES[t.data_type][0]]
        shape = check_shape(t.dims, f"{self.path.name}: tensor {t.label!r}")
        count = math.prod(shape)
        if t.external_location:
            found = None if t.data is not None else self._external(t, dtype, count)
        else:
            found = self._internal(t, dtype, count)
        if found is None:
            return
        layout, offset = found
        name = byte_layout.unique_name(t.label, self.tensors)
        self.tensors[name] = np.frombuffer(layout.data, dtype=dtype, count=count, offset=offset).reshape(shape)
        layout.holes.append(byte_layout.Hole(offset, name))

    def _internal(self, t: onnx_wire.WireTensor, dtype: np.dtype, count: int):
        if t.data is None:
            return None
        begin, end = t.data
        packed = {onnx_wire.FLOAT_DATA: TensorProto.FLOAT, onnx_wire.DOUBLE_DATA: TensorProto.DOUBLE}
        if end - begin != count * dtype.itemsize or packed.get(t.data_field, t.data_type) != t.data_type:
            return None  # malformed or typed otherwise: kept as it is
        return self.model, begin

    def _external_file(self, t: onnx_wire.WireTensor) -> byte_layout.FileLayout:
        """The layout of the tensor's external-data file (its location checked), read once."""
        location = t.external.get("location", "")
        layout = self.externals.get(location)
        if layout is None:
            path = safe_external_path(self.path.parent, location)
            check_member_name(location, "external data file name")
            if not path.is_file():
                raise CorruptFileError(f"tensor {t.label!r}: external data file {location!r} not found")
            layout = self.externals[location] = byte_layout.FileLayout(location, _map(path))
        return layout

    def _external(self, t: onnx_wire.WireTensor, dtype: np.dtype, count: int):
        layout = self._external_file(t)
        offset, length = _external_range(t.external, t.label)
        nbytes = count * dtype.itemsize
        if length is not None and length != nbytes or offset + nbytes > len(layout.data):
            raise CorruptFileError(f"tensor {t.label!r}: external data size does not match its shape")
        self.ranges.add(layout.name, offset, offset + nbytes, t.label)
        return layout, offset


def read(path: Path, limits: Limits = DEFAULT_LIMITS) -> ModelDocument:
    """The model file (and its external-data files) as byte layouts with the tensors' holes."""
    path = Path(path)
    buf = _map(path)
    try:
        found = onnx_wire.tensors(buf, len(buf))
        graph = onnx_wire.has_graph(buf, len(buf))
    except CorruptFileError as exc:
        raise CorruptFileError(f"{path.name}: not a readable ONNX model ({exc})") from None
    if not graph:
        raise CorruptFileError(f"{path.name}: not an ONNX model (it has no graph)")
    reader = _Reader(path, buf)
    for t in found:
        reader.add(t)
    reader.ranges.check()
    return ModelDocument(FORMAT, reader.tensors, files=[reader.model, *reader.externals.values()])


def model_proto(doc: ModelDocument):
    """The whole model with its tensors' data inside (external data read in), for tools that
    analyse or change the graph (fidelity targets, pruning)."""
    import tempfile

    from ..atomic import Staging

    with tempfile.TemporaryDirectory(prefix="nncodec-onnx-") as tmp:
        staging = Staging(Path(tmp), Path(tmp))
        write(doc, Path("model.onnx"), staging)
        return onnx.load_model(str(staging.path("model.onnx")))


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
    """Write the model to ``staging.path(out.name)``, its external-data files beside it (or their
    data inside the model with ``inline_external``)."""
    if doc.files:
        files = byte_layout.write_document_files(doc, out, staging)
        check_restored(files, limits)
        if inline_external:
            inline_external_data([p for _, p in files])
        return
    _write_slots(doc, out, staging, inline_external)


def check_restored(files: list[tuple[str, Path]], limits: Limits = DEFAULT_LIMITS, attrs: Any = None) -> None:
    """The files came from a .nnz file, which may be hostile: the model's tensors may only name
    external-data files that were restored with it (never a file elsewhere). ``files``: (stored
    name, path) of each file restored, the model first."""
    (model_name, model_path), others = files[0], files[1:]
    check_external_locations(model_path.name, _map(model_path), model_name, [name for name, _ in others])


def check_external_locations(shown: str, model, model_name: str, others: list[str]) -> None:
    """The serialized model ``model`` (stored as ``model_name``, called ``shown`` in errors) names
    no external-data file but those among ``others`` (stored names of the files restored with it)."""
    try:
        locations = onnx_wire.external_locations(model, len(model))
    except CorruptFileError as exc:
        raise CorruptFileError(f"{shown}: not a readable ONNX model ({exc})") from None
    restored = external_names(model_name, others)
    for location in locations:
        if location not in restored:
            raise UnsafeInputError(f"{shown}: a tensor's external data names {location[:200]!r}, which is "
                                   "not one of the model's files")


def external_names(model_name: str, others: list[str]) -> dict[str, str]:
    """The locations the model stored as ``model_name`` may give its external data, each to the
    stored name of the file it is: the files among ``others`` in the model's folder or below."""
    folder = PurePosixPath(model_name).parent
    return {PurePosixPath(name).relative_to(folder).as_posix(): name for name in others
            if PurePosixPath(name).is_relative_to(folder)}


def inline_external_bytes(model: onnx.ModelProto, data: Mapping[str, bytes], *, graph_initializers: bool = True) -> None:
    """Puts the external data of the tensors of ``model`` inside it, from ``data``: the bytes of
    its external-data files by location (checked: the locations and ranges come from the file).
    ``graph_initializers`` False leaves those of the main graph's initializers external (the ones
    onnxruntime takes from files in memory; it reads the others, in subgraphs, only from disk)."""
    protos = _model_tensors(model)
    skipped = 0 if graph_initializers else len(model.graph.initializer)  # _model_tensors gives them first
    for t, _ in itertools.islice(protos, skipped, None):
        if t.data_location != TensorProto.EXTERNAL:
            continue
        info = _external_info(t)
        location = info.get("location", "")
        if location not in data:
            raise UnsafeInputError(f"tensor {t.name!r}: its external data names {location[:200]!r}, which is not one "
                                   "of the model's files")
        offset, length = _external_range(info, t.name)
        end = len(data[location]) if length is None else offset + length
        if end > len(data[location]) or offset > end:
            raise CorruptFileError(f"tensor {t.name!r}: its external data runs past the end of {location!r}")
        t.raw_data = data[location][offset:end]
        del t.external_data[:]
        t.data_location = TensorProto.DEFAULT


def inline_external_data(paths: list[Path]) -> None:
    """Puts the external data of the model at paths[0] inside it, and removes the other files."""
    model = onnx.load_model(str(paths[0]))  # reads the external data, relative to the model
    onnx.save_model(model, str(paths[0]))
    for p in paths[1:]:
        p.unlink()


def _write_slots(doc: ModelDocument, out: Path, staging, inline_external: bool) -> None:
    """Format 1.0: the stored ModelProto with each tensor's data put back into its slot."""
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
