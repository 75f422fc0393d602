"""Writing outputs: atomically, only the files the model owns, and never through a symlink.

The output folder policy (docs/SECURITY.md): a decoded model writes the file at the path the user
asked for, plus the files that model refers to (ONNX external data, safetensors shards), whose
names come from the (possibly hostile) .nnz file. Those names must be plain relative paths: no
absolute path, no ``..`` or ``.`` component, no component starting with a dot (``.bashrc``,
``.ssh/``), no control characters, backslashes or colons, no two names differing only in case.

Files are first written into a private staging folder inside the destination folder (same file
system, so each final rename is atomic), fsync'd, then moved into place only when all of them
were written. Moving in walks the destination one folder at a time from an open descriptor of
the output folder, refusing any component that is a symlink (``O_NOFOLLOW``), so nothing lands
outside the output folder even if a sub-folder of it is a link. Existing files are replaced only
with ``force``, and only the model's own names. Staging folders left by a killed run are removed
by the next run in that folder once they are a day old.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import stat
import tempfile
import time
import unicodedata
from collections.abc import Iterator
from pathlib import Path

from .errors import NnzError, UnsafeInputError

STAGING_PREFIX = ".nncodec-"
STALE_STAGING_SECONDS = 24 * 3600
MAX_NAME_BYTES = 4096
MAX_COMPONENT_BYTES = 255
MAX_COMPONENTS = 16
_FORBIDDEN = frozenset("\\:\x00")
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | getattr(os, "O_CLOEXEC", 0)


class OutputExistsError(NnzError, FileExistsError):
    """The output exists and overwriting was not allowed."""


def refuse_existing(path: Path, force: bool) -> None:
    """Checked before any work: the output must not be a folder, nor exist unless ``force``."""
    if path.is_dir():
        raise NnzError(f"{path} is a folder; give the output file's path (-o FOLDER/NAME)")
    if os.path.lexists(path) and not force:
        raise OutputExistsError(f"{path} exists (use --force to overwrite)")


def check_free_space(folder: Path, needed: int) -> None:
    """Fails before any work when the disk under ``folder`` cannot hold ``needed`` more bytes."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    free = shutil.disk_usage(existing).free
    if needed > free:
        raise OSError(errno.ENOSPC, f"the output needs {needed:,} bytes, {free:,} are free", str(folder))


def check_member_name(name: object, what: str = "file name") -> str:
    """``name`` if a model may give it to one of its files (see the module docstring)."""
    if not isinstance(name, str) or not name:
        raise UnsafeInputError(f"{what} {name!r} is not a file name")
    try:
        size = len(name.encode("utf-8"))
    except UnicodeEncodeError:
        raise UnsafeInputError(f"{what} {name!r} is not valid UTF-8") from None
    parts = name.split("/")
    bad = (size > MAX_NAME_BYTES or len(parts) > MAX_COMPONENTS or os.path.isabs(name)
           or any(not p or p.startswith(".") or len(p.encode()) > MAX_COMPONENT_BYTES for p in parts)
           or any(c in _FORBIDDEN or unicodedata.category(c) in ("Cc", "Cf", "Zl", "Zp") for c in name))
    if bad:
        raise UnsafeInputError(f"refusing to write {what} {name!r}: the files of a model must have plain relative "
                               "names (no '..', no dot-files, no control characters, backslashes or colons)")
    return name


class Staging:
    """A staging folder; ``path(name)`` gives where to write the output file ``name``.

    ``main`` is the name of the file the user asked for (checked by the caller); every other
    name is one the model gives and must pass :func:`check_member_name`.
    """

    def __init__(self, directory: Path, dest_dir: Path, main: str | None = None):
        self.directory = directory
        self.dest_dir = dest_dir
        self.main = main
        self.current: Path | None = None  # the output being written, for error messages
        self._folded: dict[str, str] = {}

    def path(self, relative: str | os.PathLike) -> Path:
        name = os.fspath(relative)
        if name != self.main:
            check_member_name(name)
        other = self._folded.setdefault(name.casefold(), name)
        if other != name:
            raise UnsafeInputError(f"refusing to write both {other!r} and {name!r}: the names differ only in case")
        target = self.directory / name
        target.parent.mkdir(parents=True, exist_ok=True)
        self.current = self.dest_dir / name
        return target

    def produced(self) -> list[Path]:
        return sorted(p.relative_to(self.directory) for p in self.directory.rglob("*") if p.is_file())


def _open_folder(parent_fd: int, name: str, create: bool, shown: Path) -> int | None:
    """A descriptor of folder ``name`` in ``parent_fd`` (None if missing and not ``create``);
    refuses a symlink or anything that is not a folder."""
    if create:
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o777, dir_fd=parent_fd)
    try:
        return os.open(name, _DIR_FLAGS, dir_fd=parent_fd)
    except FileNotFoundError:
        if create:
            raise
        return None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise UnsafeInputError(f"refusing to write into {shown}: it is a symlink or not a folder") from None
        raise


class _Commit:
    """Moves a staging folder's files into the destination (see the module docstring)."""

    def __init__(self, staging: Staging, force: bool):
        self.staging = staging
        self.force = force
        self.produced = staging.produced()
        self.names = {str(p) for p in self.produced}
        self.folders = {str(parent) for p in self.produced for parent in p.parents if str(parent) != "."}
        self.owned: dict[str, bool] = {}

    def _holds_only_model_files(self, folder_fd: int, rel: str) -> bool:
        """Whether an existing sub-folder holds nothing but files (and folders) this model
        writes: only then may the model's files go into it (a model that names ``src/app.py``
        must not reach into a user's ``src/``)."""
        if rel not in self.owned:
            self.owned[rel] = self._scan(folder_fd, rel)
        return self.owned[rel]

    def _scan(self, folder_fd: int, rel: str) -> bool:
        with os.scandir(folder_fd) as entries:
            for entry in entries:
                path = f"{rel}/{entry.name}"
                if entry.is_dir(follow_symlinks=False) and path in self.folders:
                    fd = os.open(entry.name, _DIR_FLAGS, dir_fd=folder_fd)
                    try:
                        if not self._holds_only_model_files(fd, path):
                            return False
                    finally:
                        os.close(fd)
                elif not (entry.is_file(follow_symlinks=False) and path in self.names):
                    return False
        return True

    def _check_target(self, folder_fd: int | None, rel: Path) -> None:
        shown = self.staging.dest_dir / rel
        if folder_fd is None:
            return
        try:
            st = os.stat(rel.name, dir_fd=folder_fd, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISLNK(st.st_mode):
            raise UnsafeInputError(f"refusing to replace {shown}: it is a symlink")
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeInputError(f"refusing to replace {shown}: it is not a regular file")
        if not self.force:
            raise OutputExistsError(f"{shown} exists (use --force to overwrite)")

    def place(self, dest_fd: int, staging_fd: int, rel: Path, move: bool, last_in_folder: bool) -> None:
        """Check (``move`` False) or move (True) one staged file into place, folder by folder."""
        fds: list[int] = []
        try:
            folder_fd: int | None = dest_fd
            src_fd = staging_fd
            for i, part in enumerate(rel.parts[:-1]):
                shown = self.staging.dest_dir.joinpath(*rel.parts[:i + 1])
                folder_fd = _open_folder(folder_fd, part, move, shown)
                if folder_fd is None:
                    break
                fds.append(folder_fd)
                if not move and not self._holds_only_model_files(folder_fd, "/".join(rel.parts[:i + 1])):
                    raise UnsafeInputError(f"refusing to write {rel} into {shown}: that folder holds files "
                                           "that are not this model's")
                src_fd = os.open(part, _DIR_FLAGS, dir_fd=src_fd)
                fds.append(src_fd)
            self._check_target(folder_fd, rel)
            if move:
                os.replace(rel.name, rel.name, src_dir_fd=src_fd, dst_dir_fd=folder_fd)
                if last_in_folder:  # the renames reach the disk with their folder
                    os.fsync(folder_fd)
        finally:
            for fd in fds:
                os.close(fd)

    def run(self) -> None:
        for rel in self.produced:
            fsync_path(self.staging.directory / rel)
        dest_fd = os.open(self.staging.dest_dir, os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0))
        staging_fd = os.open(self.staging.directory, _DIR_FLAGS)
        try:
            for move in (False, True):  # every check passes before the first file moves
                for k, rel in enumerate(self.produced):  # sorted: the files of one folder are neighbours
                    last = k + 1 == len(self.produced) or self.produced[k + 1].parent != rel.parent
                    self.place(dest_fd, staging_fd, rel, move, last)
        finally:
            os.close(staging_fd)
            os.close(dest_fd)


def fsync_path(path: Path) -> None:
    """fsync of a file, or of a folder (its entries: a rename into it made durable)."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def remove_stale_staging(folder: Path, now: float | None = None) -> None:
    """Removes staging folders of runs that died (killed, out of memory) over a day ago."""
    now = time.time() if now is None else now
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return
    for entry in entries:
        if not entry.name.startswith(STAGING_PREFIX):
            continue
        with contextlib.suppress(OSError):
            st = entry.stat(follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and now - st.st_mtime > STALE_STAGING_SECONDS:
                shutil.rmtree(entry.path, ignore_errors=True)


@contextlib.contextmanager
def staged_output(dest_dir: Path, force: bool, main: str | None = None) -> Iterator[Staging]:
    """Stage files for ``dest_dir``; on clean exit move them all into place, else discard them.

    ``main``: the name of the output file the user chose (any other name is checked as a name the
    model gives)."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    remove_stale_staging(dest_dir)
    tmp = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=dest_dir))
    staging = Staging(tmp, dest_dir, main)
    try:
        try:
            yield staging
        except OSError as exc:
            if exc.filename is None and exc.errno is not None and staging.current is not None:  # say which output failed (disk full, ...)
                raise OSError(exc.errno, f"cannot write: {exc.strerror}", str(staging.current)) from None
            raise
        try:
            _Commit(staging, force).run()
        except OSError as exc:
            if exc.filename is None and exc.errno is not None:
                raise OSError(exc.errno, f"cannot move the output into place: {exc.strerror}", str(dest_dir)) from None
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
