"""``nncodec batch --executor ray`` on a local Ray cluster started here: a worker killed in the
middle of coding a model, and the batch still completes with every model verified, a manifest
with one row per model, nothing partial, the same bytes as the local executor, and a rerun that
does nothing."""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import pytest
import ray

import batch_collection
from nncodec.batch import BatchSettings, restore_batch, run_batch
from nncodec.batch import manifest

from test_batch import _leftovers, _rows, _same_tree

TASK_TITLE = b"ray::nncodec-encode"
BUSY_SECONDS = 0.3  # a worker in one encode task this long is in the middle of the large model


@pytest.fixture(scope="module")
def cluster():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _encoding_workers() -> set[int]:
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if (entry / "cmdline").read_bytes().startswith(TASK_TITLE):
                    found.add(int(entry.name))
            except OSError:
                continue
    return found


def _kill_a_busy_worker(stop: threading.Event, killed: list[int]) -> None:
    """SIGKILLs the first worker seen in one encode task for BUSY_SECONDS, once."""
    since: dict[int, float] = {}
    while not stop.is_set() and not killed:
        now = time.monotonic()
        busy = _encoding_workers()
        since = {pid: since.get(pid, now) for pid in busy}
        for pid, start in since.items():
            if now - start >= BUSY_SECONDS:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
                break
        time.sleep(0.02)


def test_killed_worker_batch_completes(cluster, tmp_path):
    root = tmp_path / "src"
    kinds = batch_collection.build(root, big_elems=24 << 20)
    dst = tmp_path / "dst"
    stop, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_a_busy_worker, args=(stop, killed))
    killer.start()
    try:
        report = run_batch(root, dst, BatchSettings(executor="ray", workers=2))
    finally:
        stop.set()
        killer.join()
    assert killed, "no worker was seen in the middle of a model: the test did not kill one"
    assert not report.failed
    rows = _rows(dst)
    assert sorted(r["source"] for r in rows) == sorted(kinds) and all(r["verified"] for r in rows)
    assert not _leftovers(dst)
    assert str(killed[0]) not in {r["worker"].rsplit(":", 1)[1] for r in rows if r["source"] == "big/ckpt.safetensors"}

    local = tmp_path / "local"
    run_batch(root, local, BatchSettings(workers=2))
    for r in rows:
        assert (local / r["output"]).read_bytes() == (dst / r["output"]).read_bytes(), r["source"]

    before = (dst / manifest.MANIFEST).read_bytes()
    again = run_batch(root, dst, BatchSettings(executor="ray", workers=2))
    assert not again.coded and (dst / manifest.MANIFEST).read_bytes() == before

    restore_batch(dst, tmp_path / "out", BatchSettings(executor="ray", workers=2, auto_bases=False))
    _same_tree(root, tmp_path / "out")
