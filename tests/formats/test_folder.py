"""Model folders: a folder as save_pretrained writes it (weights, config, tokenizer files) encodes
to one .nnz and decodes to the same files, byte for byte; paths are checked both ways."""

from __future__ import annotations

import filecmp
import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

import nncodec
from nncodec.cli import main as cli_main
from nncodec.errors import UnsafeInputError
from hf_models import save_bert


def same_trees(a: Path, b: Path) -> list[str]:
    """Relative paths that differ between two folders (missing on either side or different bytes)."""
    files = lambda root: {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}  # noqa: E731
    left, right = files(a), files(b)
    return sorted((left ^ right) | {f for f in left & right if not filecmp.cmp(a / f, b / f, shallow=False)})


@pytest.fixture(scope="module")
def bert_folder(tmp_path_factory) -> Path:
    return save_bert(tmp_path_factory.mktemp("bert") / "tiny-bert")


def test_a_save_pretrained_folder_comes_back_byte_for_byte(bert_folder, tmp_path):
    nnz = nncodec.encode_file(bert_folder, tmp_path / "tiny-bert.nnz")
    assert nnz.stat().st_size < sum(p.stat().st_size for p in bert_folder.rglob("*") if p.is_file())
    with nncodec.load(nnz) as f:
        names = [name for name, _ in f.files()]
        assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json"} <= set(names)
        assert all(t.name in f for t in f.tensors) and len(f.tensors) > 20
    out = nncodec.decode_file(nnz, tmp_path / "restored")
    assert out == tmp_path / "restored" and same_trees(bert_folder, out) == []


def test_the_cli_round_trips_a_folder_and_lists_its_files(bert_folder, tmp_path, capsys):
    assert cli_main(["encode", str(bert_folder), "-o", str(tmp_path / "m.nnz"), "-q"]) == 0
    assert cli_main(["info", str(tmp_path / "m.nnz")]) == 0
    shown = capsys.readouterr().out
    assert "files:" in shown and "config.json" in shown and "tokenizer_config.json" in shown
    assert cli_main(["decode", str(tmp_path / "m.nnz"), "-o", str(tmp_path / "out"), "-q"]) == 0
    assert same_trees(bert_folder, tmp_path / "out") == []
    assert cli_main(["decode", str(tmp_path / "m.nnz"), "-o", str(tmp_path / "out"), "-q"]) == 1  # exists
    assert cli_main(["decode", str(tmp_path / "m.nnz"), "-o", str(tmp_path / "out"), "-q", "--force"]) == 0


def test_weights_of_every_format_and_nested_folders(tmp_path):
    root = tmp_path / "mixed"
    (root / "onnx").mkdir(parents=True)
    rng = np.random.default_rng(0)
    save_file({"a": rng.standard_normal((16, 16)).astype(np.float32)}, str(root / "model-00001-of-00002.safetensors"))
    save_file({"b": rng.standard_normal((16,)).astype(np.float32)}, str(root / "model-00002-of-00002.safetensors"))
    (root / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {}, "weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}))
    torch.save({"w": torch.randn(8, 8), "shared": torch.arange(6.0).view(2, 3)}, root / "training_state.bin")
    from onnx_models import mlp
    import onnx

    onnx.save_model(mlp(hidden=64), str(root / "onnx" / "model.onnx"), save_as_external_data=True,
                    location="model.onnx.data", size_threshold=0)
    (root / "notes.bin").write_bytes(b"PK\x03\x04 not a zip at all")  # looks like a PyTorch file: kept as bytes
    (root / "empty.txt").write_bytes(b"")
    nnz = nncodec.encode_file(root, tmp_path / "mixed.nnz")
    with nncodec.load(nnz) as f:
        coded = {t.name for t in f.tensors}
    assert {"model.safetensors.index.json:a", "training_state.bin:w", "onnx/model.onnx:W1"} <= coded
    out = nncodec.decode_file(nnz, tmp_path / "out")
    assert same_trees(root, out) == []


def test_hidden_files_are_left_out_and_said(tmp_path):
    root = tmp_path / "m"
    (root / ".git").mkdir(parents=True)
    (root / ".git" / "HEAD").write_text("ref: main\n")
    (root / ".gitattributes").write_text("*.safetensors filter=lfs\n")
    save_file({"w": np.ones((4, 4), np.float32)}, str(root / "model.safetensors"))
    said: list[str] = []
    nnz = nncodec.encode_file(root, tmp_path / "m.nnz", status=said.append)
    assert any(".gitattributes" in s and "hidden" in s for s in said)
    out = nncodec.decode_file(nnz, tmp_path / "out")
    assert sorted(p.name for p in out.iterdir()) == ["model.safetensors"]


def test_a_symlink_that_leaves_the_folder_is_refused_and_one_inside_is_read(tmp_path):
    outside = tmp_path / "secret.txt"
    outside.write_text("not part of the model")
    root = tmp_path / "m"
    root.mkdir()
    (root / "config.json").write_text("{}")
    (root / "alias.json").symlink_to(root / "config.json")
    nnz = nncodec.encode_file(root, tmp_path / "ok.nnz")
    out = nncodec.decode_file(nnz, tmp_path / "out")
    assert (out / "alias.json").read_text() == "{}" and not (out / "alias.json").is_symlink()
    (root / "leak.txt").symlink_to(outside)
    with pytest.raises(UnsafeInputError, match="outside the model's folder"):
        nncodec.encode_file(root, tmp_path / "bad.nnz")
    os.unlink(root / "leak.txt")
    (root / "dir").symlink_to(tmp_path, target_is_directory=True)
    with pytest.raises(UnsafeInputError, match="symlink to a folder"):
        nncodec.encode_file(root, tmp_path / "bad.nnz")
