"""Careless inputs and hard conditions: thread counts, sizes and paths given wrongly, a full disk,
a killed run, a symlinked output, a file named for another format, a model of 1,100 files under
the default open-file limit. Each ends in a one-line error (or works) and leaves nothing behind."""

from __future__ import annotations

import io
import os
import resource
import signal
import subprocess
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper
from onnx_models import mlp
from safetensors.numpy import save_file

import nncodec
from nncodec import _core, atomic, cli
from nncodec.errors import NnzError, UnsafeInputError, UnsupportedError


def run_cli(*args, preexec=None, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nncodec", *map(str, args)], capture_output=True, text=True,
                          timeout=300, preexec_fn=preexec, cwd=cwd)


def one_error_line(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 1, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("nncodec: error: "), result.stderr
    return lines[0]


@pytest.fixture
def model(tmp_path: Path) -> Path:
    path = tmp_path / "model.onnx"
    onnx.save(mlp(hidden=64), path)
    return path


@pytest.mark.parametrize("threads", ["3000000000", "0", "-1", "two"])
def test_absurd_thread_counts_are_usage_errors(model, threads):
    r = run_cli("encode", model, "--threads", threads)
    assert r.returncode == 2 and "--threads" in r.stderr and "Traceback" not in r.stderr


@pytest.mark.parametrize("threads", [-1, 0, 3_000_000_000, 2.5])
def test_absurd_thread_counts_are_refused_by_the_api(model, tmp_path, threads):
    with pytest.raises(NnzError, match="threads"):
        nncodec.encode_file(model, tmp_path / "x.nnz", threads=threads)
    nnz = nncodec.encode_file(model, tmp_path / "ok.nnz")
    with pytest.raises(NnzError, match="threads"):
        nncodec.load(nnz, threads=threads)
    with pytest.raises(NnzError, match="threads"):
        nncodec.decode_file(nnz, tmp_path / "out.onnx", threads=threads)


def test_negative_min_lossy_size_is_a_usage_error(model):
    r = run_cli("encode", model, "--rel-error", "0.01", "--min-lossy-size", "-5")
    assert r.returncode == 2 and "--min-lossy-size" in r.stderr


def test_output_that_is_a_folder_is_refused_before_any_work(model, tmp_path):
    folder = tmp_path / "existing"
    folder.mkdir()
    started = time.perf_counter()
    line = one_error_line(run_cli("encode", model, "-o", folder))
    assert "is a folder" in line and ".nncodec-" not in line
    nnz = nncodec.encode_file(model, tmp_path / "m.nnz")
    line = one_error_line(run_cli("decode", nnz, "-o", folder))
    assert "is a folder" in line and ".nncodec-" not in line
    assert time.perf_counter() - started < 60
    assert list(folder.iterdir()) == []


def test_a_full_disk_names_the_output_and_leaves_nothing(tmp_path):
    model = tmp_path / "big.onnx"
    onnx.save(mlp(hidden=2048), model)
    assert model.stat().st_size > 200_000
    nnz = nncodec.encode_file(model, tmp_path / "m.nnz")
    out = tmp_path / "out"
    out.mkdir()

    def small_files() -> None:  # writes past 50 KB fail with EFBIG, like a full disk fails with ENOSPC
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (50_000, 50_000))

    line = one_error_line(run_cli("decode", nnz, "-o", out / "model.onnx", preexec=small_files))
    assert "model.onnx" in line and "too large" in line.lower()
    line = one_error_line(run_cli("encode", model, "-o", out / "again.nnz", preexec=small_files))
    assert "again.nnz" in line
    assert list(out.iterdir()) == []


def test_outputs_are_fsynced_with_their_folder_before_they_appear(model, tmp_path, monkeypatch):
    nnz = nncodec.encode_file(model, tmp_path / "m.nnz")
    synced: list[str] = []
    real_fsync = os.fsync

    def fsync(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(atomic.os, "fsync", fsync)
    out = tmp_path / "out"
    nncodec.decode_file(nnz, out / "model.onnx")
    assert any(p.endswith("model.onnx") and ".nncodec-" in p for p in synced)  # the file, still staged
    assert str(out) in synced  # its folder, after the rename


def test_staging_folders_of_killed_runs_are_removed_a_day_later(model, tmp_path):
    from checkers import staging_left_by

    nnz = nncodec.encode_file(model, tmp_path / "m.nnz")
    out = tmp_path / "out"
    out.mkdir()
    stale, fresh = staging_left_by(out, ".nncodec-killed", ".nncodec-running")
    nncodec.decode_file(nnz, out / "model.onnx")
    assert not stale.exists() and fresh.exists()


def test_sigterm_during_a_decode_removes_its_staging_folder(tmp_path):
    signal.signal(signal.SIGTERM, cli._terminate)
    try:
        with pytest.raises(cli._Terminated):
            with atomic.staged_output(tmp_path, force=False, main="m.onnx") as staging:
                staging.path("m.onnx").write_bytes(b"half written")
                os.kill(os.getpid(), signal.SIGTERM)
                time.sleep(5)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    assert list(tmp_path.iterdir()) == []


def test_a_symlinked_output_file_is_not_written_through(model, tmp_path):
    nnz = nncodec.encode_file(model, tmp_path / "m.nnz")
    victim = tmp_path / "victim.txt"
    victim.write_text("not a model")
    link = tmp_path / "out.onnx"
    link.symlink_to(victim)
    line = one_error_line(run_cli("decode", nnz, "-o", link, "--force"))
    assert "symlink" in line
    assert victim.read_text() == "not a model" and link.is_symlink()


def test_a_safetensors_file_named_bin_is_read_as_safetensors(tmp_path):
    path = tmp_path / "pytorch_model.bin"
    save_file({"w": np.arange(64, dtype=np.float32).reshape(8, 8)}, str(path))
    nnz = nncodec.encode_file(path, tmp_path / "m.nnz")
    out = nncodec.decode_file(nnz, tmp_path / "restored.bin")
    assert out.read_bytes() == path.read_bytes()


def test_a_tensors_only_file_decodes_to_npz_but_not_to_a_model(tmp_path):
    arrays = {"a": np.arange(12, dtype=np.float32).reshape(3, 4), "b": np.ones(5, np.int64)}
    nnz = tmp_path / "t.nnz"
    writer = _core.Writer(str(nnz))
    for name, array in arrays.items():
        writer.add_tensor(name, array.dtype.name, list(array.shape),
                          _core.encode_lossless(array.reshape(-1).view(np.uint8), array.dtype.name, 1 << 18, 1))
    writer.finish()
    out = nncodec.decode_file(nnz, to="npz")
    with np.load(out) as loaded:
        assert {k: loaded[k].tolist() for k in loaded} == {k: v.tolist() for k, v in arrays.items()}
    with pytest.raises(UnsupportedError, match="tensors only"):
        nncodec.decode_file(nnz, tmp_path / "model.onnx")


def test_a_model_of_1100_external_files_round_trips_under_1024_open_files(tmp_path):
    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.standard_normal(64).astype(np.float32), f"w{i}") for i in range(1100)]
    nodes = [helper.make_node("Add", ["x", f"w{i}"], [f"y{i}"]) for i in range(1100)]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [64])],
                              [helper.make_tensor_value_info(f"y{i}", TensorProto.FLOAT, [64]) for i in range(1100)],
                              inits)
    src = tmp_path / "src"
    src.mkdir()
    onnx.save(helper.make_model(graph), src / "model.onnx", save_as_external_data=True,
              all_tensors_to_one_file=False, size_threshold=0)
    assert len(list(src.iterdir())) == 1101

    def open_files() -> None:
        resource.setrlimit(resource.RLIMIT_NOFILE, (1024, 1024))

    r = run_cli("encode", src / "model.onnx", "-o", tmp_path / "m.nnz", preexec=open_files)
    assert r.returncode == 0, r.stderr
    out = tmp_path / "out"
    r = run_cli("decode", tmp_path / "m.nnz", "-o", out / "model.onnx", preexec=open_files)
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in src.iterdir())
    for p in src.iterdir():
        assert (out / p.name).read_bytes() == p.read_bytes(), p.name


def test_a_model_may_not_fill_a_users_folder_but_may_refill_its_own(tmp_path):
    """Re-decoding with --force into a sub-folder the model wrote before works; into a folder
    that also holds other files it is refused."""
    rng = np.random.default_rng(1)
    graph = helper.make_graph([helper.make_node("Add", ["x", "w"], ["y"])], "g",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [64])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [64])],
                              [numpy_helper.from_array(rng.standard_normal(64).astype(np.float32), "w")])
    src = tmp_path / "src"
    (src / "weights").mkdir(parents=True)
    onnx.save(helper.make_model(graph), src / "model.onnx", save_as_external_data=True,
              location="weights/w.data", size_threshold=0)
    nnz = nncodec.encode_file(src / "model.onnx", tmp_path / "m.nnz")
    out = tmp_path / "out"
    nncodec.decode_file(nnz, out / "model.onnx")
    nncodec.decode_file(nnz, out / "model.onnx", force=True)  # the model's own folder: fine
    assert (out / "weights" / "w.data").read_bytes() == (src / "weights" / "w.data").read_bytes()
    (out / "weights" / "notes.txt").write_text("the user's")
    with pytest.raises(UnsafeInputError, match="not this model's"):
        nncodec.decode_file(nnz, out / "model.onnx", force=True)
    assert (out / "weights" / "notes.txt").read_text() == "the user's"


def test_a_closed_or_full_stdout_is_an_error(tmp_path, model):
    nnz = nncodec.encode_file(model, tmp_path / "m.nnz")
    with open("/dev/full", "w") as full:
        r = subprocess.run([sys.executable, "-m", "nncodec", "info", str(nnz)], stdout=full, stderr=subprocess.PIPE,
                           text=True, timeout=300)
    assert r.returncode == 1 and "No space left" in r.stderr and "Traceback" not in r.stderr
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        assert cli.main(["info", str(nnz)]) == 0
