"""Delta coding against a base model (``--base``): which tensor each tensor is coded against,
the base's fingerprints, and opening a base: a model file or folder, or a .nnz file, which may
itself have a base (a chain, resolved by the base names the files record; docs/FORMAT.md 9.4).

Encoding: every tensor of the model that matches a base tensor by name, dtype and shape is coded
as its difference from it (codec ``delta``), or as a reference alone where it is equal; a tensor
equal to a base tensor of another name (renamed, moved) is a reference too; a tensor equal to an
earlier tensor of the same model (tied embeddings, a tensor in several ONNX branches or shards)
is stored once. Everything else is coded as without a base.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import ml_dtypes
import numpy as np

from . import _core
from .atomic import check_member_name
from .codecs.coding import planned
from .dtypes import NUMPY_DTYPES, dtype_name, element_bytes
from .errors import BaseMismatchError, LimitExceededError, NnzError, UnsafeInputError, about
from .files_patch import MAX_BASE_BYTES
from .limits import Limits

NNZ_MAGIC = b"\x89NNZ\r\n\x1a\n"
BASE_BLOB = "nncodec/base"
SOURCE_BASE, SOURCE_CONTAINER = 0, 1
# A delta coding is kept only if smaller than this share of the raw bytes; else the tensor is also
# coded without the base and the smaller one kept (a tensor the fine-tune rewrote).
_DELTA_CHECK_SHARE = 0.85


def is_nnz(path: Path) -> bool:
    try:
        with open(path, "rb") as f:
            return f.read(8) == NNZ_MAGIC
    except (IsADirectoryError, FileNotFoundError):
        return False


def tensor_hash(array: np.ndarray) -> int:
    """XXH64 of a tensor's little-endian element bytes (the fingerprint in nncodec/base)."""
    return int(_core.xxhash64(element_bytes(array)))


# What a content key samples of a tensor's bytes: its first and last KiB and 64-byte windows
# spread evenly between them. Hashing every byte of every tensor on the writer's thread, before
# it could be coded, was a pass over the whole model (about 1.6 CPU seconds per 8 GiB).
_KEY_EDGE_BYTES = 1024
_KEY_WINDOWS, _KEY_WINDOW_BYTES = 62, 64
# Tensors of one content key compared in full with a new one: a file cannot make the writer
# compare every tensor with every other (a miss only costs the bytes of a copy).
_KEY_CANDIDATES = 8


def content_key(array: np.ndarray) -> tuple[str | None, int, int]:
    """(dtype, element count, XXH64 of a sample of the bytes): equal tensors have equal keys, and
    a tensor is taken for another of the same key only after comparing them in full."""
    data = element_bytes(array)
    if data.size > 2 * _KEY_EDGE_BYTES + _KEY_WINDOWS * _KEY_WINDOW_BYTES:
        starts = np.linspace(_KEY_EDGE_BYTES, data.size - _KEY_EDGE_BYTES - _KEY_WINDOW_BYTES, _KEY_WINDOWS,
                             dtype=np.int64)
        windows = data[(starts[:, None] + np.arange(_KEY_WINDOW_BYTES)).reshape(-1)]
        data = np.concatenate([data[:_KEY_EDGE_BYTES], windows, data[-_KEY_EDGE_BYTES:]])
    return dtype_name(array.dtype), array.size, int(_core.xxhash64(data))


def _equal(a: np.ndarray, b: np.ndarray) -> bool:
    return a.dtype == b.dtype and a.size == b.size and np.array_equal(element_bytes(a), element_bytes(b))


@dataclass
class BaseModel:
    """A base model's tensors (name -> array), the name it is recorded under, and its section
    nncodec/files as restore reads it (None: a base of tensors alone), which the model's own may be
    coded against."""

    name: str
    tensors: Mapping[str, np.ndarray]
    files: bytes | None = None
    _by_content: dict[tuple[str | None, int, int], list[str]] | None = field(default=None, repr=False)

    def by_content(self, array: np.ndarray, key: tuple[str | None, int, int]) -> str | None:
        """The name of a base tensor equal to ``array`` (any name; ``key`` its content_key), or None."""
        if self._by_content is None:
            self._by_content = {}
            for name, a in self.tensors.items():
                if dtype_name(a.dtype) is not None:
                    self._by_content.setdefault(content_key(a), []).append(name)
        candidates = self._by_content.get(key, ())[:_KEY_CANDIDATES]
        return next((name for name in candidates if _equal(self.tensors[name], array)), None)


def read_base(path: str | os.PathLike, limits: Limits, threads: int) -> BaseModel:
    """The tensors of a base model: a model file or folder nncodec reads, or a .nnz file (decoded
    with its own base, if it has one)."""
    from . import formats
    from .nnzfile import NnzFile

    path = Path(path)
    if not path.is_file() and not path.is_dir():
        raise NnzError(f"{path}: no such base model")
    with about(path):
        if is_nnz(path):
            with NnzFile(path, threads=threads, limits=limits, base=BaseChain.beside(path)) as f:
                return BaseModel(path.name, f.read_all(), f.files_section())
        doc = formats.detect(path).read(path, limits)
        return BaseModel(path.name, doc.tensors, files_section_of(doc))


@dataclass(frozen=True)
class BaseChain:
    """How a reader finds its base: ``path`` given by the user (None: the name the file records,
    beside the file), ``depth`` links below the first file so far, ``seen`` the files opened."""

    path: Path | None = None
    depth: int = 0
    seen: frozenset[tuple[int, int]] = frozenset()

    @classmethod
    def beside(cls, path: Path, below: BaseChain | None = None) -> BaseChain:
        """The chain below the .nnz ``path`` (which is itself opened as a base)."""
        below = below or cls()
        st = path.stat()
        return cls(None, below.depth + 1, below.seen | {(st.st_dev, st.st_ino)})

    def attach(self, reader, owner: Path, limits: Limits, threads: int) -> list:
        """Attaches the base of ``reader`` (the .nnz file ``owner``); returns what must stay alive."""
        table = reader.base_table()
        recorded = table["base_name"].decode("utf-8", "replace")
        path = self.path if self.path is not None else self._recorded(owner, recorded)
        if self.depth >= limits.max_base_depth:
            raise LimitExceededError(f"base chain deeper than {limits.max_base_depth} files (max_base_depth)")
        st = path.stat() if path.exists() else None
        if st is not None and ((st.st_dev, st.st_ino) in self.seen or (st.st_dev, st.st_ino) == _identity(owner)):
            raise BaseMismatchError(f"base chain is a cycle: {path} is already in it")
        if st is None:
            raise BaseMismatchError(f"base model {path} not found (the file was coded against {recorded!r})")
        with about(path):
            if is_nnz(path):
                base = _core.Reader(str(path), max_tensor_bytes=limits.max_tensor_bytes)
                keep = BaseChain.beside(path, self).attach(base, path, limits, threads) if base.needs_base() else []
                reader.attach_base_reader(base, path.name, threads)
                return [base, *keep]
            from . import formats

            doc = formats.detect(path).read(path, limits)
            arrays = base_arrays_for(doc.tensors)
            reader.attach_base_arrays(arrays, files_section_of(doc) if reader.files_patched() else None)
            return [arrays]

    @staticmethod
    def _recorded(owner: Path, recorded: str) -> Path:
        """The base a file records, beside it: a plain file or folder name (it comes from the file)."""
        if not recorded:
            raise BaseMismatchError("the file was coded against a base model it does not name: give it (--base)")
        try:
            if "/" in check_member_name(recorded, "recorded base name"):
                raise UnsafeInputError("not a plain file name")
        except UnsafeInputError as exc:
            raise BaseMismatchError(f"the recorded base name {recorded!r} is not a plain file name ({exc}); "
                                    "give the base (--base)") from None
        return owner.parent / recorded


def _identity(path: Path) -> tuple[int, int]:
    st = path.stat()
    return (st.st_dev, st.st_ino)


class DeltaPlan:
    """Which tensor each tensor of a model is coded against; base tensors are numbered in the order
    the writer writes the tensors using them (``finish`` numbers one tensor, ``table`` lists them)."""

    def __init__(self, base: BaseModel | None):
        self.base = base
        self._seen: dict[tuple[str | None, int, int], list[str]] = {}  # content key -> tensors of it
        self._order: dict[str, int] = {}                  # tensor name -> its index in the file
        self._layout: dict[str, tuple] = {}               # tensor name -> (dtype, shape)
        self._base_index: dict[str, int] = {}
        self._entries: list[tuple[str, str, list[int], int, int]] = []
        self._array_of: dict[str, np.ndarray] = {}

    def reference(self, name: str, array: np.ndarray) -> tuple[int, str, np.ndarray] | None:
        """(source, name of the tensor it is coded against, that tensor) or None (coded alone).
        Call for every tensor in file order."""
        self._order[name] = len(self._order)
        self._layout[name] = (array.dtype, array.shape)
        dtype = dtype_name(array.dtype)
        if dtype is None:
            return None
        key = content_key(array)
        base = self.base.tensors if self.base else {}
        named = base.get(name)
        same_layout = named is not None and named.dtype == array.dtype and named.shape == array.shape
        if same_layout and content_key(named) == key and _equal(named, array):
            return SOURCE_BASE, name, named
        moved = self.base.by_content(array, key) if self.base else None
        if moved is not None:
            return SOURCE_BASE, moved, base[moved]
        earlier = self._seen.setdefault(key, [])
        first = next((other for other in earlier if array.size and _equal(self._array_of[other], array)), None)
        if first is not None:
            return SOURCE_CONTAINER, first, self._array_of[first]
        if len(earlier) < _KEY_CANDIDATES:
            earlier.append(name)
            self._array_of[name] = array
        if same_layout:
            return SOURCE_BASE, name, named
        return None

    def finish(self, encoded, ref: tuple[int, str, np.ndarray] | None):
        """``encoded`` as written: a delta tensor gets the number of its base tensor."""
        if ref is None or encoded.codec != "delta":
            return encoded
        source, target, array = ref
        if source == SOURCE_CONTAINER:
            return _core.delta_with_ref(encoded, SOURCE_CONTAINER, self._order[target])
        if target not in self._base_index:
            self._base_index[target] = len(self._entries)
            same = self._layout.get(target) == (array.dtype, array.shape)  # the entry refers to that tensor
            self._entries.append((target, dtype_name(array.dtype), list(array.shape), tensor_hash(array),
                                  self._order[target] + 1 if same else 0))
        return _core.delta_with_ref(encoded, SOURCE_BASE, self._base_index[target])

    def table(self) -> bytes | None:
        """The section nncodec/base (None: no tensor refers to the base model)."""
        if not self._entries:
            return None
        return _core.encode_base_table(self.base.name.encode("utf-8", "surrogateescape"), self._entries)


def encode_against(name: str, array: np.ndarray, ref: tuple[int, str, np.ndarray], options, plain):
    """``array`` coded against its reference, or by ``plain()`` (its coding without the base)
    where that is smaller. Lossless: the difference of the bit patterns (codec delta, exact). A
    tensor the plan gives to a lossy codec with an error bound E: the difference from the base,
    coded by that codec within a bound that leaves room for rounding back into the dtype, so that
    every weight stays within E of the model's (not of the base's), checked here."""
    codec, settings = planned(name, array, options)
    bound = codec.error_bound(settings) if codec.lossy else None
    if bound is not None:
        coded = _residual(array, ref, codec, bound, options)
        other = plain()
        return coded if coded is not None and _size(coded) < _size(other) else other
    data = element_bytes(array)
    coded = _core.encode_delta(data, dtype_name(array.dtype), element_bytes(ref[2]), ref[0], 0,
                               options.chunk_elems, options.threads)
    if coded.coded_bytes == 0 or _size(coded) <= _DELTA_CHECK_SHARE * data.nbytes:
        return coded  # a reference alone, or a difference that codes well
    other = plain()
    return other if _size(other) < _size(coded) else coded


def _size(encoded) -> int:
    return len(encoded.params) + encoded.coded_bytes


def _residual(array: np.ndarray, ref, codec, bound: float, options):
    """The residual coding of ``array`` within ``bound``, or None where it cannot keep it."""
    if dtype_name(array.dtype) not in ("float32", "float16", "bfloat16"):
        return None
    x, b = array.astype(np.float64).reshape(-1), ref[2].astype(np.float64).reshape(-1)
    if not (np.isfinite(x).all() and np.isfinite(b).all()):
        return None
    top = float(np.abs(x).max(initial=0.0)) + bound
    half_ulp = math.ldexp(1.0, math.frexp(top)[1] - 2 - int(ml_dtypes.finfo(array.dtype).nmant)) if top > 0 else 0.0
    inner_bound = bound - half_ulp - top * 2.0 ** -52  # what rounding b + r into the dtype may add
    if inner_bound <= bound / 4:
        return None
    inner = codec.encode(x - b, codec.at_bound(inner_bound), options)
    r = np.empty(x.size, np.float64)
    _core.decode_payload(inner.codec, "float64", x.size, inner.params, np.frombuffer(inner.payload, np.uint8),
                         r.view(np.uint8), options.threads)
    back = (b + r).astype(array.dtype).astype(np.float64)
    if not (np.abs(back - x) <= bound).all():
        return None
    return _core.delta_residual(inner, bound, ref[0], 0)


def files_section_of(doc) -> bytes | None:
    """A model's section nncodec/files as its encoding writes it (None: it has none, or one too large
    to code a model's files against)."""
    from .formats import byte_layout

    if not doc.files:
        return None
    section = byte_layout.pack_files(doc.files, doc.tensors)
    return section if len(section) <= MAX_BASE_BYTES else None


def base_arrays_for(tensors: Mapping[str, np.ndarray]) -> list:
    """(name, dtype, shape, bytes) of every tensor, for a reader's attach_base_arrays."""
    out = []
    for n, a in tensors.items():
        name = dtype_name(a.dtype)
        if name is not None:  # a C-contiguous array of the dtype itself is viewed as it is
            exact = isinstance(a, np.ndarray) and a.dtype == NUMPY_DTYPES[name] and a.flags.c_contiguous
            out.append((n, name, list(a.shape), a.reshape(-1).view(np.uint8) if exact else element_bytes(a)))
    return out


__all__ = ["BaseModel", "BaseChain", "DeltaPlan", "read_base", "is_nnz", "tensor_hash", "encode_against"]
