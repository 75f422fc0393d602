"""``nncodec batch``: code every model of a collection into a mirror of it, and restore it.

A run holds a lock on the destination, so two runs never write it at once; its work folders
(``DST/.nncodec-batch/``) hold only what running tasks write and are removed at the start and the
end of every run, so a killed run leaves nothing behind but complete containers and manifest rows.
A container is moved into place only after it was decoded and compared with its source, and
its row is appended only after that: a model without a row is redone by the next run, one
whose row matches its source (size and mtime, the output present with its recorded size, the
same codec, its base unchanged) is skipped.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

from .. import codecs
from ..atomic import OutputExistsError, check_member_name
from ..errors import NnzError, UnsafeInputError
from ..limits import MAX_THREADS
from . import bases as base_choice, manifest, tasks
from .collection import Collection, Model, discover, fingerprint, stat_of
from .executors import EXECUTORS, executor
from .manifest import Row

STATE = ".nncodec-batch"
STREAMING_SLACK = 256 << 20  # what a task needs besides 2 x its largest tensor (the streaming bound)


@dataclass(frozen=True)
class BatchSettings:
    """How a batch runs: the executor and its workers (``threads`` each), the codec and its
    parameters (as for encode_file), and where bases come from (``auto_bases``, ``base_map``)."""

    executor: str = "local"
    workers: int = 1
    threads: int = 1
    address: str | None = None
    codec: str = "lossless"
    params: dict = field(default_factory=dict)
    auto_bases: bool = True
    base_map: Path | None = None

    def __post_init__(self):
        if self.executor not in EXECUTORS:
            raise NnzError(f"unknown executor {self.executor!r} (choose from {', '.join(EXECUTORS)})")
        for name in ("workers", "threads"):
            if not 1 <= getattr(self, name) <= MAX_THREADS:
                raise NnzError(f"{name} must be from 1 to {MAX_THREADS}")
        codecs.get(self.codec)
        if self.codec != "lossless" and (self.auto_bases or self.base_map is not None):
            raise NnzError("bases across the collection need the lossless codec (a lossily coded base decodes "
                           "to other weights than its source); use --no-auto-base with a lossy codec")


@dataclass
class BatchReport:
    coded: list[Row] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)     # models whose row matched
    failed: list[tuple[str, str]] = field(default_factory=list)
    not_models: list[str] = field(default_factory=list)  # files of the tree that are no model


Progress = Callable[[int, int], None]  # (source bytes just finished, source bytes of all the work)


@contextlib.contextmanager
def _locked(dst: Path) -> Iterator[Path]:
    """The destination's state folder, locked for this run, with its work folder empty."""
    state = dst / STATE
    state.mkdir(parents=True, exist_ok=True)
    with open(state / "lock", "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise NnzError(f"{dst}: another nncodec batch is writing it") from None
        work = state / "work"
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir()
        try:
            yield work
        finally:
            shutil.rmtree(work, ignore_errors=True)


def _up_to_date(collection: Collection, rows: dict[str, Row], dst: Path, codec: str) -> set[str]:
    """The models whose row matches their source, container and base (recursively). A source
    of the recorded size whose mtime changed is hashed: equal bytes keep the row (its mtime
    updated in ``rows``)."""
    models = {m.rel: m for m in collection.models}
    memo: dict[str, bool] = {}

    def same_source(rel: str) -> bool:
        row, (size, mtime) = rows[rel], stat_of(models[rel])
        if (size, mtime) == (row.source_bytes, row.source_mtime_ns):
            return True
        if size != row.source_bytes or fingerprint(models[rel]).xxh64 != row.source_xxh64:
            return False
        rows[rel] = replace(row, source_mtime_ns=mtime)
        return True

    def own_ok(rel: str) -> bool:
        row, model = rows.get(rel), models.get(rel)
        out = dst / row.output if row else None
        return bool(row and model and row.codec == codec and row.output == model.output
                    and out.is_file() and not out.is_symlink() and out.stat().st_size == row.output_bytes
                    and same_source(rel))

    def ok(rel: str) -> bool:
        for r in reversed(_chain_to_known(rel, memo, lambda m: rows[m].base if m in rows else None)):
            row = rows.get(r)
            base_ok = row is not None and (row.base is None or (
                memo.get(row.base, False) and rows[row.base].source_xxh64 == row.base_xxh64))
            memo[r] = base_ok and own_ok(r)  # in a cycle (a hand-edited manifest) none is up to date
        return memo[rel]

    return {rel for rel in models if ok(rel)}


def _chain_to_known(rel: str, known, base_of) -> list[str]:
    """``rel`` and its bases in turn, down to (without) the first in ``known``, the end of the
    chain or a model already in it (a cycle): walked, not recursed, as a checkpoint series may
    chain thousands."""
    chain: list[str] = []
    seen: set[str] = set()
    at: str | None = rel
    while at is not None and at not in known and at not in seen:
        chain.append(at)
        seen.add(at)
        at = base_of(at)
    return chain


def _memory(job) -> int:
    """What Ray reserves for a task: an encode job says (2 x its largest tensor + slack), a scan or
    an estimate reads through memory maps."""
    return getattr(job, "memory", STREAMING_SLACK)


def _plan_bases(collection, todo: list[str], rows: dict[str, Row], settings: BatchSettings, run, failed: dict):
    """Per model to code: its base if fixed (a base map; None: alone), else the signatures it and
    its candidate bases have (the task estimates them and picks). The models already coded keep
    the base their row records. Models whose tensors cannot be read go into ``failed`` (model ->
    error) and serve as no base."""
    order = [m.rel for m in collection.models]
    fixed = {rel: rows[rel].base for rel in order if rel not in todo}
    if settings.base_map is not None:
        given = base_choice.read_map(settings.base_map, set(order))
        fixed.update({rel: base for rel, base in given.items() if rel in todo})
    base_choice.check_graph(fixed)
    if not settings.auto_bases:
        return {rel: (fixed.get(rel), None, ()) for rel in todo}
    signatures = {}
    for model, result in run(tasks.scan, collection.models, "reading tensors"):
        if isinstance(result, BaseException):
            failed[model.rel] = result
        else:
            signatures[model.rel] = result
    found = base_choice.candidates([signatures[rel] for rel in order if rel in signatures])
    return {rel: (fixed[rel], signatures.get(rel), ()) if rel in fixed
            else (None, signatures.get(rel), tuple(signatures[c] for c in found.get(rel, ())))
            for rel in todo}


def run_batch(src: Path, dst: Path, settings: BatchSettings | None = None,
              progress: Progress | None = None, status: Callable[[str], None] | None = None) -> BatchReport:
    """Codes every model under ``src`` into ``dst`` (see the module docstring); a model that fails
    is reported in the result and left without a row, the others go on. ``progress(n, total)``
    is told the source bytes of each model coded (``n``) and of all the models to code."""
    settings = settings or BatchSettings()
    src, dst = Path(src), Path(dst)
    pool = executor(settings.executor, settings.workers, settings.threads, settings.address)
    try:
        pool.warm_up()  # local workers start while the collection is read
        collection = discover(src)
        if dst.resolve() == src.resolve() or src.resolve() in dst.resolve().parents and src.is_dir():
            raise NnzError(f"{dst}: the destination must not be inside the collection")
        dst.mkdir(parents=True, exist_ok=True)
        report = BatchReport(not_models=collection.skipped)
        with _locked(dst) as work:
            present = {m.rel for m in collection.models}
            rows = {rel: row for rel, row in manifest.read(dst).items() if rel in present}
            done = _up_to_date(collection, rows, dst, settings.codec)
            manifest.compact(dst, [rows[m.rel] for m in collection.models if m.rel in rows])
            report.skipped = [m.rel for m in collection.models if m.rel in done]
            todo = [m.rel for m in collection.models if m.rel not in done]
            if todo:
                _code(collection, todo, rows, settings, pool, work, dst, report, progress, status)
    finally:
        pool.close()
    return report


def _code(collection, todo, rows, settings, pool, work, dst, report, progress, status) -> None:
    def run(fn, jobs, what):
        """(job, result) of each job, the largest models first (so that the workers end together)."""
        if status:
            status(f"{what}: {len(jobs)} task(s)")
        jobs = sorted(jobs, key=lambda job: -sizes[_model_of(job).rel])
        return ((jobs[i], result) for i, result in pool.run(fn, jobs, _memory))

    by_rel = {m.rel: m for m in collection.models}
    sizes = {m.rel: stat_of(m)[0] for m in collection.models}
    total = sum(sizes[rel] for rel in todo)
    failed: dict[str, BaseException] = {}
    plans = _plan_bases(collection, todo, rows, settings, run, failed)
    hashes = {rel: row.source_xxh64 for rel, row in rows.items() if rel not in todo}
    jobs = [tasks.EncodeJob(by_rel[rel], by_rel[base] if base else None, dst, work, settings.codec, settings.params,
                            settings.threads, 2 * (sig.largest if sig else sizes[rel]) + STREAMING_SLACK, sig, found)
            for rel, (base, sig, found) in plans.items() if rel not in failed]
    if status:
        status(f"coding {len(jobs)} model(s), {sum(1 for j in jobs if j.base or j.candidates)} with a base to "
               "consider")
    for job, result in run(tasks.encode, jobs, "coding"):
        if isinstance(result, BaseException):
            failed[job.model.rel] = result
            continue
        row = replace(result, base_xxh64=hashes.get(result.base))
        hashes[row.source] = row.source_xxh64
        manifest.append(dst, row)
        report.coded.append(row)
        if progress:
            progress(row.source_bytes, total)
    report.failed = [(rel, _one_line(failed[rel])) for rel in todo if rel in failed]
    _record_base_hashes(dst, collection, report, rows, hashes)


def _model_of(job) -> Model:
    return job if isinstance(job, Model) else job.model


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _record_base_hashes(dst, collection, report, rows, hashes) -> None:
    """Each new row gets its base's source XXH64 (known once the base was verified), so that a
    changed base makes a rerun redo its dependents; written as one atomic rewrite."""
    rows = {**rows, **{row.source: row for row in report.coded}}
    fixed = []
    for m in collection.models:
        if m.rel in rows:
            row = rows[m.rel]
            if row.base is not None and row.base_xxh64 is None:
                row = replace(row, base_xxh64=hashes.get(row.base))
            fixed.append(row)
    manifest.compact(dst, fixed)
    coded = {c.source for c in report.coded}
    report.coded = [r for r in fixed if r.source in coded]


def _safe_rel(rel: str, what: str) -> str:
    """A path from the manifest (which may be hostile): plain relative components only."""
    try:
        return check_member_name(rel, what)
    except UnsafeInputError as exc:
        raise UnsafeInputError(f"manifest: {exc}") from None


def _no_links_below(root: Path, rel: str) -> None:
    here = root
    for part in Path(rel).parts[:-1]:
        here = here / part
        if here.is_symlink():
            raise UnsafeInputError(f"{here} is a symlink: refusing to restore through it")


def restore_batch(dst: Path, out: Path, settings: BatchSettings | None = None, force: bool = False,
                  progress: Progress | None = None) -> list[str]:
    """Restores every model of ``dst``'s manifest under ``out``, bases before the models coded
    against them, each file checked against its recorded XXH64; returns the models restored."""
    settings = settings or BatchSettings(auto_bases=False)
    dst, out = Path(dst), Path(out)
    rows = manifest.read(dst)
    if not rows:
        raise NnzError(f"{dst}: no {manifest.MANIFEST} with any model")
    for row in rows.values():
        _safe_rel(row.source, "model path")
        _safe_rel(row.output, "container path")
        if row.base is not None and row.base not in rows:
            raise NnzError(f"{dst / manifest.MANIFEST}: {row.source} needs the base {row.base}, which it does not list")
        target = out / row.source
        _no_links_below(out, row.source)
        if os.path.lexists(target) and not force:
            raise OutputExistsError(f"{target} exists (use --force to overwrite)")
    levels = _levels(rows)
    pool = executor(settings.executor, settings.workers, settings.threads, settings.address)
    total = sum(row.source_bytes for row in rows.values())
    restored = []
    try:
        for level in levels:
            jobs = [tasks.RestoreJob(rows[rel], dst / rows[rel].output, out / rel,
                                     out / rows[rel].base if rows[rel].base else None, settings.threads, force)
                    for rel in level]
            for _, result in pool.run(tasks.restore, jobs):
                if isinstance(result, BaseException):
                    raise result
                restored.append(result)
                if progress:
                    progress(rows[result].source_bytes, total)
    finally:
        pool.close()
    return restored


def _levels(rows: dict[str, Row]) -> list[list[str]]:
    """The models in waves: each after the wave holding its base."""
    depth: dict[str, int] = {}

    base_choice.check_graph({rel: row.base for rel, row in rows.items()})

    def level(rel: str) -> int:
        for r in reversed(_chain_to_known(rel, depth, lambda m: rows[m].base)):
            depth[r] = 0 if rows[r].base is None else depth[rows[r].base] + 1
        return depth[rel]

    waves: dict[int, list[str]] = {}
    for rel in sorted(rows):
        waves.setdefault(level(rel), []).append(rel)
    return [waves[d] for d in sorted(waves)]
