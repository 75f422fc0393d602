"""Error-bounded, fidelity-targeted and sparse coding against the field, on the public corpus.

    python bench/rate_fidelity.py [--models nudenet,minilm,...] [--sections ...] [--out bench/results]

One command, five questions (each a section; all by default):
  eb_vs_sz3  at the same max-abs error per tensor (K x std, K = 0.005, 0.02, 0.1): eb, SZ3, ZFP and
             the order-0 entropy of eb's quantized symbols, on the weights a lossy codec may touch
  fidelity   fidelity-targeted eb at output cosine >= 0.9995 on real inputs: ratio against the
             float32 weights, beside int8 linear per tensor (ratio and fidelity)
  curves     rate-fidelity curves: eb, SZ3, ZFP (same K ladder), int8, Fraunhofer NNCodec, and the
             fidelity-targeted points (PNG + table)
  nncodec    Fraunhofer NNCodec 2.1.3 against eb at equal weight RMSE: sizes and encode/decode times
  pruned     magnitude-pruned weights (50/75/90/95 %): nncodec lossless and eb (0.02 x std) against
             CSR, CER, CSER (the core's encoders of those formats) and zstd
  task       (not in the default run: --sections task) task-level fidelity on held-out items
             (bench/task_fidelity.py: same recognised text, boxes, top-1, speech frames, nearest
             neighbours) along rate ladders of nncodec (fidelity-targeted, --rmse, eb), onnxruntime
             int8 quantize_dynamic, float16 conversion and Fraunhofer NNCodec; the largest ratio at
             >= 99 % agreement per method; plot in --images/task_agreement.png
  task_targets  (not in the default run) the fidelity-targeted ladder alone at --task-targets,
             judged as in task: to look between its targets
Ratios count every float tensor: the weights the method codes plus the protected tensors (biases,
normalisation, small ones), which every method leaves to nncodec's lossless codec.
Pruning here is a plain per-tensor magnitude pruning of those weights (bench-local).
Prints Markdown tables and writes them, a JSON record and rate_fidelity.png to --out.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # noqa: E402
import models as bench_models  # noqa: E402
import peers  # noqa: E402
import task_fidelity  # noqa: E402
from nncodec import _core  # noqa: E402
from nncodec.calibrated import CalibratedRounding  # noqa: E402
from nncodec.fidelity import bounded_roundtrip, choose_error_bounds, output_cosines  # noqa: E402
from nncodec.codecs.coding import EncodeOptions, encode_array, lossy_candidate  # noqa: E402

K_LADDER = [0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.4]
EB_VS_SZ3_K = [0.005, 0.02, 0.1]
TARGETS = [0.999, 0.9995, 0.9999]
SPARSITIES = [0.5, 0.75, 0.9, 0.95]
NNCODEC_STEPS = [0.04, 0.1, 0.25]  # NNCodec step as a fraction of the weights' overall std


def split(tensors: dict[str, np.ndarray]) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """(weights a lossy codec may touch, the other float tensors) under the default rule."""
    options = EncodeOptions.from_params("eb", {"rel_error": 0.02})
    floats = {n: a for n, a in tensors.items() if a.dtype == np.float32}
    weights = {n: a for n, a in floats.items() if lossy_candidate(n, a, options)}
    return weights, {n: a for n, a in floats.items() if n not in weights}


EB = EncodeOptions(codec="eb")


def eb_roundtrip(w: np.ndarray, error: float) -> tuple[np.ndarray, int]:
    """A weight tensor as eb codes it within ``error`` (the writer's coding), and its size."""
    return bounded_roundtrip("w", w, error, EB)


def coded(name: str, array: np.ndarray, options: EncodeOptions) -> int:
    e = encode_array(name, array, options)
    return len(e.params) + e.coded_bytes


def std(a: np.ndarray) -> float:
    return float(np.asarray(a, np.float64).std())


def h0_bytes(q: np.ndarray) -> float:
    _, counts = np.unique(q, return_counts=True)
    return float(-(counts * np.log2(counts / counts.sum())).sum() / 8)


def huffman_bytes(q: np.ndarray) -> float:
    """Bytes of q coded with an (unlimited-length) order-0 Huffman code, tables not counted."""
    import heapq

    _, counts = np.unique(q, return_counts=True)
    if counts.size < 2:
        return 0.0
    heap = [(int(c), i) for i, c in enumerate(counts)]
    heapq.heapify(heap)
    bits, k = 0, counts.size
    while len(heap) > 1:  # each merge adds its weight once per level: the total code length
        (a, _), (b, _) = heapq.heappop(heap), heapq.heappop(heap)
        bits += a + b
        heapq.heappush(heap, (a + b, k))
        k += 1
    return bits / 8


class Model:
    """A benchmark model: its weights, protected tensors and (lazily) its evaluator."""

    def __init__(self, key: str):
        self.key = key
        self.bench = {**bench_models.MODELS, **bench_models.EXTRA_MODELS}[key]()
        self.name = self.bench.name
        self.weights, self.protected = split(self.bench.tensors)
        self.float_bytes = sum(a.nbytes for a in self.weights.values()) + sum(a.nbytes for a in self.protected.values())
        self.protected_bytes = sum(coded(n, a, EncodeOptions()) for n, a in self.protected.items())
        self._reference = None
        self._held_reference = None
        self._rounding = None

    @property
    def reference(self):
        if self._reference is None:
            self._reference = self.bench.evaluate({})
        return self._reference

    def ratio(self, weight_bytes: float) -> float:
        return self.float_bytes / (weight_bytes + self.protected_bytes)

    def cosine(self, decoded: dict[str, np.ndarray]) -> float:
        return min(output_cosines(self.reference, self.bench.evaluate(decoded)).values())

    def held_out_cosine(self, decoded: dict[str, np.ndarray]) -> float | None:
        """The cosine on the held-out inputs (not used by any search or calibration)."""
        if self.bench.held_out is None:
            return None
        if self._held_reference is None:
            self._held_reference = self.bench.held_out({})
        return min(output_cosines(self._held_reference, self.bench.held_out(decoded)).values())

    @property
    def rounding(self) -> CalibratedRounding | None:
        """Calibrated rounding from the calibration inputs, where the bench can gather layer inputs."""
        if self._rounding is None and self.bench.layer_inputs is not None:
            self._rounding = CalibratedRounding(self.bench.layer_inputs(list(self.weights)))
        return self._rounding


def table(headers: list[str], rows: list[list]) -> str:
    def fmt(v):
        if isinstance(v, float):
            return f"{v:.4f}" if abs(v) < 10 else f"{v:,.1f}"
        return f"{v:,}" if isinstance(v, int) else str(v)
    lines = ["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(fmt(v) for v in r) + " |" for r in rows]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------


def eb_vs_sz3(models: list[Model], record: dict) -> str:
    rows, totals = [], {}
    for k in EB_VS_SZ3_K:
        tot = dict(eb=0, sz3=0, zfp=0, h0=0.0, huffman=0.0)
        for m in models:
            r = dict(eb=0, sz3=0, zfp=0, h0=0.0, huffman=0.0, eb_err_ok=True, sz3_err_ok=True)
            for name, w in m.weights.items():
                error = k * std(w)
                decoded, size = eb_roundtrip(w, error)
                r["eb"] += size
                r["eb_err_ok"] &= bool(np.abs(decoded.astype(np.float64) - w).max() <= error)
                size, decoded = peers.sz3(w, error)
                r["sz3"] += size
                r["sz3_err_ok"] &= bool(np.abs(decoded.astype(np.float64) - w).max() <= error * (1 + 1e-6))
                r["zfp"] += peers.zfp(w, error)[0]
                q = np.rint(w.astype(np.float64) / (2 * error))
                r["h0"] += h0_bytes(q)
                r["huffman"] += huffman_bytes(q)
            for key in tot:
                tot[key] += r[key]
            record.setdefault("eb_vs_sz3", {}).setdefault(str(k), {})[m.key] = r
            rows.append([k, m.name, m.ratio(r["eb"]), m.ratio(r["sz3"]), m.ratio(r["zfp"]), r["eb"] / r["sz3"],
                         r["eb"] / r["h0"] - 1, r["eb"] / r["huffman"] - 1,
                         "yes" if r["eb_err_ok"] and r["sz3_err_ok"] else "NO"])
        totals[k] = tot
        rows.append([k, "**total**", "", "", "", tot["eb"] / tot["sz3"], tot["eb"] / tot["h0"] - 1,
                     tot["eb"] / tot["huffman"] - 1, ""])
    return ("### eb vs SZ3 and ZFP at the same max-abs error per tensor (K x std)\n\n"
            + table(["K", "model", "eb ratio", "SZ3 ratio", "ZFP ratio", "eb / SZ3 bytes", "eb vs H0(q)",
                     "eb vs Huffman(q)", "bounds held"], rows)
            + "\n\nRatios: float32 bytes of all float tensors / coded bytes (weights by the method, protected tensors "
              "lossless). eb vs H0(q): eb's bytes (tables included) against the order-0 entropy of its quantized "
              "symbols q = rint(w/2E); vs Huffman(q): against an order-0 Huffman code of q (tables not counted). "
              "Bounds held: every weight of eb and SZ3 within E.\n")


def fidelity_targeted(models: list[Model], record: dict, targets: list[float]) -> str:
    rows = []
    for m in models:
        int8 = {n: peers.int8_linear(w) for n, w in m.weights.items()}
        int8_decoded = {n: d for n, (_, d) in int8.items()}
        int8_entry = dict(ratio=m.ratio(sum(s for s, _ in int8.values())), cosine=m.cosine(int8_decoded),
                          held_out=m.held_out_cosine(int8_decoded))
        record.setdefault("fidelity", {}).setdefault(m.key, {})["int8"] = int8_entry
        found, seconds_by_rounding = {}, {}
        for rounding_name, rounding, evaluate in (("nearest", None, m.bench.evaluate),
                                                  ("calibrated", m.rounding, m.bench.judged_apart)):
            if rounding_name == "calibrated" and rounding is None:
                continue
            measurements = None
            seconds_by_rounding[rounding_name] = 0.0
            for target in sorted(targets):
                t0 = time.perf_counter()
                plan = choose_error_bounds(m.weights, list(m.weights), evaluate, target,
                                           measurements=measurements, rounding=rounding)
                measurements = plan.measurements
                seconds = time.perf_counter() - t0
                seconds_by_rounding[rounding_name] += seconds
                sizes, decoded = coded_plan(m, plan)
                entry = dict(target=target, achieved=plan.achieved, held_out=m.held_out_cosine(decoded),
                             weight_bytes=sizes, ratio=m.ratio(sizes), evaluations=plan.evaluations, seconds=seconds,
                             calibrated=len(plan.rounded),
                             rel_errors={n: e / std(m.weights[n]) for n, e in plan.error_by_tensor.items()})
                key = "fidelity" if rounding_name == "nearest" else "fidelity_calibrated"
                record.setdefault(key, {}).setdefault(m.key, {})[str(target)] = entry
                if target == 0.9995:
                    found[rounding_name] = entry
        near, cal = found.get("nearest"), found.get("calibrated")
        fmt = lambda v: "-" if v is None else v  # noqa: E731
        rows.append([m.name, m.bench.inputs, near["ratio"], near["achieved"], fmt(near["held_out"]),
                     cal["ratio"] if cal else "-", cal["achieved"] if cal else "-",
                     fmt(cal["held_out"]) if cal else "-", f"{cal['calibrated']}/{len(m.weights)}" if cal else "-",
                     int8_entry["ratio"], int8_entry["cosine"], fmt(int8_entry["held_out"]),
                     " / ".join(f"{v:.0f} s" for v in seconds_by_rounding.values())])
    return ("### Fidelity-targeted eb at output cosine >= 0.9995 (real inputs)\n\n"
            + table(["model", "calibration inputs", "nearest ratio", "cosine", "held-out", "calibrated ratio", "cosine",
                     "held-out", "calibrated tensors", "int8 ratio", "int8 cosine", "int8 held-out", "search"], rows)
            + "\n\nRatio against the float32 tensors (all of them: weights at the chosen bounds, protected tensors "
              "lossless). Cosine: min over outputs, each over all inputs; the target is met on the calibration "
              "inputs. Held-out: the same decoded weights on other inputs of the same kind (other photographs, text "
              "lines, sentences, the next 20 s of speech), which no search or calibration saw. Nearest: every "
              "weight within its tensor's bound E; calibrated: the weights of Conv/Linear layers the bench can "
              "observe are rounded down or up for their layer's outputs (within 2E), learnt from the even "
              "calibration inputs; the target holds on all of them and on the odd ones alone. Search: seconds for all "
              "targets (" + ", ".join(map(str, targets)) + "), measurements included, nearest / calibrated.\n")


def coded_plan(m: Model, plan) -> tuple[int, dict[str, np.ndarray]]:
    """A fidelity plan's weights as eb codes them: (coded bytes, decoded weights)."""
    tensors = {**m.weights, **plan.rounded}
    options = EncodeOptions.from_params("eb", {"error_by_tensor": plan.error_by_tensor})
    sizes = sum(coded(n, w, options) for n, w in tensors.items() if n in m.weights)
    return sizes, {n: eb_roundtrip(tensors[n], e)[0] for n, e in plan.error_by_tensor.items()}


def nncodec_runs(m: Model, record: dict, steps: list[float] = NNCODEC_STEPS) -> list[dict]:
    """Fraunhofer NNCodec on the model's weights at a few steps (fractions of the weights' RMS)."""
    sigma = float(np.sqrt(np.mean(np.concatenate([w.reshape(-1).astype(np.float64) ** 2 for w in m.weights.values()]))))
    qps = sorted({int(round(4 * math.log2(s * sigma))) for s in steps})
    runs = peers.fraunhofer_nncodec(m.weights, qps)
    for r in runs:
        err = np.concatenate([(r["decoded"][n].astype(np.float64) - w).reshape(-1) for n, w in m.weights.items()])
        r["rmse"] = float(np.sqrt(np.mean(err ** 2)))
    return runs


def eb_at_rmse(m: Model, rmse: float) -> tuple[float, dict[str, np.ndarray], int]:
    """One absolute eb bound for all weights whose weight RMSE equals `rmse` (bisection)."""
    lo, hi = rmse, 4 * rmse
    n = sum(w.size for w in m.weights.values())
    best = None
    for _ in range(14):
        error = math.sqrt(lo * hi)
        out = {name: eb_roundtrip(w, error) for name, w in m.weights.items()}
        got = math.sqrt(sum(float(((d.astype(np.float64) - m.weights[k]) ** 2).sum()) for k, (d, _) in out.items()) / n)
        if got > rmse:
            hi = error
        else:
            lo = error
            best = (error, {k: d for k, (d, _) in out.items()}, sum(s for _, s in out.values()))
    return best


def nncodec_section(models: list[Model], record: dict, runs_by_model: dict) -> str:
    rows = []
    for m in models:
        runs = runs_by_model[m.key]
        data = sum(w.nbytes for w in m.weights.values())
        for r in runs:
            error, _, eb_bytes = eb_at_rmse(m, r["rmse"])
            enc_s, _ = peers.timed(lambda: [_core.encode_eb(w.reshape(-1).view(np.uint8), "float32", error, 1 << 18, 1)
                                            for w in m.weights.values()])
            encs = [_core.encode_eb(w.reshape(-1).view(np.uint8), "float32", error, 1 << 18, 1) for w in m.weights.values()]
            outs = [np.empty(w.size, np.float32) for w in m.weights.values()]

            def decode_all():
                for e, o in zip(encs, outs):
                    _core.decode_payload("eb", "float32", o.size, e.params, np.frombuffer(e.payload, np.uint8),
                                         o.view(np.uint8), 1)
            dec_s, _ = peers.timed(decode_all)
            entry = dict(qp=r["qp"], rmse=r["rmse"], nncodec_bytes=r["bytes"], eb_bytes=eb_bytes, eb_error=error,
                         nncodec_encode_s=r["encode_s"], nncodec_decode_s=r["decode_s"], eb_encode_s=enc_s,
                         eb_decode_s=dec_s)
            record.setdefault("nncodec", {}).setdefault(m.key, []).append(entry)
            rows.append([m.name, r["qp"], r["rmse"], r["bytes"], eb_bytes, eb_bytes / r["bytes"] - 1,
                         data / r["encode_s"] / 1e6, data / enc_s / 1e6, r["encode_s"] / enc_s,
                         data / r["decode_s"] / 1e6, data / dec_s / 1e6])
    tot_n = sum(e["nncodec_bytes"] for v in record["nncodec"].values() for e in v)
    tot_e = sum(e["eb_bytes"] for v in record["nncodec"].values() for e in v)
    return ("### Fraunhofer NNCodec 2.1.3 (DQ, qp_density 2) vs eb at equal weight RMSE\n\n"
            + table(["model", "qp", "weight RMSE", "NNCodec bytes", "eb bytes", "eb vs NNCodec", "NNCodec enc MB/s",
                     "eb enc MB/s", "enc speed-up", "NNCodec dec MB/s", "eb dec MB/s"], rows)
            + f"\n\nAll points: eb {tot_e:,} bytes vs NNCodec {tot_n:,} bytes ({tot_e / tot_n - 1:+.2%}). "
              "eb: one absolute bound for all weights, bisected to NNCodec's RMSE; single thread, best of 3; "
              "NNCodec: one call per qp on the same weights (its own environment).\n")


def curves_section(models: list[Model], record: dict, runs_by_model: dict) -> str:
    rows = []
    for m in models:
        curves: dict[str, list[tuple[float, float]]] = {"eb": [], "SZ3": [], "ZFP": []}
        for k in K_LADDER:
            for method, fn in (("eb", lambda w, e: eb_roundtrip(w, e)[::-1]), ("SZ3", peers.sz3), ("ZFP", peers.zfp)):
                out = {n: fn(w, k * std(w)) for n, w in m.weights.items()}
                size = sum(s for s, _ in out.values())
                curves[method].append((m.ratio(size), m.cosine({n: d for n, (_, d) in out.items()})))
        int8 = {n: peers.int8_linear(w) for n, w in m.weights.items()}
        curves["int8"] = [(m.ratio(sum(s for s, _ in int8.values())), m.cosine({n: d for n, (_, d) in int8.items()}))]
        if m.key in runs_by_model:
            curves["NNCodec"] = [(m.ratio(r["bytes"]), m.cosine(r["decoded"])) for r in runs_by_model[m.key]]
        fid = record.get("fidelity", {}).get(m.key, {})
        curves["eb targeted"] = sorted((v["ratio"], v["achieved"]) for t, v in fid.items() if t != "int8")
        fid = record.get("fidelity_calibrated", {}).get(m.key, {})
        curves["eb calibrated"] = sorted((v["ratio"], v["achieved"]) for v in fid.values())
        record.setdefault("curves", {})[m.key] = {"name": m.name, **curves}
        for method, points in curves.items():
            for ratio, cos in points:
                rows.append([m.name, method, ratio, cos])
    return ("### Rate-fidelity points (ratio vs float32, output cosine)\n\n" + table(["model", "method", "ratio", "cosine"], rows)
            + "\n\neb, SZ3, ZFP at max-abs error K x std per tensor, K in " + ", ".join(map(str, K_LADDER))
            + "; NNCodec at its qps; eb targeted and eb calibrated at cosine " + ", ".join(map(str, TARGETS)) + ".\n")


def curves_summary(record: dict, threshold: float = 0.9995) -> str:
    """Per model and method: the largest ratio among its points with cosine >= threshold."""
    methods = ["eb calibrated", "eb targeted", "eb", "SZ3", "ZFP", "NNCodec", "int8"]
    rows = []
    for c in record.get("curves", {}).values():
        best = []
        for method in methods:
            ok = [r for r, cos in c.get(method, []) if cos >= threshold]
            best.append(f"{max(ok):.2f}" if ok else "-")
        rows.append([c["name"], *best])
    return (f"### Largest ratio vs float32 with output cosine >= {threshold}\n\n"
            + table(["model", *methods], rows)
            + "\n\neb, SZ3, ZFP: one relative bound K x std for all weights (K on a ladder); NNCodec: one qp for all "
              "weights; int8: per-tensor linear; eb targeted: a bound per tensor (fidelity search), nearest "
              "rounding; eb calibrated: the same with calibrated rounding. "
              "'-': no point of the method reached the cosine.\n")


def plot_panels(entries: dict, draw, height: float, title: str, path: Path, legend_size: int) -> None:
    """One panel per entry, three a row, each drawn by ``draw(ax, entry)``; saved to ``path``."""
    if not entries:
        return
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(entries)
    fig, axes = plt.subplots(math.ceil(n / 3), 3, figsize=(15, height * math.ceil(n / 3)), squeeze=False)
    for ax, entry in zip(axes.flat, entries.values()):
        draw(ax, entry)
    for ax in list(axes.flat)[n:]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=legend_size)
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def label(ax, title: str, ylabel: str) -> None:
    ax.set_title(title, fontsize=10)
    ax.set_xlabel("compression ratio vs float32")
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)


def plot(record: dict, path: Path) -> None:
    styles = {"eb": "o-", "SZ3": "s--", "ZFP": "^--", "int8": "D", "NNCodec": "v-", "eb targeted": "*",
              "eb calibrated": "P"}

    def draw(ax, c):
        for method, style in styles.items():
            pts = [p for p in c.get(method, []) if p[1] < 1]
            if pts:
                ax.plot([p[0] for p in pts], [1 - p[1] for p in pts], style, label=method,
                        markersize=9 if style in ("*", "P") else 5)
        ax.axhline(5e-4, color="grey", lw=0.8, ls=":")
        ax.set_yscale("log")
        label(ax, c["name"], "1 - output cosine")
    plot_panels(record.get("curves", {}), draw, 3.8,
                "Rate-fidelity on the public corpus (lower right is better; dotted: cosine 0.9995)", path, 8)


def prune(w: np.ndarray, sparsity: float) -> np.ndarray:
    """Per-tensor magnitude pruning (bench-local; the product command is `nncodec prune`)."""
    out = w.copy()
    k = int(round(sparsity * w.size))
    if k:
        threshold = np.partition(np.abs(w).reshape(-1), k - 1)[k - 1]
        out[np.abs(out) <= threshold] = 0
    return out


def pruned_section(models: list[Model], record: dict) -> str:
    rows = []
    for s in SPARSITIES:
        tot = dict(csr=0, cer=0, cser=0, zstd=0, lossless=0, eb=0)
        for m in models:
            r = dict(csr=0, cer=0, cser=0, zstd=0, lossless=0, eb=0)
            for name, w in m.weights.items():
                p = prune(w, s)
                r["csr"] += peers.matrix_format_bytes("csr32", p)
                r["cer"] += peers.matrix_format_bytes("cer", p)
                r["cser"] += peers.matrix_format_bytes("cser", p)
                r["zstd"] += peers.zstd_bytes(p.tobytes(), 15)
                r["lossless"] += coded(name, p, EncodeOptions(threads=2))
                r["eb"] += coded(name, p, EncodeOptions.from_params("eb", {"rel_error": 0.02}, threads=2))
            record.setdefault("pruned", {}).setdefault(str(s), {})[m.key] = r
            for key in tot:
                tot[key] += r[key]
            rows.append([f"{s:.0%}", m.name, r["csr"], r["lossless"] / r["csr"], r["cer"] / r["csr"],
                         r["cser"] / r["csr"], r["zstd"] / r["csr"], r["eb"] / r["csr"]])
        rows.append([f"{s:.0%}", "**total**", tot["csr"], tot["lossless"] / tot["csr"], tot["cer"] / tot["csr"],
                     tot["cser"] / tot["csr"], tot["zstd"] / tot["csr"], tot["eb"] / tot["csr"]])
    return ("### Magnitude-pruned weights: sizes relative to CSR (32-bit indices, float32 values)\n\n"
            + table(["sparsity", "model", "CSR bytes", "nncodec lossless", "CER", "CSER", "zstd -15", "nncodec eb 0.02 std"],
                    rows)
            + "\n\nPer-tensor magnitude pruning of the weights a lossy codec may touch (bench-local function). "
              "CSR, CER, CSER: nncodec's encoders of those formats (csrc/extras/matrix_formats; CER/CSER with "
              "minimal-width fields).\n")


# ---------------------------------------------------------------------------------------------
# Task-level fidelity (bench/task_fidelity.py): the same answers on held-out items


TASK_TARGETS = [0.95, 0.98, 0.99, 0.995, 0.999, 0.9995, 0.9999]
TASK_REL_RMSE = [0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3]
TASK_REL_ERROR = [0.02, 0.05, 0.1, 0.2, 0.3, 0.4, 0.6]
TASK_NNCODEC_STEPS = [0.04, 0.1, 0.25, 0.5]
TASK_METHODS = ["nncodec targeted", "nncodec targeted (dq)", "nncodec --rmse (dq)", "nncodec eb", "int8 dynamic",
                "float16", "NNCodec"]
TARGETED_METHODS = ["nncodec targeted", "nncodec targeted (dq)"]  # fidelity-targeted files (the 8x)


class TaskJudge:
    """A model's task (held-out items) and the original's answers on them."""

    def __init__(self, m: Model):
        self.task = task_fidelity.task_for(m.key, m.bench)
        self.reference = self.task.answers_of({})
        self.items = self.task.agreement(self.reference, self.reference)[1]

    def point(self, setting: str, ratio: float, answers: list, **extra) -> dict:
        agreeing, items = self.task.agreement(self.reference, answers)
        return dict(setting=setting, ratio=ratio, agreeing=agreeing, items=items,
                    agreement=agreeing / items if items else 1.0, **extra)

    def of_weights(self, setting: str, ratio: float, decoded: dict[str, np.ndarray], **extra) -> dict:
        return self.point(setting, ratio, self.task.answers_of(decoded), **extra)


def task_targeted(m: Model, judge: TaskJudge, codec: str = "eb", targets: list[float] = TASK_TARGETS) -> list[dict]:
    """Fidelity-targeted ``codec`` at each cosine target (a bound per tensor, searched on the
    calibration inputs), judged on the held-out items. eb: calibrated rounding where the bench
    observes layers, as nncodec encode does; dq (``--codec dq --target-cosine``, an RMSE bound per
    tensor): nearest, it has no grid to calibrate onto."""
    calibrated = codec == "eb" and m.rounding is not None
    rounding, evaluate = (m.rounding, m.bench.judged_apart) if calibrated else (None, m.bench.evaluate)
    options = EncodeOptions(codec=codec)
    points, measurements = [], None
    for target in targets:
        plan = choose_error_bounds(m.weights, list(m.weights), evaluate, target, options=options,
                                   measurements=measurements, rounding=rounding)
        measurements = plan.measurements
        if codec == "eb":
            size, decoded = coded_plan(m, plan)
        else:
            size, decoded = coded_with(m, replace(options, settings=options.unit.with_bounds(options.settings,
                                                                                             plan.error_by_tensor)))
        points.append(judge.of_weights(f"cosine {target}", m.ratio(size), decoded, weight_bytes=size,
                                       achieved=plan.achieved, rounding="calibrated" if rounding else "nearest"))
    return points


def coded_with(m: Model, options: EncodeOptions) -> tuple[int, dict[str, np.ndarray]]:
    """The weights as the writer codes them under ``options``: (coded bytes, decoded weights)."""
    unit = options.unit
    out = {n: unit.roundtrip(w, unit.for_tensor(n, w, options.settings), options) for n, w in m.weights.items()}
    return sum(s for _, s in out.values()), {n: d for n, (d, _) in out.items()}


def task_ladder(m: Model, judge: TaskJudge, codec: str, key: str, values: list[float]) -> list[dict]:
    """One relative bound for all weights (``key`` of ``codec``) at each value, as the writer codes them."""
    points = []
    for value in values:
        size, decoded = coded_with(m, EncodeOptions.from_params(codec, {key: value}))
        points.append(judge.of_weights(f"{key} {value}", m.ratio(size), decoded, weight_bytes=size))
    return points


def task_int8(m: Model, judge: TaskJudge) -> list[dict]:
    """onnxruntime quantize_dynamic (int8 per channel) for ONNX models, the quantized file run; for
    torch-run models the same weight quantization (symmetric int8 per output channel of every weight
    with >= 2 dimensions; the other tensors float32) loaded into the module."""
    if m.bench.file.endswith(".onnx"):
        model, file_bytes = peers.onnx_int8_dynamic(corpus.fetch(names=[m.bench.file])[m.bench.file])
        return [judge.point("quantize_dynamic per channel", m.float_bytes / peers.tensor_bytes(model),
                            judge.task.answers_of_model(model), file_bytes=file_bytes, run="quantized file")]
    quantized = {n: peers.int8_per_channel(w) for n, w in m.weights.items() if w.ndim >= 2}
    size = sum(s for s, _ in quantized.values()) + sum(w.nbytes for n, w in m.weights.items() if n not in quantized)
    size += sum(a.nbytes for a in m.protected.values())
    return [judge.of_weights("int8 per channel (weights)", m.float_bytes / size,
                             {n: d for n, (_, d) in quantized.items()}, file_bytes=size, run="weights in torch")]


def task_float16(m: Model, judge: TaskJudge) -> list[dict]:
    """onnxconverter-common convert_float_to_float16 (keep_io_types) for ONNX models, the converted
    file run; for torch-run models (and ONNX models the converter breaks) every float32 tensor cast
    to float16 and back, computed in float32."""
    if m.bench.file.endswith(".onnx"):
        try:
            model, file_bytes = peers.onnx_float16(corpus.fetch(names=[m.bench.file])[m.bench.file])
            return [judge.point("convert_float_to_float16", m.float_bytes / peers.tensor_bytes(model),
                                judge.task.answers_of_model(model), file_bytes=file_bytes, run="converted file")]
        except Exception as exc:  # onnxruntime's own exception types: the converted graph does not load
            failure = str(exc).splitlines()[0][:160]
        run = f"weights cast (the converted file does not load: {failure})"
    else:
        run = "weights in torch"
    tensors = {**m.weights, **m.protected}
    size = sum(a.nbytes // 2 for a in tensors.values())
    return [judge.of_weights("float16 (weights)", m.float_bytes / size,
                             {n: a.astype(np.float16).astype(np.float32) for n, a in tensors.items()},
                             file_bytes=size, run=run)]


def task_model(m: Model, record: dict) -> dict:
    """Every method's ladder on one model: {items, float_bytes, methods: {method: [points]}}."""
    t0 = time.perf_counter()
    judge = TaskJudge(m)
    methods = {
        "nncodec targeted": task_targeted(m, judge),
        "nncodec targeted (dq)": task_targeted(m, judge, "dq"),
        "nncodec --rmse (dq)": task_ladder(m, judge, "dq", "rel_rmse", TASK_REL_RMSE),
        "nncodec eb": task_ladder(m, judge, "eb", "rel_error", TASK_REL_ERROR),
        "int8 dynamic": task_int8(m, judge),
        "float16": task_float16(m, judge),
        "NNCodec": [judge.of_weights(f"qp {r['qp']}", m.ratio(r["bytes"]), r["decoded"], weight_bytes=r["bytes"])
                    for r in nncodec_runs(m, record, TASK_NNCODEC_STEPS)],
    }
    return dict(name=m.name, items=judge.items, items_desc=judge.task.items, float_bytes=m.float_bytes,
                methods=methods, seconds=time.perf_counter() - t0)


def best_point(points: list[dict], threshold: float = task_fidelity.AGREEMENT) -> dict | None:
    """The point of largest ratio among those with agreement >= threshold."""
    ok = [p for p in points if p["agreement"] >= threshold]
    return max(ok, key=lambda p: p["ratio"]) if ok else None


def task_section(models: list[Model], record: dict, save) -> str:
    import torch

    torch.set_num_threads(1)
    for m in models:
        record.setdefault("task", {})[m.key] = task_model(m, record)
        save()
    return task_tables(record)


def task_targets_section(models: list[Model], targets: list[float]) -> str:
    """The fidelity-targeted ladder (eb) alone, at the given cosine targets (to look between the task
    section's targets), judged on the same held-out items."""
    import torch

    torch.set_num_threads(1)
    rows = [[m.name, p["setting"], p["ratio"], p["weight_bytes"], f"{p['agreeing']}/{p['items']}", p["agreement"]]
            for m in models for p in task_targeted(m, TaskJudge(m), targets=targets)]
    return ("### nncodec targeted at the given cosine targets, on held-out items\n\n"
            + table(["model", "setting", "ratio", "tensor bytes", "agreeing items", "agreement"], rows))


def task_tables(record: dict) -> str:
    """Every point of every model's task ladders, then the summary (both from the record)."""
    rows = [[entry["name"], method, p["setting"], p["ratio"], round(entry["float_bytes"] / p["ratio"]),
             p.get("file_bytes", ""), f"{p['agreeing']}/{p['items']}", p["agreement"], p.get("run", "")]
            for entry in record.get("task", {}).values() for method, points in entry["methods"].items()
            for p in points]
    headers = ["model", "method", "setting", "ratio", "tensor bytes", "file bytes", "agreeing items", "agreement",
               "run"]
    note = ("Tensor bytes: the float32 bytes of all the model's float tensors / ratio (what each method stores for "
            "them; graph and container not counted). File bytes: the whole quantized / converted .onnx file "
            "(onnxruntime, onnxconverter-common), or for the torch-run models the int8 / float16 tensors.")
    return f"### Task agreement on held-out items (ratio vs float32)\n\n{table(headers, rows)}\n\n{note}\n\n" + \
        task_summary(record)


def task_summary(record: dict) -> str:
    rows, reached = [], 0
    for entry in record.get("task", {}).values():
        best = {method: best_point(points) for method, points in entry["methods"].items()}
        targeted = [p for k in TARGETED_METHODS if (p := best.get(k)) is not None]
        ok = any(p["ratio"] >= 8 for p in targeted)
        reached += ok
        torch_run = entry["methods"]["int8 dynamic"][0].get("run") == "weights in torch"
        cells = [("not run" if k not in entry["methods"] else
                  f"- (at most {max(q['agreement'] for q in entry['methods'][k]):.1%})" if p is None else
                  f"{p['ratio']:.2f}x, {round(entry['float_bytes'] / p['ratio']):,} B, {p['agreement']:.1%}")
                 for k, p in ((k, best.get(k)) for k in TASK_METHODS)]
        rows.append([entry["name"] + (" \\*" if torch_run else ""), f"{entry['float_bytes']:,}",
                     f"{entry['items']} {entry['items_desc']}", *cells, "yes" if ok else "no"])
    return (f"### Largest ratio vs float32 with >= {task_fidelity.AGREEMENT:.0%} of held-out items agreeing\n\n"
            + table(["model", "float32 bytes", "items", *TASK_METHODS, "targeted >= 8x"], rows)
            + f"\n\nFidelity-targeted files reach >= 8x at >= {task_fidelity.AGREEMENT:.0%} agreement on {reached} of "
              f"{len(rows)} models. Each cell: the largest ratio among the method's points with >= "
              f"{task_fidelity.AGREEMENT:.0%} of the held-out items agreeing, the tensor bytes there (float32 bytes "
              "of all the float tensors / ratio; graph and container not counted) and the agreement there. "
              "nncodec targeted: eb with a bound per tensor for output cosine targets "
              + ", ".join(map(str, TASK_TARGETS)) + " on the calibration inputs (calibrated rounding where the bench "
              "observes the layers); targeted (dq): dq with an RMSE bound per tensor for the same targets (nearest "
              "rounding); --rmse (dq): rel_rmse " + ", ".join(map(str, TASK_REL_RMSE))
              + "; eb: rel_error " + ", ".join(map(str, TASK_REL_ERROR)) + " (x std per tensor); NNCodec: Fraunhofer "
              "NNCodec 2.1.3 at qps for steps " + ", ".join(map(str, TASK_NNCODEC_STEPS)) + " x the weights' RMS; "
              "the protected tensors (biases, normalisation, small ones) lossless for all of these. "
              "int8 dynamic / float16 for ONNX models: onnxruntime's quantize_dynamic (int8 weights per channel, "
              "activations quantized at run time) and onnxconverter-common's convert_float_to_float16, the "
              "converted file run (Silero VAD onnx: the converted file does not load, so its weights cast). "
              "\\* torch-run models (no ONNX graph to quantize): int8 is symmetric int8 per output channel of "
              "every weight with >= 2 dimensions, dequantized into the float32 module, and float16 every tensor "
              "cast to float16, computed in float32. '-': no point of the method reached the agreement (in "
              "brackets: its best).\n")


def task_plot(record: dict, path: Path) -> None:
    styles = dict(zip(TASK_METHODS, ["*-", "P-", "o-", "s-", "D", "^", "v-"]))

    def draw(ax, entry):
        import matplotlib.ticker

        for method, points in entry["methods"].items():
            pts = sorted((p["ratio"], p["agreement"]) for p in points)
            ax.plot([p[0] for p in pts], [p[1] for p in pts], styles.get(method, "x-"), label=method,
                    markersize=9 if method in TARGETED_METHODS else 5)
        ax.axhline(task_fidelity.AGREEMENT, color="grey", lw=0.8, ls=":")
        ax.axvline(8, color="grey", lw=0.8, ls="--")
        ax.set_xscale("log")
        ax.set_xticks([2, 4, 8, 16, 32], ["2", "4", "8", "16", "32"])
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_ylim(max(0.0, min(p["agreement"] for ps in entry["methods"].values() for p in ps) - 0.02), 1.005)
        label(ax, f"{entry['name']} ({entry['items']} items)", "held-out items agreeing")
    plot_panels(record.get("task", {}), draw, 3.6, "Task agreement on held-out items (dotted: 99 %, dashed: 8x)",
                path, 7)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=",".join(bench_models.MODELS))
    parser.add_argument("--sections", default="eb_vs_sz3,fidelity,nncodec,curves,pruned")
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    parser.add_argument("--targets", default=",".join(map(str, TARGETS)))
    parser.add_argument("--task-targets", default=",".join(map(str, TASK_TARGETS)),
                        help="cosine targets of the section task_targets (the targeted ladder alone)")
    parser.add_argument("--images", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "images",
                        help="where the task section's plot goes (task_agreement.png)")
    args = parser.parse_args()
    sections = args.sections.split(",")
    args.out.mkdir(parents=True, exist_ok=True)
    record_path = args.out / "rate_fidelity.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {}
    models = [Model(k) for k in args.models.split(",")]
    parts = []

    def save() -> None:
        record_path.write_text(json.dumps(record, indent=1, default=float))

    def emit(text: str) -> None:
        print(text, flush=True)
        parts.append(text)
        save()

    if "eb_vs_sz3" in sections:
        emit(eb_vs_sz3(models, record))
    if "fidelity" in sections:
        emit(fidelity_targeted(models, record, [float(t) for t in args.targets.split(",")]))
    runs_by_model = {}
    if "nncodec" in sections or "curves" in sections:
        runs_by_model = {m.key: nncodec_runs(m, record) for m in models}
    if "nncodec" in sections:
        emit(nncodec_section(models, record, runs_by_model))
    if "curves" in sections:
        emit(curves_section(models, record, runs_by_model))
        emit(curves_summary(record))
        plot(record, args.out / "rate_fidelity.png")
    if "pruned" in sections:
        emit(pruned_section(models, record))
    if "task" in sections:
        emit(task_section(models, record, save))
        task_plot(record, args.images / "task_agreement.png")
    if "task_targets" in sections:
        emit(task_targets_section(models, [float(t) for t in args.task_targets.split(",")]))
    (args.out / "rate_fidelity.md").write_text("\n\n".join(parts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
