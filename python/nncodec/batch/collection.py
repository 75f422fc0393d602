"""A collection of models: the model files and model folders under a folder tree (or named by a
list file), each with the files it consists of and a fingerprint of their bytes.

A folder holding ``config.json`` or a sharded safetensors index is one model (all its files, as
``nncodec encode DIR`` takes it); elsewhere every file nncodec reads as a model is one, together
with the files it brings in (the shards of a safetensors index). Nothing is followed through a
symlink, dot-files are left out as ``encode DIR`` leaves them out, and other files are listed as
skipped.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .. import _core, formats
from ..atomic import check_member_name
from ..errors import NnzError, UnsafeInputError
from ..formats import folder_format, safetensors_format

FOLDER_MARKERS = ("config.json",)
HASH_BLOCK = 16 << 20  # bytes read at a time while hashing a file
FILE_MODEL, FOLDER_MODEL = "file", "folder"


@dataclass(frozen=True)
class Model:
    """One model of the collection: ``rel`` its path under the collection's root (``/``-separated)."""

    rel: str
    path: Path
    kind: str

    @property
    def output(self) -> str:
        """Its container's path under the destination: the model's path with ``.nnz`` appended
        (``a/model.onnx`` and ``a/model.safetensors`` may both be there)."""
        return self.rel + ".nnz"

    def files(self) -> list[tuple[str, Path]]:
        """(name, path) of every file the model consists of; names relative to the model folder,
        or to the model file's folder for a file (its shards and external data beside it)."""
        if self.kind == FOLDER_MODEL:
            return [(rel, self.path / rel) for rel in folder_format.scan(self.path).files]
        module = formats.detect(self.path)
        paths = module.input_files(self.path) if hasattr(module, "input_files") else [self.path]
        return [(p.relative_to(self.path.parent).as_posix(), p) for p in paths if p.is_file()]


@dataclass
class Collection:
    root: Path
    models: list[Model] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # files that are no model, symlinks


def _is_model_folder(folder: Path) -> bool:
    return any(n in FOLDER_MARKERS or n.endswith(safetensors_format.INDEX_SUFFIX) for n in os.listdir(folder))


def _model_file(path: Path) -> bool:
    if path.name.endswith(".nnz"):
        return False
    try:
        formats.detect(path)
    except (NnzError, OSError):
        return False
    return True


def discover(root: Path) -> Collection:
    """The models under ``root`` in sorted order of their paths (a folder tree, or a text file
    listing model paths relative to its own folder, one per line)."""
    root = Path(root)
    if root.is_file():
        return _listed(root)
    if not root.is_dir():
        raise NnzError(f"{root}: no such folder or list file")
    found = Collection(root)
    if _is_model_folder(root):
        found.models.append(Model(root.name, root, FOLDER_MODEL))
        return found
    members: set[Path] = set()
    for folder, dirs, names in os.walk(root):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for d in list(dirs):
            if (here / d).is_symlink():
                found.skipped.append(_rel(root, here / d) + "/ (a symlink)")
                dirs.remove(d)
            elif _is_model_folder(here / d):
                found.models.append(Model(_rel(root, here / d), here / d, FOLDER_MODEL))
                dirs.remove(d)
        for name in sorted(n for n in names if not n.startswith(".")):
            path = here / name
            if path.is_symlink() or not path.is_file():
                found.skipped.append(_rel(root, path) + " (a symlink or not a regular file)")
            elif _model_file(path):
                model = Model(_rel(root, path), path, FILE_MODEL)
                found.models.append(model)
                members.update(p for _, p in model.files() if p != path)
            else:
                found.skipped.append(_rel(root, path))
    found.models = sorted((m for m in found.models if m.path not in members), key=lambda m: m.rel)
    return found


def _listed(list_file: Path) -> Collection:
    found = Collection(list_file.parent)
    for line in list_file.read_text(encoding="utf-8").splitlines():
        rel = line.strip().rstrip("/")
        if not rel or rel.startswith("#"):
            continue
        try:
            check_member_name(rel, "model path")
        except UnsafeInputError as exc:
            raise UnsafeInputError(f"{list_file}: {exc} (list paths relative to the list's folder)") from None
        path = found.root / rel
        if path.is_symlink() or not path.exists():
            raise NnzError(f"{list_file}: {rel}: no such model (or a symlink)")
        found.models.append(Model(rel, path, FOLDER_MODEL if path.is_dir() else FILE_MODEL))
    found.models.sort(key=lambda m: m.rel)
    return found


def _rel(root: Path, path: Path) -> str:
    return path.relative_to(root).as_posix()


def file_xxh64(path: Path) -> int:
    """XXH64 of a file's bytes, read a block at a time (what ``xxh64sum`` prints)."""
    h = _core.Xxh64()
    block = bytearray(HASH_BLOCK)
    view = memoryview(block)
    with open(path, "rb") as f:
        while n := f.readinto(block):
            h.update(np.frombuffer(view[:n], np.uint8))
    return h.digest()


@dataclass(frozen=True)
class Fingerprint:
    """Size, newest mtime and XXH64s of a model's files; ``xxh64`` is the XXH64 of the lines
    ``<16 hex digits>  <name>\\n`` of its files in order (``xxh64sum``'s output for them)."""

    size: int
    mtime_ns: int
    files: tuple[tuple[str, int, str], ...]

    @property
    def xxh64(self) -> str:
        lines = "".join(f"{digest}  {name}\n" for name, _, digest in self.files).encode("utf-8", "surrogateescape")
        return f"{_core.xxhash64(np.frombuffer(lines, np.uint8)):016x}"


def stat_of(model: Model) -> tuple[int, int]:
    """(total size, newest mtime in ns) of the model's files: what a rerun compares first."""
    stats = [p.stat() for _, p in model.files()]
    return sum(s.st_size for s in stats), max((s.st_mtime_ns for s in stats), default=0)


def fingerprint(model: Model) -> Fingerprint:
    size, mtime = stat_of(model)
    files = tuple((name, p.stat().st_size, f"{file_xxh64(p):016x}") for name, p in model.files())
    return Fingerprint(size, mtime, files)
