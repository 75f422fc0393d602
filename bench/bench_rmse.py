"""RMSE-bounded coding (dq, `--rmse`) against Fraunhofer NNCodec 2.1.3 and eb, at equal weight error.

    python bench/bench_rmse.py [--models nudenet,minilm,...] [--qps -26,-32,-38] [--out bench/results]

The tensors: every float32 tensor of each public-corpus model with ndim >= 2 and >= 256 elements
(what NNCodec codes). NNCodec (its own environment, bench/setup_fraunhofer_venv.sh) codes them at
each qp with dependent quantization, one absolute step for all. The error measure is
rmse_over_std_pooled = sqrt(sum of squared errors / sum of n x std^2) over those tensors. At each
of NNCodec's points, dq gets the largest absolute RMSE bound R (`--rmse R`: every tensor's RMSE
within R) whose pooled error is at most NNCodec's, and eb the largest absolute max-error bound
whose pooled error is at most NNCodec's (both found by secant steps on the bound). Sizes: NNCodec's
bitstream; for dq and eb the tensors as the writer codes them (parameters and payload). Speeds on
one thread: NNCodec as its own process reports them; dq and eb timed here (encode: the coding at
the final bound; decode: into arrays that exist, best of 3). Prints a Markdown table and writes it
and a JSON record to --out.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import models as bench_models  # noqa: E402
import peers  # noqa: E402
from nncodec import _core  # noqa: E402
from nncodec.codecs.coding import EncodeOptions, encode_tensor  # noqa: E402

QPS = (-26, -32, -38)


def nncodec_tensors(tensors: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {n: np.ascontiguousarray(a) for n, a in tensors.items()
            if a.dtype == np.float32 and a.ndim >= 2 and a.size >= 256}


def pooled_error(tensors: dict[str, np.ndarray], decoded: dict[str, np.ndarray]) -> float:
    """rmse_over_std_pooled: sqrt(sum of squared errors / sum of n x std^2)."""
    err = sum(math.fsum(((decoded[n].astype(np.float64) - a.astype(np.float64)) ** 2).ravel().tolist())
              for n, a in tensors.items())
    var = sum(a.size * float(a.astype(np.float64).var()) for a in tensors.values())
    return math.sqrt(err / var)


def coded_all(codec_id: str, params: dict, tensors: dict[str, np.ndarray]):
    """(coded tensors, seconds) with `params` for every tensor, as the writer codes them, one thread."""
    options = EncodeOptions.from_params(codec_id, params, threads=1)
    codec = options.unit
    t0 = time.perf_counter()
    out = {n: encode_tensor(codec, a, codec.for_tensor(n, a, options.settings), options) for n, a in tensors.items()}
    return out, time.perf_counter() - t0


def decoded_all(coded: dict, tensors: dict[str, np.ndarray], repeat: int = 1):
    """(decoded tensors, best seconds over `repeat` runs) on one thread, into arrays that exist."""
    outs = {n: np.empty(a.shape, a.dtype) for n, a in tensors.items()}
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        for n, e in coded.items():
            _core.decode_payload(e.codec, "float32", outs[n].size, e.params, np.frombuffer(e.payload, np.uint8),
                                 outs[n].reshape(-1).view(np.uint8), 1)
        best = min(best, time.perf_counter() - t0)
    return outs, best


def size_of(coded: dict) -> int:
    return sum(len(e.params) + e.coded_bytes for e in coded.values())


def at_equal_error(codec_id: str, key: str, tensors: dict[str, np.ndarray], target: float, start: float):
    """The largest bound (secant steps on log bound vs log error) whose pooled error <= target:
    (bound, coded, encode seconds, pooled error, steps)."""
    best, tried = None, []
    bound = start
    for step in range(12):
        coded, seconds = coded_all(codec_id, {key: bound}, tensors)
        got = pooled_error(tensors, decoded_all(coded, tensors)[0])
        tried.append((bound, got))
        if got <= target and (best is None or bound > best[0]):
            best = (bound, coded, seconds, got, step + 1)
        if best is not None and got <= target and got >= target * (1 - 2e-3):
            break
        below = [t for t in tried if t[1] <= target]
        above = [t for t in tried if t[1] > target]
        if below and above:  # secant between the closest bracketing points, in logs
            (b0, e0), (b1, e1) = max(below), min(above)
            f = (math.log(target) - math.log(e0)) / (math.log(e1) - math.log(e0)) if e1 > e0 else 0.5
            bound = math.exp(math.log(b0) + min(max(f, 0.05), 0.95) * (math.log(b1) - math.log(b0)))
        else:  # the error grows about in proportion to the bound
            bound *= target * (1 - 1e-3) / max(got, 1e-300)
    return best


def run_model(key: str, qps: list[int]) -> list[dict]:
    bench = bench_models.MODELS[key]()
    tensors = nncodec_tensors(bench.tensors)
    n = sum(a.size for a in tensors.values())
    mean_std = math.sqrt(sum(a.size * float(a.astype(np.float64).var()) for a in tensors.values()) / n)
    rows = []
    for r in peers.fraunhofer_nncodec(tensors, qps):
        target = pooled_error(tensors, r["decoded"])
        dq = at_equal_error("dq", "rmse", tensors, target, target * mean_std)
        eb = at_equal_error("eb", "error", tensors, target, target * mean_std * math.sqrt(3))
        _, dq_decode_s = decoded_all(dq[1], tensors, repeat=3)
        _, eb_decode_s = decoded_all(eb[1], tensors, repeat=3)
        rows.append(dict(model=bench.name, key=key, qp=r["qp"], tensors=len(tensors), elements=n,
                         error=target, nncodec_bytes=r["bytes"], nncodec_encode_s=r["encode_s"],
                         nncodec_decode_s=r["decode_s"], dq_rmse=dq[0], dq_error=dq[3], dq_bytes=size_of(dq[1]),
                         dq_encode_s=dq[2], dq_decode_s=dq_decode_s, dq_steps=dq[4], eb_error_bound=eb[0],
                         eb_error=eb[3], eb_bytes=size_of(eb[1]), eb_encode_s=eb[2], eb_decode_s=eb_decode_s))
        print(json.dumps(rows[-1]), flush=True)
    return rows


def report(rows: list[dict]) -> str:
    head = ("| model | qp | rmse/std pooled | NNCodec bytes | dq bytes | dq / NNCodec | eb / NNCodec | "
            "dq encode MB/s | NNCodec encode MB/s | dq decode GB/s | NNCodec decode GB/s |\n"
            "|---|---|---|---|---|---|---|---|---|---|---|\n")
    lines = []
    for r in rows:
        mb = r["elements"] * 4
        lines.append(f"| {r['model']} | {r['qp']} | {r['error']:.4f} | {r['nncodec_bytes']:,} | {r['dq_bytes']:,} | "
                     f"{r['dq_bytes'] / r['nncodec_bytes']:.3f} | {r['eb_bytes'] / r['nncodec_bytes']:.3f} | "
                     f"{mb / r['dq_encode_s'] / 1e6:.1f} | {mb / r['nncodec_encode_s'] / 1e6:.1f} | "
                     f"{mb / r['dq_decode_s'] / 1e9:.3f} | {mb / r['nncodec_decode_s'] / 1e9:.3f} |")
    total = {k: sum(r[k] for r in rows) for k in ("nncodec_bytes", "dq_bytes", "eb_bytes", "nncodec_encode_s",
                                                 "dq_encode_s", "nncodec_decode_s", "dq_decode_s")}
    by_model: dict[str, list[dict]] = {}
    for r in rows:
        by_model.setdefault(r["model"], []).append(r)
    worst = max(sum(r["dq_bytes"] for r in rs) / sum(r["nncodec_bytes"] for r in rs) for rs in by_model.values())
    worst_point = max(r["dq_bytes"] / r["nncodec_bytes"] for r in rows)
    summary = (f"\n\nAll points: dq {total['dq_bytes']:,} bytes, NNCodec {total['nncodec_bytes']:,} "
               f"({total['dq_bytes'] / total['nncodec_bytes']:.4f}x), eb {total['eb_bytes']:,} "
               f"({total['eb_bytes'] / total['nncodec_bytes']:.4f}x); dq per model at most "
               f"{worst:.4f}x NNCodec's bytes, per point at most {worst_point:.4f}x. One thread each: dq encodes "
               f"{total['nncodec_encode_s'] / total['dq_encode_s']:.1f}x faster than NNCodec overall and decodes "
               f"{total['nncodec_decode_s'] / total['dq_decode_s']:.1f}x faster.\n")
    machine = f"{platform.machine()}, {platform.processor() or platform.system()}, {os.cpu_count() or 1} CPUs"
    return ("### dq (--rmse) vs Fraunhofer NNCodec 2.1.3 (dependent quantization) and eb at equal weight error\n\n"
            + head + "\n".join(lines) + summary
            + f"\nMachine: {machine}; command: `python bench/bench_rmse.py`.\n")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(bench_models.MODELS))
    parser.add_argument("--qps", default=",".join(map(str, QPS)))
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    args = parser.parse_args()
    qps = [int(q) for q in args.qps.split(",")]
    rows = [row for key in args.models.split(",") for row in run_model(key, qps)]
    text = report(rows)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_rmse.md").write_text(text)
    (args.out / "bench_rmse.json").write_text(json.dumps(rows, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
