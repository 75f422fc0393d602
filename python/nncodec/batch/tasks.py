"""What a worker of ``nncodec batch`` does with one model: read its tensors' signatures, estimate
what it costs against candidate bases, code and verify it, restore it. Plain functions of plain
data (picklable jobs and results), so that any executor can run them.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .. import _core, codecs, formats
from ..codecs.coding import EncodeOptions, encode_array
from ..delta import SOURCE_BASE, tensor_hash
from ..dtypes import dtype_name, element_bytes
from ..atomic import fsync_path
from ..errors import ChecksumError, NnzError
from ..limits import DEFAULT_LIMITS
from .collection import FILE_MODEL, HASH_BLOCK, Fingerprint, Model, file_xxh64, stat_of
from .manifest import Row

SAMPLE_TENSORS = 8         # largest matched tensors a base estimate codes a sample of
SAMPLE_ELEMS = 1 << 18     # elements of each sample (from the middle of the tensor)
ESTIMATE_CHUNK = 1 << 16


@dataclass(frozen=True)
class Signature:
    """A model's tensors as bases are chosen from: (name, dtype, shape, XXH64, bytes) each."""

    model: Model
    format: str
    tensors: tuple[tuple[str, str, tuple[int, ...], int, int], ...]
    largest: int

    @property
    def tensor_bytes(self) -> int:
        return sum(t[4] for t in self.tensors)


def _tensors(model: Model):
    return formats.detect(model.path).read(model.path, DEFAULT_LIMITS)


def scan(model: Model) -> Signature:
    doc = _tensors(model)
    rows = tuple((n, dtype_name(a.dtype), tuple(a.shape), tensor_hash(a), a.nbytes)
                 for n, a in doc.tensors.items() if dtype_name(a.dtype) is not None)
    return Signature(model, doc.format, rows, max((r[4] for r in rows), default=0))


def _sample(array: np.ndarray) -> np.ndarray:
    flat = array.reshape(-1)
    n = min(flat.size, SAMPLE_ELEMS)
    start = (flat.size - n) // 2
    return np.ascontiguousarray(flat[start:start + n])


def _coded_size(encoded) -> int:
    return len(encoded.params) + encoded.coded_bytes


def estimate(sig: Signature, candidates: list[Signature]) -> tuple[int, dict[str, int]]:
    """(estimated coded bytes of the model alone, and against each candidate base) from samples
    of its largest tensors, coded alone and, where the candidate has a tensor of the same name,
    dtype and shape, as their delta; tensors equal to one of the candidate's (any name, by the
    signatures' hashes) cost nothing. Only the sampled tensors are read."""
    tensors = _tensors(sig.model).tensors
    options = EncodeOptions(threads=1)
    rows = sorted(sig.tensors, key=lambda t: (-t[4], t[0]))
    ratio_alone: dict[str, float] = {}

    def alone(name: str) -> float:
        if name not in ratio_alone:
            s = _sample(tensors[name])
            ratio_alone[name] = _coded_size(encode_array(name, s, options)) / max(s.nbytes, 1)
        return ratio_alone[name]

    head = rows[:SAMPLE_TENSORS]
    head_ratio = sum(alone(t[0]) * t[4] for t in head) / max(sum(t[4] for t in head), 1)
    total_alone = int(head_ratio * sum(t[4] for t in rows))
    return total_alone, {c.model.rel: _against(rows, tensors, c, alone, head_ratio) for c in candidates}


def _against(rows: list, tensors: dict, base: Signature, alone, ratio_unsampled: float) -> int:
    equal = {(dtype, shape, digest) for _, dtype, shape, digest, _ in base.tensors}
    by_name = {name: (dtype, shape) for name, dtype, shape, _, _ in base.tensors}
    base_tensors = None
    cost, sampled = 0.0, 0
    for name, dtype, shape, digest, nbytes in rows:
        if (dtype, shape, digest) in equal:
            continue
        matched = by_name.get(name) == (dtype, shape)
        if matched and sampled < SAMPLE_TENSORS:
            sampled += 1
            base_tensors = base_tensors if base_tensors is not None else _tensors(base.model).tensors
            s, r = _sample(tensors[name]), _sample(base_tensors[name])
            coded = _core.encode_delta(element_bytes(s), dtype, element_bytes(r), SOURCE_BASE, 0, ESTIMATE_CHUNK, 1)
            cost += min(_coded_size(coded) / max(s.nbytes, 1), alone(name)) * nbytes
        elif matched:
            cost += ratio_unsampled * 0.5 * nbytes  # a matched tensor past the samples: half of alone
        else:
            cost += (alone(name) if sampled < SAMPLE_TENSORS else ratio_unsampled) * nbytes
    return int(cost)


@dataclass(frozen=True)
class EncodeJob:
    """One model to code: against ``base``, or against the cheapest of ``candidates`` (the
    model's ``signature`` and theirs; bases.pick), or alone."""

    model: Model
    base: Model | None
    dst: Path
    work: Path
    codec: str
    params: dict
    threads: int
    memory: int  # bytes the task may take (what Ray reserves for it)
    signature: Signature | None = None
    candidates: tuple[Signature, ...] = ()

    def chosen_base(self) -> Model | None:
        if not self.candidates:
            return self.base
        from .bases import pick

        alone, against = estimate(self.signature, list(self.candidates))
        rel = pick(alone, against)
        return next((c.model for c in self.candidates if c.model.rel == rel), None)


def _reset_peak_rss() -> None:
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current resident set


def _peak_rss() -> int:
    with contextlib.suppress(OSError, AttributeError):
        return int(re.search(r"VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text()).group(1)) * 1024
    return 0


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def encode(job: EncodeJob) -> Row:
    """Codes the model into a private work folder, decodes it back and compares every file with
    the source (hashing the source as it goes), then moves the container into place."""
    from ..api import encode_file

    _reset_peak_rss()
    start = time.perf_counter()
    base = job.chosen_base()
    work = job.work / f"{uuid.uuid4().hex}"
    work.mkdir(parents=True)
    try:
        nnz = work / "model.nnz"
        size, mtime = stat_of(job.model)
        encode_file(job.model.path, nnz, codec=job.codec, params=job.params, threads=job.threads,
                    base=base.path if base else None)
        if codecs.get(job.codec).lossy:
            files = verify_within_bounds(nnz, job.model, job.threads)
        else:
            files = verify(nnz, job.model, base, work / "restored", job.threads)
        fp = Fingerprint(size, mtime, files)
        if stat_of(job.model) != (size, mtime):
            raise NnzError(f"{job.model.path}: changed while it was coded")
        out_bytes, out_hash = nnz.stat().st_size, f"{file_xxh64(nnz):016x}"
        target = job.dst / job.model.output
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(nnz, target)
        fsync_path(target.parent)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return Row(source=job.model.rel, format=formats.detect(job.model.path).FORMAT, source_bytes=size,
               source_mtime_ns=mtime, source_xxh64=fp.xxh64, files=[list(f) for f in files], output=job.model.output,
               output_bytes=out_bytes, output_xxh64=out_hash, ratio=size / max(out_bytes, 1), codec=job.codec,
               base=base.rel if base else None, base_xxh64=None,
               seconds=time.perf_counter() - start, worker=worker_name(), peak_rss_bytes=_peak_rss())


def verify(nnz: Path, model: Model, base: Model | None, folder: Path, threads: int):
    """Restores ``nnz`` into ``folder`` and compares it with the model's files; returns
    (name, bytes, XXH64) of each source file. A difference is a ChecksumError naming the file."""
    from ..nnzfile import NnzFile

    folder.mkdir()
    with NnzFile(nnz, threads=threads, base=base.path if base else None) as f:
        stored = [name for name, _ in f.files()]
        first = model.path.name if model.kind == FILE_MODEL else ""
        f.restore_into(folder, first)
    restored = [first, *stored[1:]] if first else stored
    sources = model.files()
    if sorted(restored) != sorted(name for name, _ in sources):
        raise ChecksumError(f"{nnz}: restores the files {sorted(restored)}, the model has "
                            f"{sorted(n for n, _ in sources)}")
    out = []
    for name, path in sources:
        digest = _compare(path, folder / name)
        out.append((name, path.stat().st_size, f"{digest:016x}"))
        (folder / name).unlink()
    return tuple(out)


def verify_within_bounds(nnz: Path, model: Model, threads: int):
    """A lossy container checked tensor by tensor against the source: every decoded weight within
    the error its codec records for the tensor (0 for lossless ones: bit for bit), one tensor
    decoded at a time; returns (name, bytes, XXH64) of each source file."""
    from ..nnzfile import NnzFile

    source = _tensors(model).tensors
    with NnzFile(nnz, threads=threads) as f:
        if sorted(t.name for t in f.tensors) != sorted(source):
            raise ChecksumError(f"{nnz}: holds other tensors than {model.path}")
        for t in f.tensors:
            bound = codecs.describe(t.codec, t.params).get("max_error", 0.0)
            if not _within(f[t.name], source[t.name], bound):
                raise ChecksumError(f"{nnz}: tensor {t.name!r} is not within its recorded error {bound:g} of the source")
    return tuple((name, p.stat().st_size, f"{file_xxh64(p):016x}") for name, p in model.files())


def _within(decoded: np.ndarray, original: np.ndarray, bound: float) -> bool:
    if decoded.dtype != original.dtype or decoded.shape != original.shape:
        return False
    if bound == 0 or dtype_name(original.dtype) not in ("float64", "float32", "float16", "bfloat16"):
        return np.array_equal(element_bytes(decoded), element_bytes(original))
    a, b = decoded.astype(np.float64), original.astype(np.float64)
    finite = np.isfinite(b)
    same_special = np.array_equal(np.isnan(a), np.isnan(b)) and np.array_equal(a[~finite & ~np.isnan(b)],
                                                                               b[~finite & ~np.isnan(b)])
    return same_special and bool((np.abs(a[finite] - b[finite]) <= bound).all())


def _compare(source: Path, restored: Path) -> int:
    """XXH64 of ``source``, read once, failing where ``restored`` differs from it."""
    h = _core.Xxh64()
    with open(source, "rb") as a, open(restored, "rb") as b:
        while True:
            x, y = a.read(HASH_BLOCK), b.read(HASH_BLOCK)
            if x != y:
                raise ChecksumError(f"{source}: the decoded file differs from it")
            if not x:
                return h.digest()
            h.update(np.frombuffer(x, np.uint8))


@dataclass(frozen=True)
class RestoreJob:
    row: Row
    nnz: Path
    out: Path            # where the model goes (a file, or a folder)
    base: Path | None    # the restored base model
    threads: int
    force: bool = False  # replace the model's files where they exist


def restore(job: RestoreJob) -> str:
    """Decodes one container to its model and checks every file against the manifest's XXH64s."""
    from ..api import decode_file

    if f"{file_xxh64(job.nnz):016x}" != job.row.output_xxh64:
        raise ChecksumError(f"{job.nnz}: its XXH64 is not the manifest's")
    decode_file(job.nnz, job.out, threads=job.threads, base=job.base, force=job.force)
    root = job.out if job.row.format == "folder" else job.out.parent
    for name, _, digest in job.row.files:
        if f"{file_xxh64(root / name):016x}" != digest:
            raise ChecksumError(f"{root / name}: restored bytes differ from the source's (manifest XXH64)")
    return job.row.source
