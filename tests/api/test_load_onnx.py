"""nncodec.onnx: the ModelProto and the onnxruntime session of a .nnz file's ONNX model, built in
memory (no decoded file anywhere), equal to those of the original model."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime
import pytest

import nncodec
import nncodec.onnx
from nncodec.errors import NotFoundError, UnsafeInputError, UnsupportedError
from loader_checks import same_outputs
from onnx_models import constants_and_subgraphs, mlp

TESTS = Path(__file__).resolve().parents[1]
INPUTS = {"X": np.random.default_rng(0).standard_normal((3, 16)).astype(np.float32)}


def save(model: onnx.ModelProto, path: Path, external: bool) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save_model(model, str(path), save_as_external_data=external, location=path.name + ".data", size_threshold=0)
    return path


def files_under(*roots: Path) -> set[Path]:
    return {p for root in roots for p in root.rglob("*")}


@pytest.fixture
def nothing_written(tmp_path, monkeypatch):
    """Runs the test in an empty working folder, with Python's temporary files in a watched one;
    the test's files are made first. Checks afterwards that no file appeared anywhere of these."""
    work, temp = tmp_path / "cwd", tmp_path / "tmp"
    work.mkdir()
    temp.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.setattr(tempfile, "tempdir", str(temp))
    before: list[set[Path]] = []
    yield lambda: before.append(files_under(tmp_path))
    assert files_under(tmp_path) == before[0]


@pytest.mark.parametrize("external", [False, True], ids=["inside", "external-data"])
@pytest.mark.parametrize("max_inline_bytes", [nncodec.onnx.MAX_INLINE_BYTES, 0], ids=["serialized", "files-in-memory"])
def test_a_session_runs_as_one_on_the_original(tmp_path, nothing_written, external, max_inline_bytes):
    src = save(mlp(hidden=64), tmp_path / "model" / "m.onnx", external)
    nnz = nncodec.encode_file(src, tmp_path / "m.nnz")
    want = onnxruntime.InferenceSession(str(src), providers=["CPUExecutionProvider"]).run(None, INPUTS)
    nothing_written()
    session = nncodec.onnx.inference_session(nnz, max_inline_bytes=max_inline_bytes, providers=["CPUExecutionProvider"])
    got = session.run(None, INPUTS)
    assert same_outputs(want, got)


def test_session_options_are_used_also_for_models_given_with_their_files(tmp_path):
    src = save(constants_and_subgraphs(), tmp_path / "c.onnx", external=True)
    x = {"X": np.random.default_rng(1).standard_normal((2, 8)).astype(np.float32)}
    want = onnxruntime.InferenceSession(str(src)).run(None, x)
    options = onnxruntime.SessionOptions()
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_DISABLE_ALL
    options.optimized_model_filepath = ""
    session = nncodec.onnx.inference_session(nncodec.encode_file(src), max_inline_bytes=0, sess_options=options)
    assert same_outputs(want, session.run(None, x))


@pytest.mark.parametrize("external", [False, True], ids=["inside", "external-data"])
def test_load_model_gives_the_model_with_its_data_inside(tmp_path, nothing_written, external):
    src = save(constants_and_subgraphs(), tmp_path / "c.onnx", external)
    nnz = nncodec.encode_file(src, tmp_path / "c.nnz")
    want = onnx.load_model(str(src))  # external data read in, as load_model puts it inside
    nothing_written()
    got = nncodec.onnx.load_model(nnz)
    assert isinstance(got, onnx.ModelProto)
    assert got.SerializeToString() == want.SerializeToString()
    assert not any(t.data_location == onnx.TensorProto.EXTERNAL for t in got.graph.initializer)


def test_a_folders_onnx_model_and_the_choice_among_several(tmp_path):
    root = tmp_path / "export"
    save(mlp(hidden=32), root / "onnx" / "model.onnx", external=True)
    (root / "config.json").write_text("{}")
    want = onnxruntime.InferenceSession(str(root / "onnx" / "model.onnx")).run(None, INPUTS)
    nnz = nncodec.encode_file(root, tmp_path / "export.nnz")
    for limit in (0, nncodec.onnx.MAX_INLINE_BYTES):
        got = nncodec.onnx.inference_session(nnz, max_inline_bytes=limit).run(None, INPUTS)
        assert same_outputs(want, got)
    save(mlp(seed=3, hidden=32), root / "decoder.onnx", external=False)
    nnz = nncodec.encode_file(root, tmp_path / "two.nnz")
    with pytest.raises(NotFoundError, match="decoder.onnx, onnx/model.onnx"):
        nncodec.onnx.load_model(nnz)
    chosen = nncodec.onnx.load_model(nnz, file="decoder.onnx")
    assert chosen.SerializeToString() == onnx.load_model(str(root / "decoder.onnx")).SerializeToString()


def test_external_data_outside_the_models_files_is_refused_before_onnxruntime_sees_it(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path.parent / "secret.txt").write_text("not the model's")
    hostile = TESTS / "hostile" / "corpus" / "files_reference_outside.nnz"
    with pytest.raises(UnsafeInputError, match="not one of the model's files"):
        nncodec.onnx.load_model(hostile)
    for limit in (0, nncodec.onnx.MAX_INLINE_BYTES):
        with pytest.raises(UnsafeInputError, match="not one of the model's files"):
            nncodec.onnx.inference_session(hostile, max_inline_bytes=limit)


def test_files_that_hold_no_onnx_model_in_memory_say_why(tmp_path):
    import torch

    torch.save({"w": torch.ones(2)}, tmp_path / "m.pt")
    with pytest.raises(UnsupportedError, match="no ONNX model"):
        nncodec.onnx.load_model(nncodec.encode_file(tmp_path / "m.pt"))
    with pytest.raises(UnsupportedError, match="before format 1.1"):
        nncodec.onnx.inference_session(TESTS / "golden" / "v1" / "models" / "onnx-external.nnz")
