"""TorchScript archives (torch.jit.save) through .nnz and back: same bytes, same outputs."""

from __future__ import annotations

import zipfile
from dataclasses import replace

import numpy as np
import pytest
import torch

import nncodec
from nncodec.atomic import staged_output
from nncodec.formats import torch_format

# TorchScript is deprecated in PyTorch 2.x, but its files are everywhere and must keep working.
pytestmark = pytest.mark.filterwarnings(r"ignore:.*(deprecated|Lite Interpreter).*:DeprecationWarning")


class Net(torch.nn.Module):
    def __init__(self, dtype: torch.dtype):
        super().__init__()
        self.conv = torch.nn.Conv1d(2, 4, 3)
        self.lin = torch.nn.Linear(4, 3)
        self.register_buffer("scale", torch.linspace(0.5, 1.5, 3))
        self.to(dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv(x).mean(-1)
        return self.lin(y) * self.scale


class WithConstants(torch.nn.Module):
    """Traced, the tensors made in forward become TorchScript constants (constants.pkl)."""

    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x) + torch.arange(4.0) * 0.25 - torch.ones(4, 4).t()[0]


def _scripted(kind: str, dtype: torch.dtype = torch.float32) -> torch.jit.ScriptModule:
    torch.manual_seed(0)
    if kind == "traced":
        return torch.jit.trace(WithConstants(), torch.randn(2, 4))
    return torch.jit.script(Net(dtype))


def _input(kind: str, dtype: torch.dtype) -> torch.Tensor:
    torch.manual_seed(1)
    return torch.randn(2, 4) if kind == "traced" else torch.randn(5, 2, 9).to(dtype)


@pytest.mark.parametrize("kind,dtype", [("scripted", torch.float32), ("scripted", torch.bfloat16),
                                        ("scripted", torch.float64), ("traced", torch.float32)])
@pytest.mark.parametrize("codec", ["lossless", "raw"])
def test_torchscript_round_trip_same_bytes_same_outputs(tmp_path, kind, dtype, codec):
    module = _scripted(kind, dtype)
    src = tmp_path / "model.pt"
    module.save(str(src))
    nnz = nncodec.encode_file(src, tmp_path / "model.nnz", codec=codec)
    out = nncodec.decode_file(nnz, tmp_path / "decoded.pt")
    assert out.read_bytes() == src.read_bytes()
    x = _input(kind, dtype)
    want = torch.jit.load(str(src))(x)
    got = torch.jit.load(str(out))(x)
    assert torch.equal(got, want)


def test_torchscript_tensors_are_named_like_the_state_dict(tmp_path):
    module = _scripted("scripted")
    module.save(str(tmp_path / "m.pt"))
    nnz = nncodec.encode_file(tmp_path / "m.pt")
    with nncodec.load(nnz) as f:
        arrays = dict(f)
    state = module.state_dict()
    assert sorted(arrays) == sorted(state)
    for name, tensor in state.items():
        assert np.array_equal(arrays[name], tensor.numpy())


def test_torchscript_constants_are_coded(tmp_path):
    module = _scripted("traced")
    module.save(str(tmp_path / "m.pt"))
    with zipfile.ZipFile(tmp_path / "m.pt") as z:
        assert any("/constants/" in n for n in z.namelist())
    nnz = nncodec.encode_file(tmp_path / "m.pt")
    names = list(nncodec.load(nnz))
    assert any(n.startswith("constants/") for n in names), names
    assert {"lin.weight", "lin.bias"} <= set(names)


def test_lite_interpreter_archive_round_trips(tmp_path):
    module = _scripted("traced")
    module._save_for_lite_interpreter(str(tmp_path / "m.ptl"))
    out = nncodec.decode_file(nncodec.encode_file(tmp_path / "m.ptl"), tmp_path / "back.ptl")
    assert out.read_bytes() == (tmp_path / "m.ptl").read_bytes()


def test_changed_torchscript_tensors_load_with_fresh_crcs(tmp_path):
    """What a lossy codec does: other tensor bytes. torch.jit.load must still accept the archive."""
    module = _scripted("scripted")
    module.save(str(tmp_path / "m.pt"))
    doc = torch_format.read(tmp_path / "m.pt")
    halved = {k: (v / 2).astype(v.dtype) for k, v in doc.tensors.items()}
    with staged_output(tmp_path, force=False) as staging:
        torch_format.write(replace(doc, tensors=halved), tmp_path / "half.pt", staging)
    with zipfile.ZipFile(tmp_path / "half.pt") as z:
        assert z.testzip() is None
    loaded = torch.jit.load(str(tmp_path / "half.pt"))
    for name, tensor in loaded.state_dict().items():
        assert torch.equal(tensor, module.state_dict()[name] / 2), name


def test_decode_torchscript_to_safetensors(tmp_path):
    from safetensors.torch import load_file

    module = _scripted("scripted", torch.bfloat16)
    module.save(str(tmp_path / "m.pt"))
    out = nncodec.decode_file(nncodec.encode_file(tmp_path / "m.pt"), to="safetensors")
    got = load_file(out)
    for name, tensor in module.state_dict().items():
        assert torch.equal(got[name], tensor), name
