"""The PyTorch and safetensors readers and writers need no torch: run them where torch cannot be imported."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

WITHOUT_TORCH = textwrap.dedent("""
    import importlib.abc, sys

    class NoTorch(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name == "torch" or name.startswith("torch.") or name == "safetensors.torch":
                raise ImportError(f"{name} is blocked in this test")
            return None

    sys.meta_path.insert(0, NoTorch())
    try:
        import torch  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("the torch blocker does not work")

    from pathlib import Path
    import numpy as np
    import nncodec

    folder = Path(sys.argv[1])
    for name in sys.argv[2:]:
        src = folder / name
        nnz = nncodec.encode_file(src, folder / (name + ".nnz"))
        out = nncodec.decode_file(nnz, folder / ("back-" + name))
        assert out.read_bytes() == src.read_bytes(), name
        arrays = dict(nncodec.load(nnz))
        assert arrays and all(isinstance(a, np.ndarray) for a in arrays.values()), name
        nncodec.decode_file(nnz, to="safetensors")
        print("ok", name, len(arrays))
    assert not any(m == "torch" or m.startswith("torch.") for m in sys.modules), "torch was imported"
""")


class Small(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.lin(x)


@pytest.mark.filterwarnings(r"ignore:.*deprecated.*:DeprecationWarning")
def test_readers_and_writers_work_with_torch_unimportable(tmp_path):
    state = {"w": torch.randn(4, 3), "w_t": torch.randn(3, 4).t(), "bf": torch.ones(5, dtype=torch.bfloat16),
             "meta": {"epoch": 2, "name": "x"}}
    torch.save(state, tmp_path / "zip.pt")
    torch.save(state, tmp_path / "legacy.pth", _use_new_zipfile_serialization=False)
    torch.jit.script(Small()).save(str(tmp_path / "script.jit"))
    save_file({"a": np.arange(6, dtype=np.float32).reshape(2, 3)}, tmp_path / "st.safetensors",
              metadata={"format": "pt"})
    names = ["zip.pt", "legacy.pth", "script.jit", "st.safetensors"]
    proc = subprocess.run([sys.executable, "-c", WITHOUT_TORCH, str(tmp_path), *names], capture_output=True,
                          text=True, env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)})
    assert proc.returncode == 0, proc.stderr
    assert [line.split()[1] for line in proc.stdout.splitlines()] == names
