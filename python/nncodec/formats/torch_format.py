"""PyTorch files in and out, without torch: ``torch.save`` (zip and legacy) and TorchScript.

Three kinds of file, told apart by their bytes:

- ``zip``: ``torch.save`` since PyTorch 1.6. A zip archive with ``<archive>/data.pkl`` (the
  pickled object) and one stored record ``<archive>/data/<key>`` per storage.
- ``legacy``: ``torch.save`` before 1.6 (or with ``_use_new_zipfile_serialization=False``).
  Five pickles (magic number, protocol, system info, the object, the storage keys), then each
  storage as an int64 element count and its raw bytes.
- ``torchscript``: ``torch.jit.save``. A zip archive like ``zip`` plus ``constants.pkl`` (tensors
  in ``constants/``), ``code/`` (TorchScript source) and other records.

The pickles are read with :mod:`.torch_pickle` (tensors, storages, containers and plain values
only; anything else is refused, naming the global). What gets coded is each storage, once, however
many tensors view it; everything else of the file is kept byte for byte (:mod:`.byte_layout`), so
decoding gives back the very same file: loadable by ``torch.load(..., weights_only=True)`` or
``torch.jit.load`` exactly as before. A legacy file stays a legacy file.

Coded tensor names are the tensors' paths in the pickled object (a state dict's keys; nested
containers joined with "/", TorchScript attributes with "."). A storage is coded under the name of
the first tensor that views it, with that tensor's shape when the tensor is the whole storage in
order; otherwise (a transposed, partial or shared view) as the storage named ``<path>.storage``:
in memory order with the axes sorted by stride when the view is a permutation of the whole
storage (a transposed weight), flat otherwise.
The views themselves (offset, shape, stride) are kept in the layout, so :func:`model_tensors` can
rebuild every tensor (for ``decode --to``).
"""

from __future__ import annotations

import math
import mmap
import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..dtypes import NUMPY_DTYPES, check_shape
from ..errors import ChecksumError, CorruptFileError, LimitExceededError, UnsafeInputError, UnsupportedError
from ..limits import DEFAULT_LIMITS, Budget, Limits
from ..model import ModelDocument
from . import byte_layout
from .torch_pickle import (
    STORAGE_DTYPES, TORCH_DTYPE_SIZES, UNTYPED_STORAGE, Global, RestrictedUnpickler, StorageRef, StorageSlice,
    TensorView, refuse, walk_tensors,
)
from .zip_records import ZipRecord, read_records

FORMAT = "torch"
SUFFIXES = (".pt", ".pth", ".ckpt", ".bin", ".jit", ".ptl")

LEGACY_MAGIC_NUMBER = 0x1950A86A20F9469CFC6C
LEGACY_PROTOCOL_VERSION = 1001
_LEGACY_HEAD = b"\x8a\x0a" + LEGACY_MAGIC_NUMBER.to_bytes(10, "little")  # LONG1 of the magic number
_ZIP_HEAD = b"PK\x03\x04"

# How each torch dtype is coded: as the .nnz dtype of its elements (complex: pairs of floats;
# quantized: the integers; anything else: bytes).
_CODED_DTYPES = {
    **{d: d for d in ("float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8",
                      "bool", "uint16", "uint32", "uint64")},
    "complex32": "float16", "complex64": "float32", "complex128": "float64",
    "qint8": "int8", "quint8": "uint8", "qint32": "int32",
}
# Torch dtypes numpy can hold, for rebuilding tensors from their storages.
VIEW_DTYPES = {**{d: NUMPY_DTYPES[d] for d in NUMPY_DTYPES},
                "complex64": np.dtype("<c8"), "complex128": np.dtype("<c16")}


def sniff(head: bytes) -> bool:
    return head.startswith(_ZIP_HEAD) or (head[:1] == b"\x80" and _LEGACY_HEAD in head[:32])


# ---------------------------------------------------------------------------------------------
# Parsing


@dataclass
class _Storage:
    ref: StorageRef
    offset: int = -1                                  # where its bytes start in the file
    crc_fields: list[int] = field(default_factory=list)


@dataclass
class _Parsed:
    kind: str
    storages: dict[int, _Storage] = field(default_factory=dict)       # id(StorageRef) -> where it is
    tensors: list[tuple[str, Any]] = field(default_factory=list)       # (path, TensorView|StorageRef|StorageSlice)
    big_endian: bool = False


def _map(path: Path) -> mmap.mmap:
    with open(path, "rb") as f:
        if f.seek(0, 2) == 0:
            raise CorruptFileError(f"{path.name}: empty file")
        return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)


def _storage_type(value: Any) -> str:
    if isinstance(value, Global) and value.name in STORAGE_DTYPES and value.module in ("torch", "torch.cuda"):
        return value.name
    if isinstance(value, Global) and value.name == UNTYPED_STORAGE:
        return UNTYPED_STORAGE
    raise CorruptFileError("a storage reference names no storage type")


def _text(value: Any, what: str) -> str:
    if isinstance(value, (bytes, bytearray)):
        value = bytes(value).decode("ascii", "replace")
    if not isinstance(value, str):
        raise CorruptFileError(f"{what} is not a string")
    return value


def _storage_ref(cache: dict[str, StorageRef], key: str, storage_type: str, numel: Any) -> StorageRef:
    if type(numel) is not int or numel < 0:
        raise CorruptFileError(f"storage {key!r} has an invalid size")
    ref = cache.get(key)
    if ref is None:
        ref = cache[key] = StorageRef(key, storage_type, numel, STORAGE_DTYPES.get(storage_type))
    elif ref.storage_type != storage_type or ref.numel != numel:
        raise CorruptFileError(f"storage {key!r} is described twice, differently")
    return ref


def _storage_pid(pid: Any) -> tuple[str, ...]:
    if not isinstance(pid, tuple) or not pid:
        raise refuse(f"persistent id {type(pid).__name__}", "only storages may be referenced")
    typename = _text(pid[0], "persistent id type")
    if typename == "module":
        raise refuse("a pickled module class (persistent id 'module')")
    if typename != "storage":
        raise refuse(f"persistent id {typename!r}", "only storages may be referenced")
    return pid[1:]


def _read_record(buf, record: ZipRecord, limits: Limits) -> bytes:
    if record.size > limits.max_pickle_bytes:
        raise LimitExceededError(f"{record.name}: a pickle of {record.size:,} bytes, over the limit of "
                                 f"{limits.max_pickle_bytes:,} (max_pickle_bytes)")
    raw = buf[record.data_offset:record.data_offset + record.compressed_size]
    if record.method == 0 and record.compressed_size == record.size:
        return raw
    if record.method != 8:
        raise UnsupportedError(f"{record.name}: zip compression method {record.method} is not supported")
    try:
        out = zlib.decompressobj(-15).decompress(raw, record.size + 1)
    except zlib.error as exc:
        raise CorruptFileError(f"{record.name} is damaged ({exc})") from None
    if len(out) != record.size:
        raise CorruptFileError(f"{record.name} is damaged (wrong size)")
    return out


def _torch_records(buf, size: int, name: str) -> tuple[dict[str, ZipRecord], str]:
    """The records of a PyTorch archive by lower-cased name, as torch looks them up (case-insensitively,
    under the folder of the first record), and that folder with its slash."""
    listed = read_records(buf, size)
    records: dict[str, ZipRecord] = {}
    for record in listed:
        other = records.setdefault(record.name.lower(), record)
        if other is not record:  # torch could read either of the two
            raise UnsafeInputError(f"{name}: the zip archive holds {other.name!r} and {record.name!r}, names "
                                   "that differ only in case")
    prefix = listed[0].name.split("/")[0] + "/" if listed and "/" in listed[0].name else ""
    if not prefix or prefix.lower() + "data.pkl" not in records:
        raise CorruptFileError(f"{name}: a zip archive without <archive>/data.pkl (in the folder of its first "
                               "record) is not a PyTorch file")
    return records, prefix.lower()


def _parse_zip(buf, size: int, name: str, verify_crc: bool, limits: Limits) -> _Parsed:
    records, prefix = _torch_records(buf, size, name)
    torchscript = prefix + "constants.pkl" in records
    parsed = _Parsed("torchscript" if torchscript else "zip")
    if prefix + "byteorder" in records:
        order = _read_record(buf, records[prefix + "byteorder"], limits)
        if order not in (b"little", b"big"):
            raise CorruptFileError(f"{name}: unknown byte order {order[:16]!r}")
        parsed.big_endian = order == b"big"
    cache: dict[str, StorageRef] = {}
    # (pickle record, folder of its storages, prefix of its tensor paths)
    sources = [("data.pkl", "data/", "")]
    if torchscript:
        sources += [(p, "constants/", p[:-4]) for p in ("constants.pkl", "bytecode.pkl") if prefix + p in records]
    for pickle_name, folder, path_prefix in sources:
        def persistent_load(pid: Any, folder: str = folder) -> StorageRef:
            fields = _storage_pid(pid)
            if len(fields) != 4:
                raise CorruptFileError("malformed storage reference")
            storage_type, key, _location, numel = fields
            return _storage_ref(cache, prefix + folder + _text(key, "storage key"), _storage_type(storage_type), numel)

        data = _read_record(buf, records[prefix + pickle_name], limits)
        obj, _ = RestrictedUnpickler(data, persistent_load=persistent_load, torchscript=torchscript,
                                     what=f"{name}: {pickle_name}", limits=limits).load()
        parsed.tensors.extend(walk_tensors(obj, path_prefix, limits.max_depth))
    for record_name, ref in cache.items():
        record = records.get(record_name.lower())
        if record is None:
            raise CorruptFileError(f"{name}: storage record {record_name!r} is missing")
        if not record.is_stored:
            raise UnsupportedError(f"{name}: storage record {record_name!r} is compressed or encrypted "
                                   "(torch writes them stored; re-save the file with torch.save)")
        if record.size != ref.nbytes:
            raise CorruptFileError(f"{name}: storage record {record_name!r} has {record.size} bytes, "
                                   f"its storage needs {ref.nbytes}")
        crc_fields = list(record.crc_fields)
        if verify_crc:
            crc = zlib.crc32(memoryview(buf)[record.data_offset:record.data_offset + record.size])
            if crc != record.crc:
                if record.crc != 0:
                    raise ChecksumError(f"{name}: storage record {record_name!r} fails its CRC-32 check")
                crc_fields = []  # written without CRCs (torch.serialization.set_crc32_options(False))
        parsed.storages[id(ref)] = _Storage(ref, record.data_offset, crc_fields)
    return parsed


def _parse_legacy(buf, size: int, name: str, limits: Limits) -> _Parsed:
    def no_pid(pid: Any) -> Any:
        raise refuse("a persistent id in the file header")

    def load(pos: int, what: str, persistent_load: Callable[[Any], Any] = no_pid) -> tuple[Any, int]:
        return RestrictedUnpickler(buf, persistent_load=persistent_load, what=f"{name}: {what}",
                                   limits=limits).load(pos)

    magic, pos = load(0, "magic number")
    if magic != LEGACY_MAGIC_NUMBER:
        raise CorruptFileError(f"{name}: not a torch.save file (wrong magic number)")
    protocol, pos = load(pos, "protocol version")
    if protocol != LEGACY_PROTOCOL_VERSION:
        raise UnsupportedError(f"{name}: torch.save protocol {protocol!r} is not supported")
    sys_info, pos = load(pos, "system info")
    parsed = _Parsed("legacy")
    parsed.big_endian = isinstance(sys_info, dict) and sys_info.get("little_endian") is False
    cache: dict[str, StorageRef] = {}
    views: dict[str, StorageSlice] = {}

    def persistent_load(pid: Any) -> StorageRef | StorageSlice:
        fields = _storage_pid(pid)
        if len(fields) != 5:
            raise CorruptFileError("malformed storage reference")
        storage_type, key, _location, numel, view = fields
        ref = _storage_ref(cache, _text(key, "storage key"), _storage_type(storage_type), numel)
        if view is None:
            return ref
        if not isinstance(view, tuple) or len(view) != 3 or not all(type(v) is int for v in view[1:]):
            raise CorruptFileError("malformed storage view")
        view_key, offset, view_numel = _text(view[0], "storage view key"), view[1], view[2]
        if offset < 0 or view_numel < 0 or offset + view_numel > ref.numel:
            raise CorruptFileError(f"storage view {view_key!r} is out of bounds")
        return views.setdefault(view_key, StorageSlice(ref, offset, view_numel))

    obj, pos = load(pos, "data", persistent_load)
    parsed.tensors.extend(walk_tensors(obj, "", limits.max_depth))
    keys, pos = load(pos, "storage keys")
    if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys) or len(set(keys)) != len(keys):
        raise CorruptFileError(f"{name}: malformed storage key list")
    if set(keys) != set(cache):
        raise CorruptFileError(f"{name}: the storage key list does not match the storages used")
    count_format = ">q" if parsed.big_endian else "<q"
    for key in keys:
        ref = cache[key]
        if pos + 8 > size:
            raise CorruptFileError(f"{name}: truncated (storage {key!r} is missing)")
        (count,) = struct.unpack(count_format, buf[pos:pos + 8])
        if count != ref.numel:
            raise CorruptFileError(f"{name}: storage {key!r} has {count} elements, its reference says {ref.numel}")
        if pos + 8 + ref.nbytes > size:
            raise CorruptFileError(f"{name}: truncated (storage {key!r} runs past the end)")
        parsed.storages[id(ref)] = _Storage(ref, pos + 8)
        pos += 8 + ref.nbytes
    return parsed


def _parse(buf, size: int, name: str, verify_crc: bool, limits: Limits) -> _Parsed:
    head = buf[:32]
    if head.startswith(_ZIP_HEAD) or head.startswith(b"PK\x05\x06"):
        return _parse_zip(buf, size, name, verify_crc, limits)
    if head[:1] == b"\x80" and _LEGACY_HEAD in head:
        return _parse_legacy(buf, size, name, limits)
    if size > 262 and buf[257:262] == b"ustar":
        raise UnsupportedError(f"{name}: the tar-based torch.save format (PyTorch < 0.4) is not supported")
    raise CorruptFileError(f"{name}: not a PyTorch file (neither a torch.save zip archive nor a legacy torch.save file)")


# ---------------------------------------------------------------------------------------------
# Reading


def _coded_dtype(ref: StorageRef) -> str:
    coded = _CODED_DTYPES.get(ref.dtype or "uint8", "uint8")
    return coded if ref.nbytes % NUMPY_DTYPES[coded].itemsize == 0 else "uint8"


def _target(obj: Any) -> tuple[StorageRef, str, int, tuple[int, ...], tuple[int, ...], bool]:
    """(storage, dtype, offset, shape, stride, quantized) of a tensor or a bare storage."""
    if isinstance(obj, TensorView):
        return obj.storage, obj.dtype, obj.offset, obj.shape, obj.stride, obj.quantized
    ref, offset, numel = (obj.root, obj.offset, obj.numel) if isinstance(obj, StorageSlice) else (obj, 0, obj.numel)
    dtype = "uint8" if ref.storage_type == UNTYPED_STORAGE else ref.dtype or "uint8"
    return ref, dtype, offset, (numel,), (1,), False


def _check_bounds(path: str, ref: StorageRef, dtype: str, offset: int, shape: tuple[int, ...],
                  stride: tuple[int, ...]) -> None:
    if offset < 0 or any(s < 0 for s in shape) or any(s < 0 for s in stride):
        raise CorruptFileError(f"tensor {path!r}: negative offset, size or stride")
    if 0 in shape:
        return
    last = offset + sum((n - 1) * s for n, s in zip(shape, stride))
    if (last + 1) * TORCH_DTYPE_SIZES[dtype] > ref.nbytes:
        raise CorruptFileError(f"tensor {path!r} reaches past the end of its storage")


def _is_whole(ref: StorageRef, dtype: str, offset: int, shape: tuple[int, ...], stride: tuple[int, ...],
              coded: str) -> bool:
    """Whether the view is the whole storage in C order, with the storage's coded element type."""
    if offset != 0 or _CODED_DTYPES.get(dtype) != coded or dtype.startswith("complex"):
        return False
    count = 1
    for n in shape:
        count *= n
    if count * NUMPY_DTYPES[coded].itemsize != ref.nbytes:
        return False
    expected = 1
    for n, s in zip(reversed(shape), reversed(stride)):
        if n != 1 and s != expected:
            return False
        expected *= n
    return True


def _physical_shape(ref: StorageRef, dtype: str, offset: int, shape: tuple[int, ...], stride: tuple[int, ...],
                    coded: str) -> tuple[int, ...] | None:
    """The storage's shape in memory order when the view is a permutation of the whole storage
    (e.g. weights kept transposed from another framework): axes by decreasing stride. None if not.

    Coding the storage with that shape rather than flat keeps it recognisable as a weight tensor
    (lossy codecs leave 1-D tensors, like biases, alone)."""
    if offset != 0 or _CODED_DTYPES.get(dtype) != coded or dtype.startswith("complex"):
        return None
    axes = sorted((a for a, n in enumerate(shape) if n != 1), key=lambda a: -stride[a])
    expected = 1
    for a in reversed(axes):
        if stride[a] != expected:
            return None
        expected *= shape[a]
    if expected * NUMPY_DTYPES[coded].itemsize != ref.nbytes:
        return None
    return tuple(shape[a] for a in axes)


def _document(parsed: _Parsed, buf, name: str) -> ModelDocument:
    tensors: dict[str, np.ndarray] = {}
    coded_names: dict[int, str] = {}
    holes: list[byte_layout.Hole] = []
    views: list[list[Any]] = []
    used_paths: set[str] = set()

    for path, obj in parsed.tensors:
        path = path or "tensor"  # torch.save(a_tensor): the tensor is the root
        ref, dtype, offset, shape, stride, quantized = _target(obj)
        storage = parsed.storages.get(id(ref))
        if storage is None:
            raise CorruptFileError(f"{name}: tensor {path!r} refers to a storage that is not in the file")
        check_shape(shape, f"{name}: tensor {path!r}")
        _check_bounds(path, ref, dtype, offset, shape, stride)
        if id(ref) not in coded_names:
            coded = _coded_dtype(ref)
            whole = _is_whole(ref, dtype, offset, shape, stride, coded)
            tensor_name = byte_layout.unique_name(path if whole else f"{path}.storage", tensors)
            item = NUMPY_DTYPES[coded].itemsize
            swap = item if parsed.big_endian and item > 1 else 0
            array = np.frombuffer(buf, dtype=f"<u{item}" if swap else NUMPY_DTYPES[coded],
                                  count=ref.nbytes // item, offset=storage.offset)
            if swap:
                array = array.byteswap().view(NUMPY_DTYPES[coded])
            physical = None if whole else _physical_shape(ref, dtype, offset, shape, stride, coded)
            tensors[tensor_name] = array.reshape(shape if whole else physical or (-1,))
            coded_names[id(ref)] = tensor_name
            holes.append(byte_layout.Hole(storage.offset, tensor_name, storage.crc_fields, swap))
        path = byte_layout.unique_name(path, used_paths)
        used_paths.add(path)
        views.append([path, coded_names[id(ref)], dtype, offset, list(shape), list(stride), quantized])
    files = [byte_layout.FileLayout(name, buf, holes)]
    return ModelDocument(FORMAT, tensors, attrs={"kind": parsed.kind, "views": views}, files=files)


def read(path: Path, limits: Limits = DEFAULT_LIMITS) -> ModelDocument:
    path = Path(path)
    buf = _map(path)
    return _document(_parse(buf, len(buf), path.name, verify_crc=True, limits=limits), buf, path.name)


def check_file(path: Path, limits: Limits = DEFAULT_LIMITS) -> str:
    """Parse a PyTorch file with every safety check (no CRC pass); returns its kind."""
    buf = _map(path)
    return _parse(buf, len(buf), path.name, verify_crc=False, limits=limits).kind


# ---------------------------------------------------------------------------------------------
# Writing


def write(doc: ModelDocument, out: Path, staging, *, limits: Limits = DEFAULT_LIMITS, **_options: Any) -> None:
    """Write the file back (byte for byte after lossless coding) to ``staging.path(out.name)``."""
    if doc.files:
        files = byte_layout.write_document_files(doc, out, staging)
    else:  # format 1.0
        files = [(out.name, staging.path(out.name))]
        byte_layout.write_files(doc.skeleton, doc.tensors, [files[0][1]], limits)
    check_restored(files, limits)


def check_restored(files: list[tuple[str, Path]], limits: Limits = DEFAULT_LIMITS, attrs: Any = None) -> None:
    """The file came from a .nnz file, which may be hostile: it must pass the same checks as any
    input (allowed globals only, consistent storages) before it is released. ``files``: (stored
    name, path) of each file restored, the model first."""
    check_file(files[0][1], limits)


@dataclass(frozen=True)
class StoredView:
    """One tensor of the model as its file holds it: ``shape`` elements of ``dtype`` (a torch dtype
    name; None for a dtype only the original format can hold, as safetensors' float8 tensors are
    coded) with ``stride`` from element ``offset`` of the coded tensor ``coded`` (its storage, in
    native byte order). Read from the .nnz file: :func:`stored_views` checks the types, and
    :meth:`check_bounds` the bounds once the storage's size is known."""

    path: str
    coded: str
    dtype: str | None
    offset: int
    shape: tuple[int, ...]
    stride: tuple[int, ...]
    quantized: bool = False

    @property
    def nbytes(self) -> int:
        return math.prod(self.shape) * TORCH_DTYPE_SIZES[self.dtype]

    def check_size(self, limits: Limits) -> None:
        """The view, copied out, is within the tensor size limit (a view may repeat its storage's
        elements without limit: stride 0)."""
        if self.nbytes > limits.max_tensor_bytes:
            raise LimitExceededError(f"tensor {self.path!r}: {self.nbytes:,} bytes, over the limit of "
                                     f"{limits.max_tensor_bytes:,} (max_tensor_bytes)")

    def check_bounds(self, storage_bytes: int) -> None:
        """Every element of the view lies inside a storage of ``storage_bytes`` bytes."""
        if len(self.shape) != len(self.stride) or min(self.shape + self.stride + (self.offset,)) < 0:
            raise CorruptFileError(f"tensor {self.path!r}: malformed view")
        if 0 in self.shape:
            return
        # An axis of length 1 never moves, so its stride (which a damaged file may make absurd) is not used.
        last = self.offset + sum((n - 1) * s for n, s in zip(self.shape, self.stride) if n > 1)
        if (last + 1) * TORCH_DTYPE_SIZES[self.dtype] > storage_bytes:
            raise CorruptFileError(f"tensor {self.path!r} reaches past the end of its storage")


def stored_views(attrs: Any) -> list[StoredView]:
    """The tensors of a PyTorch file as views of its coded storages (its recorded attributes: see
    :func:`_document`), type-checked: they come from the .nnz file."""
    views = attrs.get("views", []) if isinstance(attrs, dict) else None
    if not isinstance(views, list):
        raise CorruptFileError("the stored tensor views are damaged")
    out = []
    for entry in views:
        try:
            path, coded_name, dtype, offset, shape, stride, quantized = entry
            view = StoredView(str(path), str(coded_name), str(dtype), int(offset), tuple(int(s) for s in shape),
                              tuple(int(s) for s in stride), bool(quantized))
        except (TypeError, ValueError):
            raise CorruptFileError("the stored tensor views are damaged") from None
        if view.dtype not in TORCH_DTYPE_SIZES:
            raise CorruptFileError(f"tensor {view.path!r}: unknown dtype {view.dtype[:40]!r}")
        check_shape(view.shape, f"tensor {view.path!r}")
        out.append(view)
    return out


def model_tensors(doc: ModelDocument, budget: Budget | None = None,
                  limits: Limits = DEFAULT_LIMITS) -> dict[str, np.ndarray]:
    """Every tensor of the model by its path, rebuilt from its storage (views copied out, each
    copy drawn from ``budget``: a view may repeat its storage's elements without limit)."""
    out: dict[str, np.ndarray] = {}
    for view in stored_views(byte_layout.format_attrs(doc, limits)):
        if view.quantized:
            raise UnsupportedError(f"tensor {view.path!r} is quantized; it can only be decoded to its original format")
        view_dtype = VIEW_DTYPES.get(view.dtype)
        if view_dtype is None:
            raise UnsupportedError(f"tensor {view.path!r} has dtype {view.dtype}, which only its original format can hold")
        if view.coded not in doc.tensors:
            raise CorruptFileError(f"tensor {view.coded!r} is missing from the file")
        view.check_size(limits)
        if budget is not None:
            budget.take(view.nbytes, f"tensor {view.path!r}")
        out[view.path] = view_array(view, doc.tensors[view.coded], view_dtype)
    return out


def view_array(view: StoredView, coded: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """A copy of the tensor ``view`` from its storage ``coded``, with numpy's ``dtype`` for its elements."""
    storage = np.ascontiguousarray(coded).reshape(-1).view(np.uint8)
    view.check_bounds(storage.nbytes)
    if 0 in view.shape:
        return np.empty(view.shape, dtype=dtype)
    flat = storage[:storage.nbytes // dtype.itemsize * dtype.itemsize].view(dtype)
    byte_strides = tuple(s * dtype.itemsize if n > 1 else 0 for n, s in zip(view.shape, view.stride))
    return np.lib.stride_tricks.as_strided(flat[view.offset:], view.shape, byte_strides).copy()
