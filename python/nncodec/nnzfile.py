"""Reading and writing .nnz files at the level of a whole model (the container itself is C++)."""

from __future__ import annotations

import json
import math
import os
import zlib
from collections.abc import Callable, Iterator, Mapping
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__, _core, meta as meta_record, safe_json
from .dtypes import check_shape, dtype_name, numpy_dtype
from .errors import CorruptFileError, LimitExceededError, NotFoundError, UnsupportedError, naming_the_file
from .limits import DEFAULT_LIMITS, Budget, Limits, check_threads
from .formats import byte_layout
from .model import TENSORS_ONLY, ModelDocument
from .codecs.coding import EncodeOptions, encode_array
from . import files_patch
from .delta import BASE_BLOB, BaseChain, DeltaPlan, base_arrays_for, encode_against

META_BLOB = "nncodec/meta.json"
SKELETON_BLOB = "nncodec/skeleton"  # format 1.0
FILES_BLOB = "nncodec/files"        # format 1.1: the model's files, restored by the core
DEFAULT_MAX_TENSOR_BYTES = DEFAULT_LIMITS.max_tensor_bytes
# Decompressed size limit of a zlib section (the model skeleton): a zlib stream expands up to
# about 1000x, so the stored size alone does not bound it.
DEFAULT_MAX_BLOB_BYTES = DEFAULT_LIMITS.max_section_bytes
MEMORY_FLAG = "--max-memory (max_total_bytes in the API)"
# Tensors this large are coded with all threads on their chunks rather than one thread each.
LARGE_TENSOR_ELEMS = 1 << 20
READ_BATCH_BYTES = 64 << 20  # decoded bytes per progress step of read_all


def default_threads() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of a .nnz file, as listed in its index."""

    name: str
    dtype: str | None  # None: a dtype this nncodec does not know
    shape: tuple[int, ...]
    codec: str
    coded_bytes: int
    params: bytes
    size: int = field(init=False, compare=False)           # elements
    decoded_bytes: int = field(init=False, compare=False)  # their bytes (0 for an unknown dtype)

    def __post_init__(self) -> None:  # computed once: read_all asks for both of every tensor
        size = math.prod(self.shape)
        object.__setattr__(self, "size", size)
        object.__setattr__(self, "decoded_bytes", size * numpy_dtype(self.dtype).itemsize if self.dtype else 0)


class NnzFile(Mapping):
    """An open .nnz file: a read-only mapping of tensor name -> numpy array, decoded on access.

    Only the header and index are read when the file is opened (the metadata on first use); each
    tensor's bytes are read,
    checksum-verified and decoded when that tensor is accessed. ``limits`` bound what the file can
    make this spend (``max_tensor_bytes`` and ``max_blob_bytes`` override two of them).

    ``base``: the base model of a file coded against one (``needs_base``): a model file or folder,
    a .nnz file (whose own base is found by the name it records, beside it), or a mapping of
    name -> array. Every base tensor the file refers to is checked against its fingerprint when
    the file is opened (BaseMismatchError naming the first that differs); without it, the file
    lists its tensors and decodes those that need no base.
    """

    def __init__(self, path: str | os.PathLike, *, threads: int | None = None,
                 max_tensor_bytes: int | None = None, max_blob_bytes: int | None = None,
                 limits: Limits | None = None, base=None):
        self.path = Path(path)
        self.threads = check_threads(threads) or default_threads()
        limits = limits or DEFAULT_LIMITS
        if max_tensor_bytes is not None or max_blob_bytes is not None:
            limits = replace(limits, max_tensor_bytes=max_tensor_bytes or limits.max_tensor_bytes,
                             max_section_bytes=max_blob_bytes or limits.max_section_bytes)
        self.limits = limits
        self.max_tensor_bytes = limits.max_tensor_bytes
        self.max_blob_bytes = limits.max_section_bytes
        self._reader = _core.Reader(str(self.path), max_tensor_bytes=limits.max_tensor_bytes)
        self.tensors = [
            TensorInfo(e["name"], e["dtype"], tuple(e["shape"]), e["codec"], e["coded_bytes"], e["params"])
            for e in self._reader.tensors()
        ]
        self._index = {t.name: i for i, t in enumerate(self.tensors)}
        self._blobs = {name: (encoding, size) for name, encoding, size in self._reader.blob_names()}
        self._base_alive: list = []  # what the reader borrows base bytes from
        if base is not None and self.needs_base:
            self._attach_base(base)

    def _attach_base(self, base) -> None:
        if isinstance(base, Mapping):
            self._base_alive = [base_arrays_for(base)]
            self._reader.attach_base_arrays(self._base_alive[0])
            return
        if not isinstance(base, BaseChain):
            st = self.path.stat()
            base = BaseChain(Path(base), 0, frozenset({(st.st_dev, st.st_ino)}))
        chain = base
        self._base_alive = chain.attach(self._reader, self.path, self.limits, self.threads)

    @property
    def needs_base(self) -> bool:
        """Whether the file's tensors were coded against a base model (decoding needs it)."""
        return self._reader.needs_base()

    @property
    def base_name(self) -> str | None:
        """The name of the base model the file was coded against (as recorded), or None."""
        table = self._reader.base_table()
        return table["base_name"].decode("utf-8", "replace") if table and table["tensors"] else None

    @property
    def base_tensors(self) -> list[tuple[str, str | None, tuple[int, ...], int]]:
        """(name, dtype, shape, XXH64) of every base tensor the file refers to."""
        table = self._reader.base_table()
        return [tuple(t) for t in table["tensors"]] if table else []

    # Mapping protocol
    @naming_the_file
    def __getitem__(self, name: str) -> np.ndarray:
        return self._decode(self._position(name))

    def _position(self, name: str) -> int:
        try:
            return self._index[name]
        except KeyError:
            raise NotFoundError(f"no tensor named {name!r}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self.tensors)

    def __repr__(self) -> str:
        return f"<NnzFile {str(self.path)!r}: {len(self)} tensors>"

    def _check_decodable(self, i: int) -> None:
        info = self.tensors[i]
        if info.dtype is None:
            raise UnsupportedError(f"tensor {info.name!r} has a dtype this nncodec does not know")
        check_shape(info.shape, f"tensor {info.name!r}")
        if info.decoded_bytes > self.max_tensor_bytes:  # checked before numpy allocates
            raise LimitExceededError(f"tensor {info.name!r}: decoded size {info.decoded_bytes:,} bytes exceeds "
                                     f"the limit of {self.max_tensor_bytes:,} bytes (max_tensor_bytes)")

    def _output(self, i: int) -> np.ndarray:
        self._check_decodable(i)
        info = self.tensors[i]
        return np.empty(info.shape, dtype=numpy_dtype(info.dtype))

    def _decode(self, i: int) -> np.ndarray:
        self._check_decodable(i)
        Budget(self.limits.memory, "memory budget", MEMORY_FLAG).take(self.tensors[i].decoded_bytes,
                                                                         f"tensor {self.tensors[i].name!r}")
        out = self._output(i)
        self._reader.decode(i, out.reshape(-1).view(np.uint8), self.threads)
        return out

    @naming_the_file
    def read_into(self, name: str, out: np.ndarray) -> np.ndarray:
        """Decode tensor ``name`` into ``out``, an existing writable C-contiguous array of its
        dtype and shape (a reused or pinned buffer: nothing is allocated, and no fresh memory is
        faulted in). Returns ``out``."""
        i = self._position(name)
        self._check_decodable(i)
        info = self.tensors[i]
        if (not isinstance(out, np.ndarray) or out.dtype != numpy_dtype(info.dtype) or out.shape != info.shape
                or not out.flags.c_contiguous or not out.flags.writeable):
            raise ValueError(f"read_into: tensor {name!r} needs a writable C-contiguous {info.dtype} array of shape "
                             f"{info.shape}")
        self._reader.decode(i, out.reshape(-1).view(np.uint8), self.threads)
        return out

    @naming_the_file
    def read_all(self, progress: Callable[[TensorInfo], None] | None = None,
                 budget: Budget | None = None) -> dict[str, np.ndarray]:
        """Decode every tensor. The whole decoded size is drawn from ``budget`` (default: the
        memory limit) before anything is allocated; arrays are then allocated batch by batch as
        they are decoded. The core decodes a batch of tensors per call (large ones chunk-parallel,
        the others in parallel with each other)."""
        budget = budget or Budget(self.limits.memory, "memory budget", MEMORY_FLAG)
        for i in range(len(self.tensors)):
            self._check_decodable(i)
        budget.take(sum(t.decoded_bytes for t in self.tensors), f"decoding the {len(self.tensors)} tensors")
        arrays: list[np.ndarray] = []
        batch: list[int] = []
        batch_bytes = 0
        for i, info in enumerate(self.tensors):  # each checked above
            arrays.append(np.empty(info.shape, dtype=numpy_dtype(info.dtype)))
            batch.append(i)
            batch_bytes += arrays[i].nbytes
            if batch_bytes >= READ_BATCH_BYTES or i == len(self.tensors) - 1:
                self._reader.decode_many(batch, [arrays[k].reshape(-1).view(np.uint8) for k in batch], self.threads)
                if progress:
                    for k in batch:
                        progress(self.tensors[k])
                batch, batch_bytes = [], 0
        return {t.name: arrays[i] for i, t in enumerate(self.tensors)}

    @naming_the_file
    def verify(self) -> None:
        """Check every checksum without decoding; raises ChecksumError naming the damaged tensor."""
        for i in range(len(self.tensors)):
            self._reader.verify(i)

    @naming_the_file
    def blob(self, name: str, max_bytes: int | None = None) -> bytes:
        """The bytes of section ``name``, inflated to at most ``max_bytes`` (default: the section limit)."""
        if name not in self._blobs:
            raise NotFoundError(f"no section named {name!r}")
        limit = self.max_blob_bytes if max_bytes is None else max_bytes
        if self._blobs[name][0] != 1 and self._blobs[name][1] > limit:
            raise LimitExceededError(f"section {name!r} is {self._blobs[name][1]:,} bytes, over the limit of {limit:,}")
        data = self._reader.read_blob(name)
        if self._blobs[name][0] == 1:
            inflater = zlib.decompressobj()
            try:
                out = inflater.decompress(data, limit)
            except zlib.error as exc:
                raise CorruptFileError(f"section {name!r} is damaged ({exc})") from None
            if inflater.unconsumed_tail:
                raise LimitExceededError(f"section {name!r} decompresses to more than {limit:,} bytes")
            if not inflater.eof or inflater.unused_data:
                raise CorruptFileError(f"section {name!r} is damaged (truncated or trailing data)")
            return out
        return data

    @cached_property
    @naming_the_file
    def meta(self) -> dict[str, Any]:
        """The file's metadata (section nncodec/meta.json), read and checked on first use."""
        if META_BLOB not in self._blobs:
            return {}
        raw = self.blob(META_BLOB, self.limits.max_json_bytes)
        return meta_record.checked(safe_json.loads(raw, "the metadata", self.limits))

    @property
    def holds_model(self) -> bool:
        """Whether the file holds a whole model (else tensors only)."""
        return "format" in self.meta.get("source", {})

    @naming_the_file
    def files_section(self) -> bytes | None:
        """The section nncodec/files as the core restores it (a patch applied), or None."""
        return self._reader.files_section() if self.has_files else None

    @property
    def files_need_base(self) -> bool:
        """Whether listing and restoring the model's files needs the base's (format 1.6: the files
        are a patch against the base's) and it is not attached."""
        return self._reader.files_patched() and not self._reader.base_attached()

    @property
    def has_files(self) -> bool:
        """Whether the core can restore the model's files itself (format 1.1 and later)."""
        return self._reader.has_files()

    @naming_the_file
    def files(self) -> list[tuple[str, int]]:
        """(name, size) of each file of the model, in order (checked names: see restore_into)."""
        return [(name, size) for name, size in self._reader.files()]

    @naming_the_file
    def restore_into(self, folder: Path, first_as: str = "", batch_bytes: int = 64 << 20,
                     progress: Callable[[int], None] | None = None) -> None:
        """Writes the model's files into ``folder`` (a fresh staging folder) under their stored
        names (the first as ``first_as`` if given), tensor by tensor with at most max(largest
        tensor, ``batch_bytes``) decoded at once; ``progress`` is told the bytes written as it goes.
        The core checks every name first (the output-folder policy, docs/SECURITY.md)."""
        self._reader.restore_to(str(folder), first_as, self.threads, batch_bytes, progress)

    @naming_the_file
    def read_files(self, names: list[str], batch_bytes: int = 64 << 20) -> dict[str, bytes]:
        """The model's files ``names`` (stored names, as files() lists them) restored into memory,
        byte for byte, drawn from the memory limit; the other files are skipped, their tensors not
        decoded. At most max(largest tensor, ``batch_bytes``) is decoded at once besides."""
        sizes = dict(self.files())
        Budget(self.limits.memory, "memory budget", MEMORY_FLAG).take(
            sum(sizes.get(name, 0) for name in names), f"restoring {len(names)} file(s) into memory")
        return self._reader.restore_to_memory(names, self.threads, batch_bytes)

    @naming_the_file
    def document(self, progress: Callable[[TensorInfo], None] | None = None,
                 budget: Budget | None = None) -> ModelDocument:
        """The model as read by its format module, with all tensors decoded; a file holding
        tensors only gives them as a document of format "tensors". The skeleton and the tensors
        are drawn from ``budget`` (default: the memory limit)."""
        budget = budget or Budget(self.limits.memory, "memory budget", MEMORY_FLAG)
        if not self.holds_model:
            return ModelDocument(TENSORS_ONLY, self.read_all(progress, budget))
        source = self.meta["source"]
        skeleton = b""
        if SKELETON_BLOB in self._blobs and FILES_BLOB not in self._blobs:
            skeleton = self.blob(SKELETON_BLOB, min(self.max_blob_bytes, budget.total - budget.used))
            budget.take(len(skeleton), "the model skeleton")
        return ModelDocument(source["format"], self.read_all(progress, budget), skeleton, source.get("attrs", {}))

    def close(self) -> None:
        self._reader = None

    def __enter__(self) -> NnzFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _encode_one(name: str, array: np.ndarray, options: EncodeOptions, ref):
    if ref is None:
        return encode_array(name, array, options)
    return encode_against(name, array, ref, options, lambda: encode_array(name, array, options))


def _files_blob(doc: ModelDocument, plan: DeltaPlan, needs_base: bool) -> bytes:
    """The section nncodec/files, zlib-coded: as a patch against the base model's own where the file
    needs its base anyway and the patch is smaller (a fine-tune or copy keeps its base's layout)."""
    section = byte_layout.pack_files(doc.files, doc.tensors)
    packed = zlib.compress(section, 9 if len(section) < 64 << 20 else 6)
    base = plan.base.files if plan.base is not None and needs_base else None
    if base is None:
        return packed
    patch = zlib.compress(files_patch.make_patch(base, section), 9)
    return patch if len(patch) < len(packed) else packed


def write_document(path: Path, doc: ModelDocument, options: EncodeOptions, *, source_name: str | None = None,
                   progress: Callable[[str, np.ndarray], None] | None = None,
                   extra_meta: Mapping[str, Any] | None = None, delta: DeltaPlan | None = None) -> int:
    """Code every tensor of ``doc`` and write the .nnz file to ``path``; returns its size in bytes.

    ``extra_meta`` adds JSON-able entries to the metadata (say, the fidelity a lossy encoding reached).
    ``delta``: the base model tensors are coded against (nncodec.delta); without it, tensors equal
    to an earlier tensor of the model are still stored once.

    Tensors are coded in parallel (the native core releases the GIL) and written in order.
    """
    for name in doc.tensors:
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            raise CorruptFileError(f"tensor name {name!r} is not valid UTF-8") from None
    writer = _core.Writer(str(path))
    single = replace(options, threads=1)
    plan = delta or DeltaPlan(None)
    pending: deque[tuple[str, Any, Future]] = deque()
    sources = byte_layout.tensor_sources(doc.files, doc.tensors)

    def write_pending(keep: int) -> None:
        while len(pending) > keep:
            name, ref, future = pending.popleft()
            array = doc.tensors[name]
            writer.add_tensor(name, dtype_name(array.dtype), list(array.shape), plan.finish(future.result(), ref))
            if name in sources:  # coded and written: its pages of the mapped file can go
                byte_layout.release(*sources[name])
            if progress:
                progress(name, array)

    with ThreadPoolExecutor(options.threads) as pool:
        for name, array in doc.tensors.items():
            ref = plan.reference(name, array)
            if array.size >= LARGE_TENSOR_ELEMS:  # chunk-parallel once what is queued is coded
                wait([future for _, _, future in pending])
                pending.append((name, ref, pool.submit(_encode_one, name, array, options, ref)))
                write_pending(1)  # the coded ones are written while this one is coded
            else:
                pending.append((name, ref, pool.submit(_encode_one, name, array, single, ref)))
            write_pending(2 * options.threads)
        write_pending(0)
    meta = {  # the record nncodec.meta describes
        "meta_version": meta_record.META_VERSION,
        "encoder": f"nncodec {__version__}",
        **options.to_json(),
        "source": {"format": doc.format, "name": source_name, "attrs": doc.attrs},
        **(extra_meta or {}),
    }
    meta_json = json.dumps(meta, sort_keys=True, separators=(",", ":")).encode()
    packed = zlib.compress(meta_json, 9)  # worth it for models with many tensors (names repeat)
    writer.add_blob(META_BLOB, *((1, packed) if len(packed) < len(meta_json) else (0, meta_json)))
    table = plan.table()
    if table is not None:
        packed = zlib.compress(table, 9)
        writer.add_blob(BASE_BLOB, *((1, packed) if len(packed) < len(table) else (0, table)))
    if doc.files:
        writer.add_blob(FILES_BLOB, 1, _files_blob(doc, plan, table is not None))
    elif doc.skeleton:
        writer.add_blob(SKELETON_BLOB, 1, zlib.compress(doc.skeleton, 9))
    return writer.finish(_zlib_index(writer))


def _zlib_index(writer) -> bytes:
    """The index as a zlib stream where that saves 1% of the file (a copy of the base, a fine-tune
    with few changes: tensor names and shapes repeat), else b"" (stored, readable by 1.5 readers)."""
    index = writer.index()
    packed = zlib.compress(index, 9)
    return packed if len(index) - len(packed) >= (writer.size() + len(index)) / 100 else b""
