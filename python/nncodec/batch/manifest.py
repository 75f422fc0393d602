"""``DST/manifest.jsonl``: one JSON row per model coded by ``nncodec batch``, appended (and
fsync'd) by the driver alone once the model's container was verified, so that a killed run keeps
every row of the models it finished and none of the others. Reading keeps the last row of each
source and drops a torn last line; ``compact`` rewrites the file atomically with one row each.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..atomic import fsync_path
from ..errors import CorruptFileError

MANIFEST = "manifest.jsonl"
MAX_ROW_BYTES = 1 << 20


@dataclass(frozen=True)
class Row:
    """What a row records of one model (the column names of the manifest)."""

    source: str             # path under the collection's root
    format: str
    source_bytes: int
    source_mtime_ns: int
    source_xxh64: str       # collection.Fingerprint.xxh64
    files: list             # [name, bytes, xxh64] of each file of the model
    output: str             # path of the container under the destination
    output_bytes: int
    output_xxh64: str
    ratio: float
    codec: str
    base: str | None        # source path of the model it is coded against
    base_xxh64: str | None  # that model's source_xxh64 when this one was coded
    seconds: float          # encode and verify, in the worker
    worker: str             # host:pid
    peak_rss_bytes: int     # the worker's peak resident memory during the task (VmHWM)
    verified: bool = True

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"), ensure_ascii=True)

    @classmethod
    def from_json(cls, line: str) -> Row:
        data = json.loads(line)
        names = {f.name for f in fields(cls)}
        if not isinstance(data, dict) or not names - {"verified"} <= set(data):
            raise ValueError("not a manifest row")
        return cls(**{k: v for k, v in data.items() if k in names})


def read(dst: Path) -> dict[str, Row]:
    """Source path -> its last row; a torn last line (a killed driver) is ignored."""
    path = dst / MANIFEST
    if not path.exists():
        return {}
    rows: dict[str, Row] = {}
    lines = path.read_text(encoding="utf-8", errors="replace").split("\n")
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            if len(line) > MAX_ROW_BYTES:
                raise ValueError("too long")
            row = Row.from_json(line)
        except (ValueError, TypeError):
            if number == len(lines):  # the line a killed run was writing
                continue
            raise CorruptFileError(f"{path}: line {number} is not a manifest row") from None
        rows[row.source] = row
    return rows


def compact(dst: Path, rows: list[Row]) -> None:
    """Rewrites the manifest with ``rows`` (one per model), atomically."""
    path = dst / MANIFEST
    tmp = path.with_name(f".{MANIFEST}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        f.writelines(row.to_json() + "\n" for row in rows)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_path(dst)


def append(dst: Path, row: Row) -> None:
    with open(dst / MANIFEST, "a", encoding="utf-8") as f:
        f.write(row.to_json() + "\n")
        f.flush()
        os.fsync(f.fileno())
