"""Where the tensor data of a serialized ONNX model lies, read from the protobuf wire format.

The data of a ``TensorProto`` is one contiguous run of the serialized file when it is held in
``raw_data``, or in ``float_data``/``double_data`` packed: those runs become holes of the file's
byte layout (:mod:`.byte_layout`), everything else stays as kept bytes, so the model is restored
byte for byte without a protobuf library. Tensors in external-data files become holes of those
files. Every tensor with data is found: graph initializers, sparse initializers, tensor
attributes of nodes (``Constant`` values and others) at any depth of subgraphs, in local
functions (their nodes and default attributes) and in training-info graphs.

This is a reader of untrusted bytes: every length is checked against its message, nesting is
bounded, and anything unusual (a field given twice, a packed field of the wrong length, an
unknown data type) leaves that tensor in the kept bytes rather than guessing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from ..errors import CorruptFileError, LimitExceededError

MAX_NESTING = 64  # graphs inside attributes inside nodes inside graphs...

# Wire types.
VARINT, FIXED64, LENGTH, FIXED32 = 0, 1, 2, 5

# TensorProto fields.
_DIMS, _DATA_TYPE, _SEGMENT, FLOAT_DATA, _NAME, RAW_DATA, DOUBLE_DATA = 1, 2, 3, 4, 8, 9, 10
_EXTERNAL_DATA, _DATA_LOCATION = 13, 14
_TYPED_FIELDS = frozenset({4, 5, 7, 10, 11})  # float, int32, int64, double, uint64 data
EXTERNAL = 1  # TensorProto.DataLocation


def _varint(buf, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise CorruptFileError("ONNX: truncated or overlong varint")
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def fields(buf, start: int, end: int) -> Iterator[tuple[int, int, int, int]]:
    """(field number, wire type, value or payload start, payload end) of each field of the
    message in buf[start:end]; for VARINT and fixed types the value is the third item."""
    pos = start
    while pos < end:
        key, pos = _varint(buf, pos, end)
        number, wire = key >> 3, key & 7
        if wire == VARINT:
            value, pos = _varint(buf, pos, end)
            yield number, wire, value, pos
        elif wire == LENGTH:
            length, pos = _varint(buf, pos, end)
            if length > end - pos:
                raise CorruptFileError("ONNX: a field runs past its message")
            yield number, wire, pos, pos + length
            pos += length
        elif wire in (FIXED64, FIXED32):
            size = 8 if wire == FIXED64 else 4
            if size > end - pos:
                raise CorruptFileError("ONNX: a field runs past its message")
            yield number, wire, int.from_bytes(buf[pos:pos + size], "little"), pos + size
            pos += size
        else:
            raise CorruptFileError(f"ONNX: unsupported wire type {wire}")


@dataclass
class WireTensor:
    """A TensorProto as found in the file."""

    label: str                      # its name, or where it is (graph path) when unnamed
    data_type: int = 0
    dims: list[int] = field(default_factory=list)
    data: tuple[int, int] | None = None  # (start, end) of raw_data or a packed float/double field
    data_field: int = 0
    external: dict[str, str] = field(default_factory=dict)
    external_location: bool = False
    unusual: bool = False           # a field given twice, a segment, typed data besides raw_data


def _text(buf, start: int, end: int) -> str:
    try:
        return bytes(buf[start:end]).decode("utf-8")
    except UnicodeDecodeError:
        raise CorruptFileError("ONNX: a name is not valid UTF-8") from None


def _read_tensor(buf, start: int, end: int, label: str, own_name: bool) -> WireTensor:
    """The tensor at buf[start:end], labelled by its own name when ``own_name`` and it has one."""
    t = WireTensor(label)
    seen: set[int] = set()
    for number, wire, a, b in fields(buf, start, end):
        repeated_ok = number in (_DIMS, _EXTERNAL_DATA) or (number in _TYPED_FIELDS and wire != LENGTH)
        if number in seen and not repeated_ok:
            t.unusual = True
        seen.add(number)
        if number == _DIMS:
            t.dims.extend(_packed_varints(buf, a, b) if wire == LENGTH else [a])
        elif number == _DATA_TYPE and wire == VARINT:
            t.data_type = a
        elif number == _NAME and wire == LENGTH and own_name:
            t.label = _text(buf, a, b) or label
        elif number in (RAW_DATA, FLOAT_DATA, DOUBLE_DATA) and wire == LENGTH:
            t.unusual |= t.data is not None
            t.data, t.data_field = (a, b), number
        elif number == _EXTERNAL_DATA and wire == LENGTH:
            entry = {k: _text(buf, x, y) for k, _, x, y in fields(buf, a, b) if k in (1, 2)}
            t.external[entry.get(1, "")] = entry.get(2, "")
        elif number == _DATA_LOCATION and wire == VARINT:
            t.external_location = a == EXTERNAL
        elif number == _SEGMENT or number in _TYPED_FIELDS:
            t.unusual = True
    return t


def _packed_varints(buf, start: int, end: int) -> list[int]:
    out, pos = [], start
    while pos < end:
        value, pos = _varint(buf, pos, end)
        out.append(value - (1 << 64) if value >= 1 << 63 else value)
    return out


def _node_label(buf, start: int, end: int) -> tuple[str, str, list[tuple[int, int]]]:
    """(label of its tensors, op type, attribute spans) of a NodeProto (fields in any order)."""
    output = name = op_type = ""
    attributes: list[tuple[int, int]] = []
    for number, wire, a, b in fields(buf, start, end):
        if wire != LENGTH:
            continue
        if number == 2 and not output:
            output = _text(buf, a, b)
        elif number == 3:
            name = _text(buf, a, b)
        elif number == 4:
            op_type = _text(buf, a, b)
        elif number == 5:
            attributes.append((a, b))
    return output or name or op_type, op_type, attributes


def _attribute_name(buf, start: int, end: int) -> str:
    return next((_text(buf, a, b) for number, wire, a, b in fields(buf, start, end) if number == 1 and wire == LENGTH),
                "")


def has_graph(buf, size: int) -> bool:
    """Whether the ModelProto buf[0:size] has a graph (field 7)."""
    return any(number == 7 and wire == LENGTH for number, wire, _, _ in fields(buf, 0, size))


def external_locations(buf, size: int) -> list[str]:
    """The external-data file of every tensor of the model that keeps its data in one."""
    return [t.external.get("location", "") for t in tensors(buf, size) if t.external_location]


def tensors(buf, size: int) -> list[WireTensor]:
    """Every TensorProto of the serialized ModelProto buf[0:size] that can hold data, in file
    order, labelled as nncodec has always named them (initializers by name; node attributes by
    the node's first output: "conv/out" for a Constant, "node.attr" otherwise; subgraph and
    training-graph tensors with their path)."""
    found: list[WireTensor] = []
    training = 0
    for number, wire, a, b in fields(buf, 0, size):
        if wire != LENGTH:
            continue
        if number == 7:
            _graph(buf, a, b, "", found, 1)
        elif number == 25:
            for n, w, x, y in fields(buf, a, b):
                if n == 7 and w == LENGTH:
                    _node(buf, x, y, found, 2)
        elif number == 20:
            for n, w, x, y in fields(buf, a, b):
                if n in (1, 2) and w == LENGTH:
                    part = "initialization" if n == 1 else "algorithm"
                    _graph(buf, x, y, f"training_info[{training}].{part}/", found, 2)
            training += 1
    return found


def _graph(buf, start: int, end: int, where: str, found: list[WireTensor], depth: int) -> None:
    if depth > MAX_NESTING:
        raise LimitExceededError(f"ONNX: graphs nested over {MAX_NESTING} deep")
    for number, wire, a, b in fields(buf, start, end):
        if wire != LENGTH:
            continue
        if number == 5:
            found.append(_read_tensor(buf, a, b, f"{where}initializer", own_name=True))
        elif number == 15:
            _sparse(buf, a, b, f"{where}sparse", True, found)
        elif number == 1:
            _node(buf, a, b, found, depth + 1)


def _sparse(buf, start: int, end: int, label: str, own_name: bool, found: list[WireTensor]) -> None:
    """A SparseTensorProto: its values (labelled), then its indices (the values' label + ".indices")."""
    spans = {n: (a, b) for n, w, a, b in fields(buf, start, end) if n in (1, 2) and w == LENGTH}
    values = _read_tensor(buf, *spans[1], label, own_name) if 1 in spans else None
    base = values.label if values else label
    for n in sorted(spans, key=lambda n: spans[n][0]):
        found.append(values if n == 1 else _read_tensor(buf, *spans[2], base + ".indices", False))


def _node(buf, start: int, end: int, found: list[WireTensor], depth: int) -> None:
    node_id, op_type, attributes = _node_label(buf, start, end)
    for a, b in attributes:
        attr = _attribute_name(buf, a, b)
        label = node_id if op_type == "Constant" else f"{node_id}.{attr}"
        counts: dict[int, int] = {}
        for number, wire, x, y in fields(buf, a, b):
            if wire != LENGTH or number not in (5, 6, 10, 11, 22):
                continue
            k = counts[number] = counts.get(number, -1) + 1
            if number == 5:
                found.append(_read_tensor(buf, x, y, label, own_name=False))
            elif number == 10:
                found.append(_read_tensor(buf, x, y, f"{label}[{k}]", own_name=False))
            elif number == 22:
                _sparse(buf, x, y, label, False, found)
            else:
                _graph(buf, x, y, f"{node_id}.{attr}" + (f"[{k}]/" if number == 11 else "/"), found, depth + 1)
