"""nncodec.safe_open: the safetensors.safe_open interface over a .nnz file, each tensor decoded
when it is asked for; on a safetensors source the same keys, tensors and metadata."""

from __future__ import annotations

import json

import ml_dtypes
import numpy as np
import pytest
import torch
from safetensors import safe_open as safetensors_open
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import save_file as save_torch

import nncodec
from nncodec.errors import CorruptFileError, NnzError
from nncodec.nnzfile import NnzFile
from loader_checks import check_as_safetensors
from torch_checkpoints import assert_same


def numpy_state(seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {"z.weight": rng.standard_normal((8, 4)).astype(np.float32), "a.bias": rng.standard_normal(4).astype(np.float16),
            "ids": np.arange(6, dtype=np.int64).reshape(2, 3), "mask": np.array([True, False]),
            "scalar": np.array(3.5, dtype=np.float64), "u16": np.array([1, 65535], dtype=np.uint16)}


@pytest.mark.parametrize("framework", ["np", "pt"])
def test_a_safetensors_file_opens_as_safetensors_opens_it(tmp_path, framework):
    save_numpy(numpy_state(0), str(tmp_path / "m.safetensors"), metadata={"format": "np", "note": "x"})
    check_as_safetensors(tmp_path / "m.safetensors", nncodec.encode_file(tmp_path / "m.safetensors"), framework)
    save_numpy(numpy_state(1), str(tmp_path / "plain.safetensors"))  # no metadata: None
    check_as_safetensors(tmp_path / "plain.safetensors", nncodec.encode_file(tmp_path / "plain.safetensors"), framework)


def test_bfloat16_as_torch_tensors_and_as_numpy_arrays(tmp_path):
    state = {"w": torch.randn(4, 4).to(torch.bfloat16), "v": torch.randn(3)}
    save_torch(state, tmp_path / "m.safetensors", metadata={"format": "pt"})
    nnz = nncodec.encode_file(tmp_path / "m.safetensors")
    check_as_safetensors(tmp_path / "m.safetensors", nnz, "pt")
    with nncodec.safe_open(nnz, framework="numpy") as f:
        w = f.get_tensor("w")
    assert w.dtype == ml_dtypes.bfloat16 and w.tobytes() == state["w"].view(torch.uint8).numpy().tobytes()


def test_a_sharded_checkpoint_opens_as_one_file_with_the_first_shards_metadata(tmp_path):
    shards = {"s-1.safetensors": numpy_state(2), "s-2.safetensors": {f"x.{k}": v for k, v in numpy_state(3).items()}}
    for name, tensors in shards.items():
        save_numpy(tensors, str(tmp_path / name), metadata={"shard": name})
    (tmp_path / "m.safetensors.index.json").write_text(json.dumps(
        {"metadata": {}, "weight_map": {k: name for name, tensors in shards.items() for k in tensors}}))
    with nncodec.safe_open(nncodec.encode_file(tmp_path / "m.safetensors.index.json"), "pt") as f:
        assert f.keys() == sorted(k for tensors in shards.values() for k in tensors)
        assert f.metadata() == {"shard": "s-1.safetensors"}
        for name, tensors in shards.items():
            with safetensors_open(str(tmp_path / name), "pt") as want:
                for key in want.keys():
                    assert_same(want.get_tensor(key), f.get_tensor(key), key)


def test_each_tensor_is_decoded_when_asked_for_and_only_then(tmp_path, monkeypatch):
    save_numpy(numpy_state(0), str(tmp_path / "m.safetensors"))
    nnz = nncodec.encode_file(tmp_path / "m.safetensors")
    decoded: list[str] = []
    real = NnzFile.__getitem__
    monkeypatch.setattr(NnzFile, "__getitem__", lambda self, name: decoded.append(name) or real(self, name))
    with nncodec.safe_open(nnz) as f:
        assert len(f.keys()) == 6 and decoded == []
        f.get_tensor("ids")
        assert decoded == ["ids"]


def test_a_torch_checkpoint_gives_its_views(tmp_path):
    base = torch.randn(5, 4)
    torch.save({"w": base, "w_t": base.t(), "tail": base[2:], "h": torch.randn(3).to(torch.bfloat16)}, tmp_path / "m.pt")
    want = torch.load(tmp_path / "m.pt", weights_only=True)
    with nncodec.safe_open(nncodec.encode_file(tmp_path / "m.pt"), "pt") as f:
        assert f.keys() == sorted(want) and f.metadata() is None
        for name in want:
            assert torch.equal(f.get_tensor(name), want[name]) and f.get_tensor(name).stride() == want[name].stride()
    with nncodec.safe_open(tmp_path / "m.nnz", "np") as f:
        assert np.array_equal(f.get_tensor("w_t"), base.t().numpy())


def test_wrong_uses_say_what_is_wrong(tmp_path):
    save_numpy(numpy_state(0), str(tmp_path / "m.safetensors"))
    nnz = nncodec.encode_file(tmp_path / "m.safetensors")
    with pytest.raises(NnzError, match="framework 'jax'"):
        nncodec.safe_open(nnz, "jax")
    with pytest.raises(NnzError, match="CPU"):
        nncodec.safe_open(nnz, "np", device="cuda")
    with nncodec.safe_open(nnz) as f, pytest.raises(KeyError, match="no tensor named 'missing'"):
        f.get_tensor("missing")
    with pytest.raises(CorruptFileError, match="not a .nnz file"):
        nncodec.safe_open(tmp_path / "m.safetensors")
