"""Model folders (what ``save_pretrained`` writes): every file of a folder in one .nnz file.

Each weight file is read by its format module — a safetensors file or a sharded checkpoint's
index (with its shards), a PyTorch file, an ONNX model (with its external data) — and its
tensors are coded; every other file (configs, tokenizer files, READMEs, anything) is kept as its
bytes, compressed with zlib with the rest of the kept bytes. Decoding gives the folder back, every
file byte for byte. A weight file its reader refuses is kept as bytes too (still exact).

Paths are checked on both sides: nothing outside the folder is read (a symlink that leaves it is
refused; one inside it is read as the file it points to, and restored as a file), and names
starting with a dot (``.git/``, ``.gitattributes``) are left out, because decoding never writes
such names (docs/SECURITY.md). Tensor names are those of the files' own readers, prefixed with
the file's path (``model-00001-of-00002.safetensors:lm_head.weight``) when the folder has more
than one weight file.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..atomic import check_member_name
from ..errors import CorruptFileError, NnzError, UnsafeInputError, UnsupportedError
from ..limits import DEFAULT_LIMITS, Limits
from ..model import ModelDocument
from . import byte_layout

FORMAT = "folder"
SUFFIXES: tuple[str, ...] = ()
MAX_FILES = 100_000


def sniff(head: bytes) -> bool:
    return False  # a folder is told by being one


@dataclass
class Folder:
    """What was found in a folder: its files by relative path, and the hidden ones left out."""

    root: Path
    files: list[str] = field(default_factory=list)
    hidden: list[str] = field(default_factory=list)


def scan(root: Path) -> Folder:
    """Every file under ``root``, in sorted order; symlinks that leave the folder are refused."""
    root = Path(root)
    base = root.resolve()
    found = Folder(root)
    for folder, dirs, names in os.walk(root, followlinks=False):
        rel_folder = Path(folder).relative_to(root)
        for d in list(dirs):
            path = Path(folder) / d
            if d.startswith("."):
                found.hidden.append((rel_folder / d).as_posix() + "/")
                dirs.remove(d)
            elif path.is_symlink():
                raise UnsafeInputError(f"{root}: {(rel_folder / d).as_posix()} is a symlink to a folder "
                                       "(only files are read, and only inside the model's folder)")
        for name in names:
            rel = (rel_folder / name).as_posix()
            path = Path(folder) / name
            if name.startswith("."):
                found.hidden.append(rel)
                continue
            target = path.resolve()
            if base not in target.parents:
                raise UnsafeInputError(f"{root}: {rel} links outside the model's folder")
            if not target.is_file():
                raise UnsupportedError(f"{root}: {rel} is not a regular file")
            found.files.append(rel)
        if len(found.files) > MAX_FILES:
            raise UnsupportedError(f"{root}: more than {MAX_FILES:,} files")
    found.files.sort()
    found.hidden.sort()
    return found


def _weights_module(path: Path):
    """The format module that reads ``path`` as weights, or None for a file kept as bytes."""
    from . import onnx_format, safetensors_format, torch_format

    name = path.name.lower()
    if name.endswith(safetensors_format.INDEX_SUFFIX) or name.endswith(".onnx"):
        return safetensors_format if name.endswith(".json") else onnx_format
    with open(path, "rb") as f:
        head = f.read(64)
    for module in (torch_format, safetensors_format):
        if module.sniff(head):
            return module
    return None


def _prefixed(layout: byte_layout.FileLayout, folder: str) -> byte_layout.FileLayout:
    return byte_layout.FileLayout(f"{folder}/{layout.name}" if folder else layout.name, layout.data, layout.holes)


def _read_member(path: Path, rel: str, limits: Limits) -> ModelDocument | None:
    module = _weights_module(path)
    if module is None:
        return None
    try:
        doc = module.read(path, limits)
    except (CorruptFileError, UnsupportedError, UnsafeInputError):
        return None  # not weights after all, or not ones nncodec reads: kept as bytes
    folder = str(Path(rel).parent) if "/" in rel else ""
    return ModelDocument(doc.format, doc.tensors, attrs=doc.attrs,
                         files=[_prefixed(f, folder) for f in doc.files])


def read(path: Path, limits: Limits = DEFAULT_LIMITS) -> ModelDocument:
    found = scan(Path(path))
    members: list[tuple[str, ModelDocument]] = []
    taken: set[str] = set()
    for rel in found.files:  # indexes first: their shards are not read again on their own
        if rel.lower().endswith(".safetensors.index.json") or rel.lower().endswith(".onnx"):
            doc = _read_member(found.root / rel, rel, limits)
            if doc is not None:
                members.append((rel, doc))
                taken.update(f.name for f in doc.files)
    for rel in found.files:
        if rel not in taken:
            doc = _read_member(found.root / rel, rel, limits)
            if doc is not None:
                members.append((rel, doc))
                taken.update(f.name for f in doc.files)
    return _document(found, members, taken)


def _document(found: Folder, members: list[tuple[str, ModelDocument]], taken: set[str]) -> ModelDocument:
    prefix = len(members) > 1
    tensors: dict[str, np.ndarray] = {}
    layouts: dict[str, byte_layout.FileLayout] = {}
    described: list[dict[str, Any]] = []
    for rel, doc in sorted(members):
        renamed = {name: f"{rel}:{name}" if prefix else name for name in doc.tensors}
        for name, array in doc.tensors.items():
            tensors[renamed[name]] = array
        for f in doc.files:
            layouts[f.name] = byte_layout.FileLayout(f.name, f.data, [
                byte_layout.Hole(h.offset, renamed[h.tensor], h.crc_fields, h.swap) for h in f.holes])
        described.append({"path": rel, "format": doc.format, "files": [f.name for f in doc.files],
                          "tensors": {renamed[n]: n for n in doc.tensors}, "attrs": doc.attrs})
    for rel in found.files:
        if rel not in taken:
            check_member_name(rel, "file name in the folder")
            layouts[rel] = byte_layout.FileLayout(rel, _bytes_of(found.root / rel))
    files = [layouts[rel] for rel in sorted(layouts)]
    return ModelDocument(FORMAT, tensors, attrs={"members": described, "hidden": found.hidden}, files=files)


def _bytes_of(path: Path):
    from .. import _core

    return memoryview(_core.FileMap(str(path)))


def members(doc: ModelDocument) -> list[dict[str, Any]]:
    """The weight files of a folder document (as recorded in its attributes), type-checked."""
    described = doc.attrs.get("members", [])
    ok = isinstance(described, list) and all(
        isinstance(m, dict) and isinstance(m.get("path"), str) and isinstance(m.get("format"), str)
        and isinstance(m.get("files"), list) and all(isinstance(f, str) for f in m["files"])
        and isinstance(m.get("tensors"), dict) and isinstance(m.get("attrs", {}), dict) for m in described)
    if not ok:
        raise CorruptFileError("the stored list of the folder's weight files is damaged")
    return described


def check_restored(files: list[tuple[str, Path]], limits: Limits = DEFAULT_LIMITS, attrs: Any = None) -> None:
    """Each weight file restored passes its own format's checks (pickles, headers, references)."""
    from . import by_name

    where = dict(files)
    for member in members(ModelDocument(FORMAT, {}, attrs=attrs if isinstance(attrs, dict) else {})):
        if not all(f in where for f in member["files"]):
            raise CorruptFileError(f"the folder's weight file {member['path']!r} lists files it does not hold")
        by_name(member["format"]).check_restored([(f, where[f]) for f in member["files"]], limits)


def write(doc: ModelDocument, out: Path, staging, **_options: Any) -> None:
    """Write the folder's files into ``staging`` (the output folder), each under its own path."""
    paths = [staging.path(f.name) for f in doc.files]
    byte_layout.write_layouts(doc.files, doc.tensors, paths)
    check_restored([(f.name, p) for f, p in zip(doc.files, paths)], attrs=doc.attrs)


def model_tensors(doc: ModelDocument, budget=None, limits: Limits = DEFAULT_LIMITS) -> dict[str, np.ndarray]:
    """Every tensor of every weight file, each by its file's own reader, under the folder's names."""
    from . import convert

    out: dict[str, np.ndarray] = {}
    prefix = len(members(doc)) > 1
    for member in members(doc):
        own = {name: doc.tensors[coded] for coded, name in member["tensors"].items() if coded in doc.tensors}
        sub = ModelDocument(member["format"], own, attrs=member.get("attrs", {}))
        for name, array in convert.model_tensors(sub, budget, limits).items():
            out[f"{member['path']}:{name}" if prefix else name] = array
    return out


def describe_hidden(doc: ModelDocument) -> list[str]:
    hidden = doc.attrs.get("hidden", [])
    if not isinstance(hidden, list) or not all(isinstance(h, str) for h in hidden):
        raise NnzError("the stored list of hidden files is damaged")
    return hidden
