"""Files kept as their exact bytes, with the tensor data cut out ("holes") to be coded.

Every model file is stored the same way: every byte of every file except the tensor data, and a
layout saying where each tensor's bytes go back (and which CRC-32 fields cover them). Writing
puts the decoded tensors back into their holes, so a lossless round trip reproduces each file
bit for bit, and whatever a reader of the original format checks (pickles, headers, alignment,
CRCs) is as it was. After a lossy codec the CRC fields are recomputed.

Since format 1.1 the layout is binary, in the section ``nncodec/files`` (:func:`pack_files`,
docs/FORMAT.md 9.1), so that the C library restores the files itself (csrc/container/
restore.cpp); format 1.0 files hold a JSON layout in ``nncodec/skeleton`` (:func:`unpack`,
:func:`write_files`): ``b"NNZL"``, the length of the layout JSON (u64 LE), the layout JSON
(``files``: for each, its ``name``, ``size`` and ``holes`` ``[offset, tensor, crc_fields, swap]``
sorted by offset, plus what the format module added), then the kept bytes of each file.
"""

from __future__ import annotations

import bisect
import mmap

import struct
import zlib
from collections.abc import Container, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .. import safe_json
from ..dtypes import element_bytes
from ..errors import CorruptFileError
from ..limits import DEFAULT_LIMITS, Limits

MAGIC = b"NNZL"
LAYOUT_VERSION = 1
FILES_MAGIC = b"NNZF"
FILES_VERSION = 1


@dataclass
class Hole:
    offset: int
    tensor: str
    crc_fields: list[int] = field(default_factory=list)
    swap: int = 0


@dataclass
class FileLayout:
    name: str
    data: Any                      # the file's bytes (bytes or mmap)
    holes: list[Hole] = field(default_factory=list)


def unique_name(base: str, taken: Container[str]) -> str:
    """``base``, or ``base#2``, ``base#3``... whichever is not taken yet."""
    candidate, k = base, 1
    while candidate in taken:
        k += 1
        candidate = f"{base}#{k}"
    return candidate


def _kept_pieces(f: FileLayout, tensors: Mapping[str, np.ndarray]) -> tuple[list[Hole], list[Any]]:
    """The holes of ``f`` by offset and its bytes between them (one more piece than holes)."""
    holes = sorted(f.holes, key=lambda h: h.offset)
    pieces = []
    pos = 0
    for h in holes:
        length = tensors[h.tensor].nbytes
        if h.offset < pos or h.offset + length > len(f.data):
            raise CorruptFileError(f"{f.name}: tensor data of {h.tensor!r} overlaps other data")
        pieces.append(f.data[pos:h.offset])
        pos = h.offset + length
    pieces.append(f.data[pos:])
    return holes, pieces


def _text(s: str) -> bytes:
    raw = s.encode("utf-8")
    if len(raw) > 0xFFFF:
        raise CorruptFileError(f"name too long for the file layout: {s[:80]!r}...")
    return struct.pack("<H", len(raw)) + raw


def pack_files(files: list[FileLayout], tensors: Mapping[str, np.ndarray]) -> bytes:
    """The section ``nncodec/files``: a header, the binary layout of every file, then the kept
    bytes of every file in order (docs/FORMAT.md, section 9.1)."""
    layout = [struct.pack("<I", len(files))]
    kept: list[Any] = []
    for f in files:
        holes, pieces = _kept_pieces(f, tensors)
        layout.append(_text(f.name) + struct.pack("<QI", len(f.data), len(holes)))
        for h in holes:
            if len(h.crc_fields) > 8:
                raise CorruptFileError(f"{f.name}: more than 8 CRC fields for tensor {h.tensor!r}")
            layout.append(struct.pack("<Q", h.offset) + _text(h.tensor) + struct.pack("<BB", h.swap, len(h.crc_fields))
                          + b"".join(struct.pack("<Q", c) for c in h.crc_fields))
        kept.extend(pieces)
    body = b"".join(layout)
    return b"".join([FILES_MAGIC, bytes([FILES_VERSION, 0, 0, 0]), struct.pack("<Q", len(body)), body, *kept])


def write_layouts(files: list[FileLayout], tensors: Mapping[str, np.ndarray], paths: list[Path]) -> None:
    """Write each in-memory file layout to ``paths[i]`` with ``tensors`` in its holes (a model
    being encoded, or changed: the tensors may differ from those the file held)."""
    used: set[str] = set()
    for f, path in zip(files, paths, strict=True):
        holes, pieces = _kept_pieces(f, tensors)
        entries = [(h.offset, h.tensor, list(h.crc_fields), h.swap) for h in holes]
        _write_one(path, len(f.data), entries, memoryview(b"".join(pieces)), tensors, used)


def tensor_sources(files: list[FileLayout], tensors: Mapping[str, np.ndarray]) -> dict[str, tuple[Any, int, int]]:
    """Where each tensor's bytes lie in the mapped files: name -> (buffer, offset, length)."""
    return {h.tensor: (f.data, h.offset, tensors[h.tensor].nbytes) for f in files for h in f.holes}


def release(data: Any, offset: int, length: int) -> None:
    """Gives the pages of data[offset:offset + length] of a mapped file back to the kernel, so that
    reading a checkpoint larger than memory keeps the resident set small (they are read again from
    the file if touched). Bytes that are not a mapping are left as they are."""
    if isinstance(data, mmap.mmap):
        page = mmap.PAGESIZE
        start, end = -(-offset // page) * page, (offset + length) // page * page
        if end > start:
            data.madvise(mmap.MADV_DONTNEED, start, end - start)
    elif isinstance(data, memoryview) and hasattr(data.obj, "release"):
        data.obj.release(offset, length)


def format_attrs(doc, limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """What the format module recorded besides the files (torch views, safetensors metadata):
    the document's attributes, or for a format 1.0 file its JSON layout."""
    return doc.attrs if not doc.skeleton else unpack(doc.skeleton, limits)[0]


def write_document_files(doc, out: Path, staging) -> list[tuple[str, Path]]:
    """Write a document's files into ``staging``: the first under the output's name, the others
    (shards, external data) under their own; returns (stored name, path written) of each."""
    paths = [staging.path(out.name)] + [staging.path(f.name) for f in doc.files[1:]]
    write_layouts(doc.files, doc.tensors, paths)
    return [(f.name, p) for f, p in zip(doc.files, paths)]


def unpack(skeleton: bytes, limits: Limits = DEFAULT_LIMITS) -> tuple[dict[str, Any], memoryview]:
    """The layout and the kept bytes of a skeleton (checked for shape, not yet against tensors)."""
    if skeleton[:4] != MAGIC or len(skeleton) < 12:
        raise CorruptFileError("the stored file layout is damaged")
    (n,) = struct.unpack("<Q", skeleton[4:12])
    if n > len(skeleton) - 12:
        raise CorruptFileError("the stored file layout is damaged")
    header = safe_json.loads(memoryview(skeleton)[12:12 + n], "the stored file layout", limits)
    if not isinstance(header, dict) or header.get("layout") != LAYOUT_VERSION or not isinstance(header.get("files"), list):
        raise CorruptFileError("the stored file layout is damaged or from a newer nncodec")
    return header, memoryview(skeleton)[12 + n:]


def _hole_bytes(array: np.ndarray, swap: int) -> np.ndarray:
    data = element_bytes(array)
    if swap:
        if swap not in (2, 4, 8) or array.dtype.itemsize != swap:
            raise CorruptFileError("the stored file layout has an invalid byte order entry")
        data = data.view(f"<u{swap}").byteswap().view(np.uint8)
    return data


def _holes(entry: Any) -> tuple[int, list[tuple[int, str, list[int], int]]]:
    """(size, holes) of one file entry of a layout, type-checked."""
    try:
        size, holes = entry["size"], entry["holes"]
        holes = [(o, t, list(crcs), s) for o, t, crcs, s in holes]
    except (KeyError, TypeError, ValueError):
        raise CorruptFileError("the stored file layout is damaged") from None
    if type(size) is not int or size < 0 or not all(
            type(o) is int and isinstance(t, str) and type(s) is int and all(type(c) is int for c in crcs)
            for o, t, crcs, s in holes):
        raise CorruptFileError("the stored file layout is damaged")
    return size, holes


def write_files(skeleton: bytes, tensors: Mapping[str, np.ndarray], paths: list[Path],
                limits: Limits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Write each file of the skeleton to ``paths[i]`` with the tensors put back; returns the layout.

    Every entry of the layout is checked before use: the skeleton may come from a hostile file.
    Each tensor fills one hole at most, so no file is larger than its kept bytes and its tensors.
    """
    header, kept = unpack(skeleton, limits)
    files = header["files"]
    if len(files) != len(paths) or len(set(paths)) != len(paths):
        raise CorruptFileError("the stored file layout does not match its files")
    pos = 0
    used: set[str] = set()
    for entry, path in zip(files, paths):
        size, holes = _holes(entry)
        pos += _write_one(path, size, holes, kept[pos:], tensors, used)
    if pos != len(kept):
        raise CorruptFileError("the stored file layout does not match its bytes")
    return header


def _write_one(path: Path, size: int, holes: list[tuple[int, str, list[int], int]], kept: memoryview,
               tensors: Mapping[str, np.ndarray], used: set[str]) -> int:
    """Write one file of ``size`` bytes: its kept bytes (from the start of ``kept``) with the
    tensors in its holes, each CRC field set; returns how many kept bytes it took."""
    pieces: list[tuple[int, int, np.ndarray | None]] = []  # (file offset, length, tensor bytes)
    at = 0
    for offset, name, _, swap in holes:
        if name not in tensors:
            raise CorruptFileError(f"tensor {name!r} is missing from the file")
        if name in used:
            raise CorruptFileError(f"the stored file layout puts tensor {name!r} in more than one place")
        used.add(name)
        data = _hole_bytes(tensors[name], swap)
        if offset < at or offset + data.nbytes > size:
            raise CorruptFileError("the stored file layout has overlapping tensors")
        pieces.append((at, offset - at, None))
        pieces.append((offset, data.nbytes, data))
        at = offset + data.nbytes
    pieces.append((at, size - at, None))
    kept_len = sum(length for _, length, data in pieces if data is None)
    if kept_len > len(kept):
        raise CorruptFileError("the stored file layout does not match its bytes")
    fixed = bytearray(kept[:kept_len])
    _patch_crcs(fixed, pieces, holes)
    with open(path, "wb") as out:
        k = 0
        for _, length, data in pieces:
            if data is None:
                out.write(fixed[k:k + length])
                k += length
            else:
                out.write(data)
    return kept_len


def _patch_crcs(fixed: bytearray, pieces: list[tuple[int, int, np.ndarray | None]], holes: list) -> None:
    """Write each hole's CRC-32 into the fields the layout names (they lie in kept bytes)."""
    kept_starts: list[int] = []   # file offset of each kept piece
    kept_spans: list[tuple[int, int]] = []  # (its length, where it starts in ``fixed``)
    k = 0
    for offset, length, data in pieces:
        if data is None:
            kept_starts.append(offset)
            kept_spans.append((length, k))
            k += length
    data_pieces = [data for _, _, data in pieces if data is not None]
    for (_, _, crc_fields, _), data in zip(holes, data_pieces):
        if not crc_fields:
            continue
        crc = struct.pack("<I", zlib.crc32(data))
        for field_at in crc_fields:
            i = bisect.bisect_right(kept_starts, field_at) - 1
            if i < 0 or field_at + 4 > kept_starts[i] + kept_spans[i][0]:
                raise CorruptFileError("the stored file layout has a CRC field inside tensor data")
            at = kept_spans[i][1] + field_at - kept_starts[i]
            fixed[at:at + 4] = crc
