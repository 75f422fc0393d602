"""Metadata of any shape: every command on a .nnz file whose metadata fields have wrong types, or
hostile JSON, ends in a one-line NnzError (or works), never a traceback or an internal error.

The walk takes real files (ONNX, safetensors sharded, torch, one with a fidelity record), puts
each wrong value at each field nncodec reads (nncodec/meta.py FIELDS and the codec's settings,
codec_fields, plus the format attributes the writers use), and runs info, info --json, decode and decode --to npz on it.
"""

from __future__ import annotations

import copy
import io
import json
import zlib
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
import nnz_reference
from onnx_models import mlp
from safetensors.numpy import save_file

import nncodec
from nncodec.cli import main as cli_main
from nncodec.meta import FIELDS, codec_fields
from nncodec.nnzfile import META_BLOB

WRONG_VALUES = [None, True, 0, -7, 2.5, "text", "\ud800", [], [1, "a"], {}, {"k": [1]}, [[[[[]]]]]]
# Fields the format writers read from source.attrs (and the fidelity record's inner values).
EXTRA_FIELDS = ["source.attrs.slots", "source.attrs.kind", "fidelity.per_output.out",
                "fidelity.calibrated_tensors"]
FIDELITY = {"target": 0.9995, "achieved": 0.9996, "inputs": "4 generated runs", "rounding": "nearest",
            "metric": "output cosine", "evaluations": 3, "lossy_tensors": 1, "per_output": {"out": 0.9996},
            "calibrated_tensors": []}


def _encoded(tmp_path: Path) -> dict[str, Path]:
    models = tmp_path / "models"
    models.mkdir()
    onnx.save(mlp(hidden=16), models / "m.onnx")
    rng = np.random.default_rng(0)
    save_file({"a": rng.standard_normal((8, 8)).astype(np.float32)}, str(models / "s-1.safetensors"))
    save_file({"b": rng.standard_normal((4, 8)).astype(np.float32)}, str(models / "s-2.safetensors"))
    (models / "s.safetensors.index.json").write_text(json.dumps(
        {"metadata": {}, "weight_map": {"a": "s-1.safetensors", "b": "s-2.safetensors"}}))
    torch.save({"w": torch.arange(12, dtype=torch.float32).reshape(3, 4)}, models / "t.pt")
    files = {name: nncodec.encode_file(models / name, tmp_path / f"{name}.nnz")
             for name in ("m.onnx", "s.safetensors.index.json", "t.pt")}
    # A lossy codec's settings in codec_params (typed by its Settings: meta.codec_fields).
    files["m.onnx eb"] = nncodec.encode_file(models / "m.onnx", tmp_path / "m.eb.nnz", codec="eb",
                                             params={"error": 0.01})
    return files


def _with_meta(path: Path, meta: dict, out: Path) -> Path:
    container = nnz_reference.parse(path.read_bytes())
    blob = next(b for b in container.blobs if b.name == META_BLOB)
    blob.encoding, blob.data = 1, zlib.compress(json.dumps(meta).encode())
    out.write_bytes(nnz_reference.build(container))
    return out


def _set(record: dict, path: str, value) -> bool:
    """Sets the field at ``path`` (every element below a "[]" or "{}" step); False if absent."""
    steps = path.replace("[]", "").replace("{}", "").split(".")
    target = record
    for step in steps[:-1]:
        if not isinstance(target, dict) or step not in target:
            return False
        target = target[step]
    if not isinstance(target, dict):
        return False
    target[steps[-1]] = value
    return True


def _run(args: list[str]) -> tuple[int, str]:
    err = io.StringIO()
    with redirect_stdout(io.StringIO()), redirect_stderr(err):
        status = cli_main(args)
    return status, err.getvalue()


def test_every_command_survives_every_wrongly_typed_metadata_field(tmp_path):
    failures = []
    checked = 0
    for name, nnz in _encoded(tmp_path).items():
        with nncodec.load(nnz) as f:
            base = {**f.meta, "fidelity": copy.deepcopy(FIDELITY)}
        for field in [*FIELDS, *codec_fields(base), *EXTRA_FIELDS]:
            for k, value in enumerate(WRONG_VALUES):
                meta = copy.deepcopy(base)
                if not _set(meta, field, value):
                    continue
                crafted = _with_meta(nnz, meta, tmp_path / "crafted.nnz")
                out = tmp_path / f"out-{checked}"
                for args in (["info", crafted], ["info", "--json", crafted],
                             ["decode", crafted, "-o", out / "model", "--force", "-q"],
                             ["decode", crafted, "--to", "npz", "-o", out / "t.npz", "--force", "-q"]):
                    status, err = _run([str(a) for a in args])
                    checked += 1
                    lines = err.splitlines()
                    if status not in (0, 1) or "internal error" in err or "Traceback" in err or len(lines) > 1 or (
                            status == 1 and not (lines and lines[0].startswith("nncodec: error: "))):
                        failures.append(f"{name} {field}={value!r} {args[0]} {args[1]}: {status} {err[:300]}")
    assert checked > 500
    assert not failures, "\n".join(failures[:20])


@pytest.mark.parametrize("json_text", [b"[" * 100_000 + b"]" * 100_000, b'{"source": ' * 5000 + b"1" + b"}" * 5000,
                                       b'{"a": "unterminated', b"\xff\xfe", b"1e999999", b"9" * 100_000],
                         ids=["deep-lists", "deep-objects", "unterminated", "not-utf8", "huge-exponent", "long-int"])
def test_hostile_metadata_json_is_a_one_line_error_everywhere(tmp_path, json_text):
    nnz = _encoded(tmp_path)["m.onnx"]
    container = nnz_reference.parse(nnz.read_bytes())
    next(b for b in container.blobs if b.name == META_BLOB).data = zlib.compress(json_text)
    next(b for b in container.blobs if b.name == META_BLOB).encoding = 1
    crafted = tmp_path / "crafted.nnz"
    crafted.write_bytes(nnz_reference.build(container))
    for args in (["info", crafted], ["decode", crafted, "-o", tmp_path / "o.onnx", "--force", "-q"]):
        status, err = _run([str(a) for a in args])
        assert status == 1 and err.startswith("nncodec: error: ") and len(err.splitlines()) == 1, err
        assert "crafted.nnz" in err
