"""Writing outputs so that a failure never leaves a partial file behind.

Files are first written into a private staging folder inside the destination folder (same file
system, so the final ``os.replace`` is atomic per file), then moved into place only when all of
them were written successfully. Existing files are never replaced unless ``force`` is set.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import NnzError, UnsafeInputError


class OutputExistsError(NnzError, FileExistsError):
    """The output exists and overwriting was not allowed."""


def refuse_existing(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise OutputExistsError(f"{path} exists (use --force to overwrite)")


class Staging:
    """A staging folder; ``path(name)`` gives where to write the output file ``name``."""

    def __init__(self, directory: Path, dest_dir: Path):
        self.directory = directory
        self.dest_dir = dest_dir

    def path(self, relative: str | os.PathLike) -> Path:
        target = (self.directory / relative).resolve()
        if self.directory.resolve() not in target.parents:
            raise UnsafeInputError(f"refusing to write outside the output folder: {relative}")
        target.parent.mkdir(parents=True, exist_ok=True)
        return target

    def produced(self) -> list[Path]:
        return sorted(p.relative_to(self.directory) for p in self.directory.rglob("*") if p.is_file())


@contextlib.contextmanager
def staged_output(dest_dir: Path, force: bool) -> Iterator[Staging]:
    """Stage files for ``dest_dir``; on clean exit move them all into place, else discard them."""
    dest_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".nncodec-", dir=dest_dir))
    try:
        staging = Staging(tmp, dest_dir)
        yield staging
        produced = staging.produced()
        for rel in produced:
            refuse_existing(dest_dir / rel, force)
        for rel in produced:
            (dest_dir / rel).parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp / rel, dest_dir / rel)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
