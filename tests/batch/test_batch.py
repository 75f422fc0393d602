"""``nncodec batch`` on a small collection (tests/batch_collection.py): every model coded,
verified and restored byte for byte, bases found across the collection, reruns that redo only
what changed, a killed driver or worker that leaves nothing partial, and hostile manifests."""

from __future__ import annotations

import filecmp
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

import batch_collection
from nncodec import NnzError, UnsafeInputError
from nncodec.batch import BatchSettings, restore_batch, run_batch
from nncodec.batch import manifest
from nncodec.batch.collection import discover, file_xxh64
from nncodec.nnzfile import NnzFile

MODEL_COUNT = 10  # what batch_collection.build writes (README.md is no model)


@pytest.fixture(scope="module")
def collection(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("collection")
    return root, batch_collection.build(root)


@pytest.fixture(scope="module")
def coded(collection, tmp_path_factory) -> Path:
    dst = tmp_path_factory.mktemp("coded") / "dst"
    run_batch(collection[0], dst, BatchSettings(workers=2))
    return dst


def _rows(dst: Path) -> list[dict]:
    return [json.loads(line) for line in (dst / manifest.MANIFEST).read_text().splitlines()]


def _same_tree(a: Path, b: Path, skip: tuple = ("README.md",)) -> None:
    cmp = filecmp.dircmp(a, b, ignore=list(skip))
    stack = [cmp]
    while stack:
        c = stack.pop()
        assert not c.left_only and not c.right_only, (c.left, c.left_only, c.right_only)
        _, mismatch, errors = filecmp.cmpfiles(c.left, c.right, c.common_files, shallow=False)
        assert not mismatch and not errors, (c.left, mismatch, errors)
        stack.extend(c.subdirs.values())


def _leftovers(dst: Path) -> list[Path]:
    """Anything in the destination that is neither a container, the manifest nor the lock."""
    return [p for p in dst.rglob("*") if p.is_file() and p.suffix != ".nnz" and p.name not in (manifest.MANIFEST, "lock")]


def test_every_model_coded_verified_and_listed_once(collection, coded):
    root, kinds = collection
    rows = _rows(coded)
    assert sorted(r["source"] for r in rows) == sorted(kinds) and len(rows) == MODEL_COUNT
    for r in rows:
        out = coded / r["output"]
        assert r["verified"] and out.stat().st_size == r["output_bytes"]
        assert f"{file_xxh64(out):016x}" == r["output_xxh64"]
        assert r["source_bytes"] == sum(size for _, size, _ in r["files"])
        for name, _, digest in r["files"]:
            src = root / r["source"] / name if r["format"] == "folder" else (root / r["source"]).parent / name
            assert f"{file_xxh64(src):016x}" == digest
        assert r["peak_rss_bytes"] > 0 and r["worker"]
    assert not _leftovers(coded)


def test_bases_found_across_the_collection(collection, coded):
    root, kinds = collection
    rows = {r["source"]: r for r in _rows(coded)}
    family = {rel for rel, kind in kinds.items() if rel.startswith(("mlp", "copies"))}
    for rel, kind in kinds.items():
        r = rows[rel]
        if kind in ("fine-tune", "copy") and rel != min(family):
            assert r["base"] in family, (rel, r["base"])
        if kind == "sharded fine-tune":
            assert r["base"] == "bert"
        if kind == "unrelated":
            assert r["base"] is None
    copies = [r for rel, r in rows.items() if kinds[rel] == "copy" and r["base"]]
    assert copies and all(r["output_bytes"] < 0.01 * r["source_bytes"] for r in copies)
    for rel, r in rows.items():  # fine-tunes against a base: smaller than the model coded alone
        if kinds[rel] == "fine-tune" and r["base"]:
            with NnzFile(coded / r["output"]) as f:
                assert f.needs_base
            assert r["ratio"] > 1.4


def test_restore_gives_the_collection_back(collection, coded, tmp_path):
    restored = restore_batch(coded, tmp_path / "out", BatchSettings(workers=2, auto_bases=False))
    assert sorted(restored) == sorted(collection[1])
    _same_tree(collection[0], tmp_path / "out")
    with pytest.raises(NnzError, match="exists"):
        restore_batch(coded, tmp_path / "out", BatchSettings(auto_bases=False))
    (tmp_path / "out" / "mlp" / "ft0.safetensors").write_bytes(b"damaged")
    restore_batch(coded, tmp_path / "out", BatchSettings(auto_bases=False), force=True)
    _same_tree(collection[0], tmp_path / "out")


def test_rerun_does_nothing(collection, coded):
    before = (coded / manifest.MANIFEST).read_bytes()
    stamps = {p: p.stat().st_mtime_ns for p in coded.rglob("*.nnz")}
    report = run_batch(collection[0], coded, BatchSettings(workers=2))
    assert not report.coded and len(report.skipped) == MODEL_COUNT and not report.failed
    assert (coded / manifest.MANIFEST).read_bytes() == before
    assert {p: p.stat().st_mtime_ns for p in coded.rglob("*.nnz")} == stamps


def test_changed_base_redoes_its_dependents(collection, tmp_path):
    root = tmp_path / "src"
    shutil.copytree(collection[0], root)
    dst = tmp_path / "dst"
    run_batch(root, dst, BatchSettings(workers=2))
    rows = {r["source"]: r for r in _rows(dst)}
    base = next(r["base"] for r in rows.values() if r["base"] and r["source"].startswith("mlp/ft"))
    dependents = {rel for rel, r in rows.items() if r["base"] == base}
    os.utime(root / base, ns=(time.time_ns(), time.time_ns() + 10**9))  # touched, the same bytes
    assert not run_batch(root, dst, BatchSettings(workers=2)).coded
    touched = {r["source"]: r for r in _rows(dst)}[base]
    assert touched["source_mtime_ns"] == (root / base).stat().st_mtime_ns and len(_rows(dst)) == MODEL_COUNT
    batch_collection.overwrite_with_fine_tune(root / base)
    report = run_batch(root, dst, BatchSettings(workers=2))
    assert {r.source for r in report.coded} >= {base} | dependents
    assert len(_rows(dst)) == MODEL_COUNT
    restore_batch(dst, tmp_path / "out", BatchSettings(auto_bases=False))
    _same_tree(root, tmp_path / "out")


def test_outputs_do_not_depend_on_workers(collection, coded, tmp_path):
    one = tmp_path / "one"
    run_batch(collection[0], one, BatchSettings(workers=1))
    for r in _rows(coded):
        assert (one / r["output"]).read_bytes() == (coded / r["output"]).read_bytes(), r["source"]


def test_killed_driver_leaves_no_partial_output(collection, tmp_path):
    """The CLI killed (SIGKILL) while it codes: every container present is complete, the manifest
    reads, and the next run finishes the collection."""
    dst = tmp_path / "dst"
    cmd = [sys.executable, "-m", "nncodec", "batch", str(collection[0]), str(dst), "--workers", "2", "-q"]
    proc = subprocess.Popen(cmd, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not list(dst.rglob("*.nnz")):
        time.sleep(0.01)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    for nnz in dst.rglob("*.nnz"):
        if ".nncodec-batch" not in nnz.parts:
            with NnzFile(nnz) as f:
                f.verify()
    done = len(manifest.read(dst))
    assert done < MODEL_COUNT, "the run ended before it was killed: make the collection larger"
    subprocess.run(cmd, check=True)
    assert len(_rows(dst)) == MODEL_COUNT and not _leftovers(dst)
    restore_batch(dst, tmp_path / "out", BatchSettings(auto_bases=False))
    _same_tree(collection[0], tmp_path / "out")


def test_failing_model_is_reported_and_the_rest_coded(collection, tmp_path):
    root = tmp_path / "src"
    shutil.copytree(collection[0], root, ignore=shutil.ignore_patterns("bert*"))
    (root / "broken.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json}      ")
    result = subprocess.run([sys.executable, "-m", "nncodec", "batch", str(root), str(tmp_path / "dst"), "-q"],
                            capture_output=True, text=True)
    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "broken.safetensors" in lines[0] and "Traceback" not in result.stderr
    assert {r["source"] for r in _rows(tmp_path / "dst")} == {m.rel for m in discover(root).models} - {"broken.safetensors"}


def test_base_map_and_list_file(collection, tmp_path):
    root, kinds = collection
    listing = root / "list.txt"
    listing.write_text("mlp/base.safetensors\nmlp/ft0.safetensors\nother/unrelated.safetensors\n")
    try:
        base_map = tmp_path / "bases.json"
        base_map.write_text(json.dumps({"mlp/ft0.safetensors": "other/unrelated.safetensors",
                                        "mlp/base.safetensors": None}))
        run_batch(listing, tmp_path / "dst", BatchSettings(base_map=base_map, auto_bases=False))
        rows = {r["source"]: r for r in _rows(tmp_path / "dst")}
        assert set(rows) == {"mlp/base.safetensors", "mlp/ft0.safetensors", "other/unrelated.safetensors"}
        assert rows["mlp/ft0.safetensors"]["base"] == "other/unrelated.safetensors"
        assert rows["mlp/base.safetensors"]["base"] is None
        base_map.write_text(json.dumps({"mlp/ft0.safetensors": "mlp/base.safetensors",
                                        "mlp/base.safetensors": "mlp/ft0.safetensors"}))
        with pytest.raises(NnzError, match="cycle"):
            run_batch(listing, tmp_path / "dst2", BatchSettings(base_map=base_map, auto_bases=False))
        listing.write_text("../outside.safetensors\n")
        with pytest.raises(UnsafeInputError):
            run_batch(listing, tmp_path / "dst3")
    finally:
        listing.unlink()


def test_lossy_codec_codes_each_model_alone(collection, tmp_path):
    with pytest.raises(NnzError, match="lossless"):
        BatchSettings(codec="eb", params={"rel_error": 0.01})
    root = tmp_path / "src"
    (root / "mlp").mkdir(parents=True)
    shutil.copy(collection[0] / "mlp/ft0.safetensors", root / "mlp/ft0.safetensors")
    run_batch(root, tmp_path / "dst", BatchSettings(codec="eb", params={"rel_error": 0.01}, auto_bases=False))
    (row,) = _rows(tmp_path / "dst")
    assert row["codec"] == "eb" and row["base"] is None and row["ratio"] > 3


@pytest.mark.parametrize("source", ["../escaped.safetensors", "/tmp/absolute.safetensors", "a/../../b.safetensors"])
def test_hostile_manifest_writes_nothing_outside(coded, tmp_path, source):
    dst = tmp_path / "dst"
    shutil.copytree(coded, dst)
    rows = _rows(dst)
    rows[0]["source"] = source
    (dst / manifest.MANIFEST).write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "box" / "out"
    with pytest.raises(UnsafeInputError):
        restore_batch(dst, out, BatchSettings(auto_bases=False))
    assert not (tmp_path / "box").exists() and not Path("/tmp/absolute.safetensors").exists()


def test_restore_never_writes_through_a_symlink(coded, tmp_path):
    out, victim = tmp_path / "out", tmp_path / "victim"
    out.mkdir()
    victim.mkdir()
    (out / "mlp").symlink_to(victim)
    with pytest.raises(UnsafeInputError, match="symlink"):
        restore_batch(coded, out, BatchSettings(auto_bases=False))
    assert not list(victim.iterdir())


def test_second_run_on_the_same_destination_is_refused(collection, coded):
    import fcntl

    with open(coded / ".nncodec-batch" / "lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        with pytest.raises(NnzError, match="another nncodec batch"):
            run_batch(collection[0], coded)


def _pool_workers() -> list[int]:
    """The processes of the local executor's pool: children of this process spawned by multiprocessing."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
                if ppid == os.getpid() and b"spawn_main" in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    return found


def test_killed_local_worker_is_retried(collection, tmp_path):
    import threading

    root = tmp_path / "src"
    shutil.copytree(collection[0], root)
    batch_collection.add_large_checkpoint(root, 8 << 20)
    dst = tmp_path / "dst"
    work, stop, killed = dst / ".nncodec-batch" / "work", threading.Event(), []

    def kill_when_coding():
        while not stop.is_set() and not killed:
            if work.is_dir() and any(work.iterdir()):  # a task is coding a model
                for pid in _pool_workers():
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            time.sleep(0.005)

    killer = threading.Thread(target=kill_when_coding)
    killer.start()
    try:
        report = run_batch(root, dst, BatchSettings(workers=2))
    finally:
        stop.set()
        killer.join()
    assert killed and not report.failed
    assert len(_rows(dst)) == MODEL_COUNT + 1 and not _leftovers(dst)
    restore_batch(dst, tmp_path / "out", BatchSettings(auto_bases=False))
    _same_tree(root, tmp_path / "out")


def test_long_chain_of_bases_is_checked_without_recursion(tmp_path):
    """A rerun over a chain of bases longer than Python's recursion limit (each model coded against
    the next, as a base map may say, so checking the first walks the whole chain): every model is
    up to date."""
    from safetensors.numpy import save_file

    from nncodec.batch.collection import Collection, Model, stat_of
    from nncodec.batch.run import _up_to_date

    src, dst, count = tmp_path / "src", tmp_path / "dst", sys.getrecursionlimit() + 500
    src.mkdir()
    dst.mkdir()
    models, rows = [], {}
    for i in range(count):
        model = Model(f"ckpt{i}.safetensors", src / f"ckpt{i}.safetensors", "file")
        save_file({"w": np.full(4, i, np.float32)}, str(model.path))
        (dst / model.output).write_bytes(b"x")
        size, mtime = stat_of(model)
        rows[model.rel] = manifest.Row(
            source=model.rel, format="safetensors", source_bytes=size, source_mtime_ns=mtime, source_xxh64=f"{i:016x}",
            files=[], output=model.output, output_bytes=1, output_xxh64="0" * 16, ratio=1.0, codec="lossless",
            base=f"ckpt{i + 1}.safetensors" if i + 1 < count else None,
            base_xxh64=f"{i + 1:016x}" if i + 1 < count else None, seconds=0.0,
            worker="w", peak_rss_bytes=0)
        models.append(model)
    assert _up_to_date(Collection(src, models), rows, dst, "lossless") == {m.rel for m in models}
