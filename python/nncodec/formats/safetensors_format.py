"""safetensors files in and out, single or sharded (``model.safetensors.index.json``).

A safetensors file is an 8-byte little-endian header length, a JSON header (tensor name ->
dtype, shape, data_offsets; optional ``__metadata__`` of strings) and the tensor bytes. The header
is checked by safetensors' own rules (offsets in bounds, contiguous, no overlap, sizes matching
dtype and shape); every tensor is coded and every other byte kept (:mod:`.byte_layout`), so the
decoded file is bit-identical to the original, header, metadata and padding included.

A sharded checkpoint is encoded from its index file: the index and all the shards it names go
into one .nnz, and decoding writes the index and each shard back under its own name beside it.
Dtypes .nnz does not have (float8, float4, complex...) are coded as their raw bytes.
"""

from __future__ import annotations

import mmap
import struct
from pathlib import Path
from typing import Any

import numpy as np

from .. import safe_json
from ..dtypes import NUMPY_DTYPES, check_shape
from ..errors import CorruptFileError, LimitExceededError, UnsupportedError
from ..limits import DEFAULT_LIMITS, Limits
from ..model import ModelDocument
from . import byte_layout
from .onnx_format import safe_external_path

FORMAT = "safetensors"
INDEX_SUFFIX = ".safetensors.index.json"
SUFFIXES = (".safetensors", INDEX_SUFFIX)
MAX_HEADER_BYTES = 100_000_000  # safetensors' own limit
MAX_INDEX_BYTES = 100_000_000

DTYPES = {
    "F64": "float64", "F32": "float32", "F16": "float16", "BF16": "bfloat16",
    "I64": "int64", "I32": "int32", "I16": "int16", "I8": "int8",
    "U64": "uint64", "U32": "uint32", "U16": "uint16", "U8": "uint8", "BOOL": "bool",
}
SAFETENSORS_DTYPES = {v: k for k, v in DTYPES.items()}


def sniff(head: bytes) -> bool:
    if len(head) < 9:
        return False
    (n,) = struct.unpack("<Q", head[:8])
    return 2 <= n <= MAX_HEADER_BYTES and head[8:9] == b"{"


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise CorruptFileError(f"the header names {k!r} twice")
        out[k] = v
    return out


def _parse_header(buf, size: int, name: str, limits: Limits = DEFAULT_LIMITS) -> tuple[dict[str, Any], int]:
    """The header of a safetensors file (checked) and where its data starts."""
    if size < 8:
        raise CorruptFileError(f"{name}: truncated (no safetensors header)")
    (n,) = struct.unpack("<Q", buf[:8])
    if n > MAX_HEADER_BYTES:
        raise LimitExceededError(f"{name}: safetensors header of {n} bytes is over the limit")
    if 8 + n > size:
        raise CorruptFileError(f"{name}: truncated (the header runs past the end of the file)")
    header = safe_json.loads(buf[8:8 + n], f"{name}: the safetensors header", limits, _no_duplicates)
    if not isinstance(header, dict):
        raise CorruptFileError(f"{name}: the safetensors header is not a JSON object")
    metadata = header.get("__metadata__", {})
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise CorruptFileError(f"{name}: __metadata__ must map strings to strings")
    data_start = 8 + n
    spans = []
    for key, info in header.items():
        if key == "__metadata__":
            continue
        try:
            dtype, shape, (begin, end) = info["dtype"], info["shape"], info["data_offsets"]
        except (TypeError, KeyError, ValueError):
            raise CorruptFileError(f"{name}: tensor {key!r} has a malformed entry") from None
        if not isinstance(dtype, str) or not isinstance(shape, list) or not all(
                type(d) is int and d >= 0 for d in shape) or not all(type(o) is int for o in (begin, end)):
            raise CorruptFileError(f"{name}: tensor {key!r} has a malformed entry")
        if not 0 <= begin <= end:
            raise CorruptFileError(f"{name}: tensor {key!r} has invalid data offsets")
        check_shape(shape, f"{name}: tensor {key!r}")
        if dtype in DTYPES:
            count = int(np.prod(shape, dtype=object)) if shape else 1
            if count * NUMPY_DTYPES[DTYPES[dtype]].itemsize != end - begin:
                raise CorruptFileError(f"{name}: tensor {key!r}: data size does not match dtype and shape")
        spans.append((begin, end, key))
    expected = 0
    for begin, end, key in sorted(spans):
        if begin != expected:
            raise CorruptFileError(f"{name}: tensor {key!r} overlaps another or leaves a gap")
        expected = end
    if data_start + expected != size:
        raise CorruptFileError(f"{name}: the data is {size - data_start} bytes, the header describes {expected}")
    return header, data_start


def _map(path: Path) -> mmap.mmap:
    with open(path, "rb") as f:
        if f.seek(0, 2) == 0:
            raise CorruptFileError(f"{path.name}: empty file")
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)


def _read_file(path: Path, name: str, tensors: dict[str, np.ndarray], raw: list[str],
               limits: Limits) -> tuple[byte_layout.FileLayout, dict[str, str]]:
    """The file's layout (its tensors added to ``tensors``) and its metadata."""
    buf = _map(path)
    header, data_start = _parse_header(buf, len(buf), name, limits)
    layout = byte_layout.FileLayout(name, buf)
    for key, info in header.items():
        if key == "__metadata__":
            continue
        begin, end = info["data_offsets"]
        tensor_name = byte_layout.unique_name(key, tensors)
        if info["dtype"] in DTYPES:
            dtype = NUMPY_DTYPES[DTYPES[info["dtype"]]]
            array = np.frombuffer(buf, dtype=dtype, count=(end - begin) // dtype.itemsize, offset=data_start + begin)
            tensors[tensor_name] = array.reshape(info["shape"])
        else:  # a dtype .nnz does not know: its bytes
            tensors[tensor_name] = np.frombuffer(buf, dtype=np.uint8, count=end - begin, offset=data_start + begin)
            raw.append(tensor_name)
        layout.holes.append(byte_layout.Hole(data_start + begin, tensor_name))
    return layout, header.get("__metadata__", {})


def _index_shards(path: Path, limits: Limits = DEFAULT_LIMITS) -> tuple[bytes, list[str]]:
    """The bytes of a sharded checkpoint's index and the shard file names it lists."""
    if path.stat().st_size > MAX_INDEX_BYTES:
        raise LimitExceededError(f"{path.name}: index file over the size limit")
    index_bytes = path.read_bytes()
    index = safe_json.loads(index_bytes, path.name, limits)
    weight_map = index.get("weight_map") if isinstance(index, dict) else None
    if not isinstance(weight_map, dict) or not all(isinstance(v, str) for v in weight_map.values()):
        raise CorruptFileError(f"{path.name}: a safetensors index needs a weight_map of tensor -> file")
    return index_bytes, sorted(set(weight_map.values()))


def input_files(path: Path) -> list[Path]:
    """The files encoding ``path`` reads: the file, or an index and its shards."""
    path = Path(path)
    if not path.name.lower().endswith(INDEX_SUFFIX):
        return [path]
    return [path] + [safe_external_path(path.parent, shard) for shard in _index_shards(path)[1]]


def read(path: Path, limits: Limits = DEFAULT_LIMITS) -> ModelDocument:
    path = Path(path)
    tensors: dict[str, np.ndarray] = {}
    raw: list[str] = []
    if path.name.lower().endswith(INDEX_SUFFIX):
        index_bytes, shards = _index_shards(path, limits)
        files = [byte_layout.FileLayout(path.name, index_bytes)]
        metadata: dict[str, str] = {}
        for shard in shards:
            shard_path = safe_external_path(path.parent, shard)
            if not shard_path.is_file():
                raise CorruptFileError(f"{path.name}: shard {shard!r} not found")
            layout, shard_metadata = _read_file(shard_path, shard, tensors, raw, limits)
            files.append(layout)
            metadata = metadata or shard_metadata
        kind = "sharded"
    else:
        layout, metadata = _read_file(path, path.name, tensors, raw, limits)
        files = [layout]
        kind = "single"
    return ModelDocument(FORMAT, tensors, attrs={"kind": kind, "metadata": metadata, "raw": raw}, files=files)


def write(doc: ModelDocument, out: Path, staging, *, limits: Limits = DEFAULT_LIMITS, **_options: Any) -> None:
    """Write the file (or the index and its shards) back, bit for bit after lossless coding."""
    if doc.files:
        check_restored(byte_layout.write_document_files(doc, out, staging), limits)
        return
    header, _ = byte_layout.unpack(doc.skeleton, limits)  # format 1.0
    names = [f.get("name") if isinstance(f, dict) else None for f in header["files"]]
    if not names or not all(isinstance(n, str) and n for n in names):
        raise CorruptFileError("the stored file layout is damaged")
    sharded = header.get("kind") == "sharded"
    if (not sharded and len(names) != 1) or not all(n.lower().endswith(".safetensors") for n in names[1:]):
        raise CorruptFileError("the stored file layout names files that are not safetensors shards")
    # The first file takes the output's name; shards keep theirs, beside it (never outside).
    paths = [staging.path(out.name)] + [staging.path(n) for n in names[1:]]
    byte_layout.write_files(doc.skeleton, doc.tensors, paths, limits)
    check_restored(list(zip(names, paths)), limits)


def check_restored(files: list[tuple[str, Path]], limits: Limits = DEFAULT_LIMITS, attrs: Any = None) -> None:
    """The files came from a .nnz file, which may be hostile: each safetensors file written (the
    shards, after a sharded checkpoint's index) must pass safetensors' own checks. ``files``:
    (stored name, path) of each file restored, the model (or index) first."""
    paths = [p for _, p in files]
    sharded = len(paths) > 1
    for p in paths[1:] if sharded else paths:
        if sharded and not p.name.lower().endswith(".safetensors"):
            raise CorruptFileError(f"{p.name}: a safetensors checkpoint's files are the index and *.safetensors shards")
        buf = _map(p)
        _parse_header(buf, len(buf), p.name, limits)


def model_tensors(doc: ModelDocument, budget=None, limits: Limits = DEFAULT_LIMITS) -> dict[str, np.ndarray]:
    raw = byte_layout.format_attrs(doc, limits).get("raw", [])
    raw = set(raw) if isinstance(raw, list) and all(isinstance(r, str) for r in raw) else set()
    for name in raw & set(doc.tensors):
        raise UnsupportedError(f"tensor {name!r} has a dtype only safetensors can hold")
    return dict(doc.tensors)


def metadata(doc: ModelDocument, limits: Limits = DEFAULT_LIMITS) -> dict[str, str]:
    meta = byte_layout.format_attrs(doc, limits).get("metadata", {})
    if not isinstance(meta, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in meta.items()):
        return {}
    return meta
