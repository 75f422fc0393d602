"""The command line behaves like a good Unix tool: help everywhere, -o, no overwriting without
--force, atomic outputs, one-line errors with a non-zero exit and no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import onnx
import pytest
from onnx_models import mlp

COMMANDS = ["encode", "decode", "info"]


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nncodec", *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, env={**os.environ, "PYTHONWARNINGS": "ignore"}, timeout=300)


@pytest.fixture
def model(tmp_path: Path) -> Path:
    p = tmp_path / "model.onnx"
    onnx.save(mlp(hidden=256), p)
    return p


def leftovers(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".nncodec-")]


def test_top_level_help_lists_commands():
    r = cli("--help")
    assert r.returncode == 0
    for command in COMMANDS:
        assert command in r.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    r = cli(command, "--help")
    assert r.returncode == 0 and "usage:" in r.stdout


def test_encode_decode_round_trip_with_defaults(model):
    original = model.read_bytes()
    r = cli("encode", model)
    assert r.returncode == 0, r.stderr
    nnz = model.with_suffix(".nnz")
    assert nnz.exists() and nnz.stat().st_size < len(original)
    assert "->" in r.stdout
    model.unlink()
    r = cli("decode", nnz)
    assert r.returncode == 0, r.stderr
    assert model.read_bytes() == original
    assert not leftovers(model.parent)


def test_output_option(model, tmp_path):
    out = tmp_path / "sub" / "x.nnz"
    assert cli("encode", model, "-o", out).returncode == 0
    back = tmp_path / "y.onnx"
    assert cli("decode", out, "-o", back).returncode == 0
    assert back.read_bytes() == model.read_bytes()


def test_refuses_to_overwrite_without_force(model):
    assert cli("encode", model).returncode == 0
    nnz = model.with_suffix(".nnz")
    before = nnz.read_bytes()
    r = cli("encode", model, "--codec", "raw")
    assert r.returncode != 0 and "--force" in r.stderr
    assert nnz.read_bytes() == before
    assert cli("encode", model, "--codec", "raw", "--force").returncode == 0
    assert nnz.read_bytes() != before


def test_decode_refuses_to_overwrite_the_original_model(model):
    assert cli("encode", model).returncode == 0
    r = cli("decode", model.with_suffix(".nnz"))
    assert r.returncode == 1 and "exists" in r.stderr


@pytest.mark.parametrize("content,suffix", [(b"hello", ".onnx"), (b"\x89NNZ\r\n\x1a\n" + b"\0" * 80, ".nnz"),
                                            (b"", ".nnz"), (b"PK\x03\x04junk", ".nnz")])
def test_bad_input_gives_one_line_error(tmp_path, content, suffix):
    p = tmp_path / f"bad{suffix}"
    p.write_bytes(content)
    r = cli("encode" if suffix == ".onnx" else "decode", p)
    assert r.returncode == 1
    assert r.stderr.startswith("nncodec: error:") and "Traceback" not in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1
    assert sorted(x.name for x in tmp_path.iterdir()) == [p.name]  # no output, no temp files


def test_missing_file(tmp_path):
    r = cli("encode", tmp_path / "nope.onnx")
    assert r.returncode == 1 and "no such file" in r.stderr


def test_unsupported_model_format(tmp_path):
    p = tmp_path / "weights.xyz"
    p.write_bytes(b"\x00\x01\x02")
    r = cli("encode", p)
    assert r.returncode == 1 and "not a model format" in r.stderr


def test_corrupted_nnz_leaves_no_output(model, tmp_path):
    assert cli("encode", model).returncode == 0
    nnz = model.with_suffix(".nnz")
    data = bytearray(nnz.read_bytes())
    data[len(data) // 3] ^= 0xFF
    nnz.write_bytes(bytes(data))
    out_dir = tmp_path / "out"
    r = cli("decode", nnz, "-o", out_dir / "m.onnx")
    assert r.returncode == 1 and "checksum" in r.stderr
    assert not (out_dir / "m.onnx").exists()
    assert not out_dir.exists() or not leftovers(out_dir)


def test_info_table_and_json(model):
    assert cli("encode", model).returncode == 0
    nnz = model.with_suffix(".nnz")
    r = cli("info", nnz)
    assert r.returncode == 0
    assert "W1" in r.stdout and "lossless" in r.stdout and "total:" in r.stdout
    r = cli("info", nnz, "--json", "--verify")
    data = json.loads(r.stdout)
    rows = {t["name"]: t for t in data["tensors"]}
    assert rows["W1"]["original_bytes"] == 16 * 256 * 4
    assert data["summary"]["source"]["format"] == "onnx"
    assert data["summary"]["coded_bytes"] == sum(t["coded_bytes"] for t in data["tensors"])


def test_bad_thread_count(model):
    r = cli("encode", model, "--threads", "0")
    assert r.returncode == 2 and "threads" in r.stderr
