"""Fixtures of the WebAssembly tests: the module built with Debian's Emscripten (web/build.sh),
and .nnz files written here by the Python package, with what the Python decoder makes of them.

A missing tool (emcmake, node, chromium) fails the tests: tests/run_all.sh installs them."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import ml_dtypes
import numpy as np
import pytest

import nncodec

ROOT = Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
GOLDEN = ROOT / "tests" / "golden"
sys.path.insert(0, str(WEB / "test"))


def need(tool: str, package: str) -> str:
    path = shutil.which(tool)
    if not path:
        pytest.fail(f"{tool} not found: apt-get install {package} (tests/run_all.sh does)")
    return path


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="session")
def wasm() -> Path:
    """web/nnz.wasm, built (incrementally, in build/wasm) from this source tree."""
    need("emcmake", "emscripten")
    r = subprocess.run(["bash", str(WEB / "build.sh")], capture_output=True, text=True)
    assert r.returncode == 0, f"web/build.sh failed:\n{r.stdout}\n{r.stderr}"
    return WEB / "nnz.wasm"


def node_report(paths: list[Path | str]) -> dict:
    """web/test/report.mjs over these files (paths, or report.mjs's JSON specs of a file and its
    bases): what nnz.mjs decodes and restores (JSON)."""
    node = need("node", "nodejs")
    r = subprocess.run([node, str(WEB / "test" / "report.mjs"), *map(str, paths)], capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, f"report.mjs failed ({r.returncode}):\n{r.stderr}"
    return json.loads(r.stdout)


def python_tensors(path: Path, base: Path | None = None) -> dict[str, dict]:
    """The Python decoder's listing and the SHA-256 of each decoded tensor's bytes (`base`: the
    base model of a file coded against one)."""
    with nncodec.load(path, threads=1, base=base) as f:
        return {t.name: {"dtype": t.dtype, "shape": list(t.shape), "codec": t.codec, "codedBytes": t.coded_bytes,
                         "sha256": sha256(np.ascontiguousarray(f[t.name]).tobytes())} for t in f.tensors}


@dataclass
class Restorable:
    """A .nnz file the current encoder wrote and the model files it must restore to."""

    nnz: Path
    decoded: dict[str, str]                                 # name -> sha256 of what `nncodec decode` writes
    originals: dict[str, str] = field(default_factory=dict)  # lossless: name -> sha256 of the source files


def decoded_files(nnz: Path, work: Path) -> dict[str, str]:
    """Name (as restored) -> sha256 of each file decode_file writes (the first under its stored name)."""
    with nncodec.load(nnz) as f:
        names = [name for name, _ in f.files()]
    out = work / f"decoded-{nnz.stem}"
    nncodec.decode_file(nnz, out / names[0])
    return {name: sha256((out / name).read_bytes()) for name in names}


def all_dtypes_torch(path: Path) -> Path:
    import torch

    g = torch.Generator().manual_seed(5)
    w = torch.randn(24, 40, generator=g) * 0.05
    torch.save({"f32": w, "f16": w.half(), "bf16": w.bfloat16(), "f64": w[:3].double(),
                "i8": torch.randint(-128, 128, (300,), dtype=torch.int8, generator=g),
                "u8": torch.randint(0, 256, (300,), dtype=torch.uint8, generator=g),
                "i16": torch.randint(-999, 999, (77,), dtype=torch.int16, generator=g),
                "i32": torch.randint(-99999, 99999, (77,), dtype=torch.int32, generator=g),
                "i64": torch.tensor([1, 3, 224, 224]), "mask": torch.rand(33, generator=g) < 0.5,
                "scalar": torch.tensor(-0.0), "empty": torch.zeros(0, 4)}, path)
    return path


def large_safetensors(path: Path) -> Path:
    """One 12.6 MB float32 matrix: makes the WebAssembly memory grow past its initial 16 MiB."""
    from safetensors.numpy import save_file

    rng = np.random.default_rng(8)
    save_file({"big": (rng.standard_normal((1536, 2048)) * 0.02).astype(np.float32)}, str(path))
    return path


# (model, codec, params): every source format, every dtype, the bundled example lossless and lossy.
def model_cases(folder: Path) -> dict[str, tuple[Path, str, dict]]:
    from golden.make_golden import model_sources

    example = ROOT / "examples" / "models" / "tiny_cnn.onnx"
    folder.mkdir(parents=True)
    cases = {name: (path, "lossless", {}) for name, path in model_sources(folder).items()}
    cases.update({
        "all-dtypes": (all_dtypes_torch(folder / "dtypes.pt"), "lossless", {}),
        "large": (large_safetensors(folder / "large.safetensors"), "lossless", {}),
        "example": (example, "lossless", {}),
        "example-eb": (example, "eb", {"error": 1e-3}),
        "example-pl": (example, "pl", {"p": "0.05std"}),
    })
    return cases


@pytest.fixture(scope="session")
def restorable(tmp_path_factory) -> dict[str, Restorable]:
    work = tmp_path_factory.mktemp("wasm-models")
    out = {}
    for case, (model, codec, params) in model_cases(work / "src").items():
        nnz = nncodec.encode_file(model, work / f"{case}.nnz", codec=codec, params=params, threads=1)
        out[case] = Restorable(nnz, decoded_files(nnz, work))
        if codec == "lossless":
            out[case].originals = {name: sha256((model.parent / name).read_bytes()) for name in out[case].decoded}
    return out


@dataclass
class Checkpoint:
    """A model file of a checkpoint series and its .nnz, coded against the checkpoint before."""

    model: Path
    nnz: Path


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory) -> list[Checkpoint]:
    """Three safetensors checkpoints of one model (float32, bfloat16 and int64 tensors; each a small
    step from the one before), the first coded alone, each other with --base the one before's .nnz."""
    from safetensors.numpy import save_file

    work = tmp_path_factory.mktemp("wasm-checkpoints")
    rng = np.random.default_rng(17)
    weights = {"embed": (rng.standard_normal((300, 64)) * 0.05).astype(np.float32),
               "proj": (rng.standard_normal((64, 64)) * 0.05).astype(ml_dtypes.bfloat16),
               "steps": np.arange(10, dtype=np.int64)}
    out: list[Checkpoint] = []
    for step in range(3):
        model = work / f"step{step}.safetensors"
        save_file(weights, str(model))
        base = out[-1].nnz if out else None
        out.append(Checkpoint(model, nncodec.encode_file(model, work / f"step{step}.nnz", threads=1, base=base)))
        for name in ("embed", "proj"):  # a small change to every weight, as a training step makes
            w = weights[name].astype(np.float32)
            weights[name] = (w + rng.standard_normal(w.shape).astype(np.float32) * 1e-3).astype(weights[name].dtype)
    return out


def golden_files(version: str) -> list[Path]:
    """The committed files of a format version ("v1": 1.0, every codec and source format; "v1.1":
    a model of every source format and a model folder; "v1.3": the codec dq; "v1.4": the codec
    lossless-values; "v1.5": the codec lossless-grid)."""
    return sorted((GOLDEN / version).rglob("*.nnz"))
