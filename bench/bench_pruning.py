"""Pruning on digits: accuracy against parameters kept, and the pruned model's size with nncodec.

    python bench/bench_pruning.py [--seeds 5] [--out bench/results/pruning] [--png docs/pruning_digits.png]

Data: scikit-learn's bundled digits (1797 real 8x8 handwritten digits), one fixed stratified split
60/20/20 (train/validation/test). Models: an MLP 64-100-50-10 and a small CNN (conv 16, conv 32,
fc 64, fc 10). Every number is a mean over seeds (each seed: its own dense model, pruning and
fine-tuning); accuracies are on the test split, which no choice here looks at.

Methods
* post-training, weights only, through the product (``nncodec.tools.prune`` on the exported ONNX file):
  magnitude, norm (neurons/kernels) and row-and-column pruning (2-approximation + annealing), per
  layer at 50/75/90%; against random pruning (unstructured) and random row/column selection with
  the same numbers of rows and columns; each with and without a short fine-tune (zeros kept).
* training-time (``nncodec.tools.train``): L0 gates (hard-concrete; logistic and Gaussian symmetric
  mixtures), C2S2 pruning layers, norm decomposition + L1; each exported by ``prune()`` and
  fine-tuned briefly; against global magnitude and random pruning of the dense model at equal
  sparsity with the same fine-tune.
* every pruned model is exported to ONNX and encoded with ``nncodec encode`` (lossless); sizes
  against the dense float32 ONNX file and against CSR (float32 values, 32-bit indices), and the
  accuracy of the decoded file under onnxruntime (must equal the pruned model's).

"Params kept" counts non-zero parameters; MACs are those of the smallest dense layers computing
the same function (all-zero rows and columns dropped), per input image.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import numpy as np
import onnx
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pruning_digits import (MODELS, Split, accuracy, load_digits_split, load_onnx_weights,  # noqa: E402
                            masked_fine_tune, nonzero_params, onnx_predictions, predictions, to_onnx, train,
                            weight_layers)

from nncodec import decode_file, encode_file, formats  # noqa: E402
from nncodec.tools.prune import PruneOptions, prune_document  # noqa: E402
from nncodec.tools.train import c2s2, gates, norm_l1, surgery  # noqa: E402

DENSE_EPOCHS, DENSE_LR = 60, 3e-3
FT_EPOCHS = 20  # the "short fine-tune" of every pruned model
SPARSITIES = (0.5, 0.75, 0.9)
# Penalty weights per model, chosen on the validation split (seeds 0-2); the test split only reports.
L0_LAMBDA = {"mlp": {"L0 hard-concrete": 4.0, "L0 logistic mixture": 1.2, "L0 Gaussian mixture": 1.0},
             "cnn": {"L0 hard-concrete": 3.0, "L0 logistic mixture": 1.2, "L0 Gaussian mixture": 1.0}}
L0_EPOCHS, L0_GATE_LR = 100, 0.03
C2S2_LAMBDA, C2S2_EPOCHS, C2S2_TOLERANCE, C2S2_EVAL_EPOCHS = 3.0, 40, {"mlp": 1.0, "cnn": 0.75}, 5
NORM_LAMBDA, NORM_EPOCHS, NORM_LR = {"mlp": 0.02, "cnn": 0.015}, 60, 0.05
# Post-training variants: (label, method, scope).
POST_TRAINING = (("magnitude", "magnitude", "global"), ("norm per layer", "norm", "layer"),
                 ("rowcol", "rowcol", "global"), ("rowcol per layer", "rowcol", "layer"))


# ------------------------------------------------------------------------------------------------
# Measuring


def effective_macs(model: nn.Sequential, example: torch.Tensor) -> int:
    positions = surgery.output_positions(model, example)
    total = 0
    for i, m in enumerate(model):
        if isinstance(m, surgery.WEIGHT_LAYERS):
            w = m.weight.detach().reshape(m.weight.shape[0], -1) != 0
            total += int(w.any(1).sum()) * int(w.any(0).sum()) * positions[i]
    return total


def csr_bytes(model: nn.Sequential) -> int:
    """Parameters as CSR: per weight matrix (conv: out x in*k*k) float32 values, int32 column
    indices and row pointers; biases dense float32."""
    total = 0
    for m in weight_layers(model):
        w = m.weight.detach().reshape(m.weight.shape[0], -1)
        total += int((w != 0).sum()) * 8 + (w.shape[0] + 1) * 4
        total += m.bias.numel() * 4
    return total


# eb bounds tried, coarse to fine (x each tensor's std); tiny models: every weight matrix may be lossy.
EB_REL_ERRORS = (0.2, 0.14, 0.1, 0.07, 0.05, 0.035, 0.025, 0.018, 0.013, 0.009, 0.006, 0.004)
EB_MIN_LOSSY_ELEMS = 64


def test_accuracy(predicted: np.ndarray, data: Split) -> float:
    return 100.0 * int((predicted == data.y_test.numpy()).sum()) / len(predicted)


def eb_file(model: nn.Sequential, data: Split, onnx_path: Path, workdir: Path) -> dict:
    """The coarsest eb bound whose decoded model predicts the validation split exactly as the pruned
    model does (the test split only reports)."""
    nnz_path, back_path = workdir / "m.eb.nnz", workdir / "back.eb.onnx"
    want = predictions(model, data.x_val)
    for rel_error in EB_REL_ERRORS:
        encode_file(onnx_path, nnz_path, force=True, threads=1, codec="eb",
                    params={"rel_error": rel_error, "min_lossy_elems": EB_MIN_LOSSY_ELEMS})
        decode_file(nnz_path, back_path, force=True, threads=1)
        if np.array_equal(onnx_predictions(back_path, data.x_val), want):
            break
    decoded = onnx_predictions(back_path, data.x_test)
    return {"eb_bytes": nnz_path.stat().st_size, "eb_rel_error": rel_error, "eb_acc": test_accuracy(decoded, data)}


def file_sizes(model: nn.Sequential, data: Split, image: bool, workdir: Path) -> dict:
    shape = (1, 1, 8, 8) if image else (1, 64)
    onnx_path, nnz_path, back_path = workdir / "m.onnx", workdir / "m.nnz", workdir / "back.onnx"
    onnx.save(to_onnx(model, shape), str(onnx_path))
    encode_file(onnx_path, nnz_path, force=True, threads=1)
    decode_file(nnz_path, back_path, force=True, threads=1)
    decoded = onnx_predictions(back_path, data.x_test)
    return {"onnx_bytes": onnx_path.stat().st_size, "nnz_bytes": nnz_path.stat().st_size,
            "csr_bytes": csr_bytes(model), "decoded_acc": test_accuracy(decoded, data),
            "decoded_equal": bool(np.array_equal(decoded, predictions(model, data.x_test))),
            **eb_file(model, data, onnx_path, workdir)}


def record(net: nn.Sequential, data: Split, image: bool, workdir: Path | None = None, **extra) -> dict:
    example = data.x_test[:1]
    acc = accuracy(net, data.x_test, data.y_test)
    row = {"acc": acc, "params": nonzero_params(net), "macs": effective_macs(net, example), **extra}
    if workdir is not None:
        row.update(file_sizes(net, data, image, workdir))
    return row


# ------------------------------------------------------------------------------------------------
# Post-training pruning through the product


def output_layer(model: nn.Sequential) -> int:
    return max(i for i, m in enumerate(model) if isinstance(m, surgery.WEIGHT_LAYERS))


def product_prune(dense: nn.Sequential, image: bool, workdir: Path, method: str, sparsity: float, seed: int,
                  scope: str = "layer") -> tuple[nn.Sequential, dict]:
    """``nncodec prune`` on the exported dense model; the output layer (the classes) is excluded."""
    path = workdir / "dense.onnx"
    onnx.save(to_onnx(dense, (1, 1, 8, 8) if image else (1, 64)), str(path))
    doc = formats.detect(path).read(path)
    options = PruneOptions(method=method, sparsity=sparsity, scope=scope, seed=seed,
                           exclude=rf"^{output_layer(dense)}\.weight$")
    pruned, report = prune_document(doc, options)
    return load_onnx_weights(copy.deepcopy(dense), pruned.tensors), report.as_dict()


def random_prune(dense: nn.Sequential, removed: dict[int, int], seed: int) -> nn.Sequential:
    """Layer i loses removed[i] of its weights, chosen uniformly at random."""
    g = torch.Generator().manual_seed(10_000 + seed)
    model = copy.deepcopy(dense)
    with torch.no_grad():
        for i, k in removed.items():
            w = model[i].weight
            w.view(-1)[torch.randperm(w.numel(), generator=g)[:k]] = 0
    return model


def removed_per_layer(report: dict) -> dict[int, int]:
    return {int(layer["name"].split(".")[0]): layer["removed"] for layer in report["layers"]}


def random_rowcol(dense: nn.Sequential, report: dict, seed: int) -> nn.Sequential:
    """Rows and columns chosen at random, as many per layer as row-and-column pruning removed."""
    g = torch.Generator().manual_seed(20_000 + seed)
    model = copy.deepcopy(dense)
    by_name = {layer["name"]: layer for layer in report["layers"]}
    with torch.no_grad():
        for i, m in enumerate(model):
            if not isinstance(m, surgery.WEIGHT_LAYERS) or i == output_layer(model):
                continue
            layer = by_name[f"{i}.weight"]
            view = m.weight.view(m.weight.shape[0], -1)  # Gemm transB / Conv: rows are outputs
            rows = torch.randperm(view.shape[0], generator=g)[:layer["rows_removed"]]
            cols = torch.randperm(view.shape[1], generator=g)[:layer["cols_removed"]]
            view[rows] = 0
            view[:, cols] = 0
    return model


def masks_of(model: nn.Sequential) -> list[torch.Tensor]:
    return [m.weight.detach() != 0 for m in weight_layers(model)]


def fine_tuned(model: nn.Sequential, data: Split, seed: int) -> nn.Sequential:
    return masked_fine_tune(model, masks_of(model), data, FT_EPOCHS, seed)


def global_magnitude(dense: nn.Sequential, params_kept: int, seed: int) -> nn.Sequential:
    """Global magnitude pruning (one threshold over all weights) to ``params_kept`` non-zeros."""
    model = copy.deepcopy(dense)
    layers = weight_layers(model)
    n_bias = sum(m.bias.numel() for m in layers)
    n_weights = sum(m.weight.numel() for m in layers)
    remove = max(0, n_weights - max(0, params_kept - n_bias))
    flat = torch.cat([m.weight.detach().abs().flatten() for m in layers])
    order = torch.argsort(flat, stable=True)[:remove]
    mask = torch.ones_like(flat, dtype=torch.bool)
    mask[order] = False
    with torch.no_grad():
        start = 0
        for m in layers:
            n = m.weight.numel()
            m.weight.mul_(mask[start:start + n].view_as(m.weight))
            start += n
    return model


def random_to(dense: nn.Sequential, params_kept: int, seed: int) -> nn.Sequential:
    """Random pruning to ``params_kept`` non-zeros, the same fraction of every layer's weights."""
    layers = {i: m for i, m in enumerate(dense) if isinstance(m, surgery.WEIGHT_LAYERS)}
    n_bias = sum(m.bias.numel() for m in layers.values())
    n_weights = sum(m.weight.numel() for m in layers.values())
    fraction = 1 - max(0, params_kept - n_bias) / n_weights
    return random_prune(dense, {i: int(round(fraction * m.weight.numel())) for i, m in layers.items()}, seed)


# ------------------------------------------------------------------------------------------------
# Training-time methods


def l0_model(name: str, dist_factory) -> nn.Sequential:
    if name == "mlp":
        return nn.Sequential(gates.L0Gate(64, dist_factory()), nn.Linear(64, 100), nn.ReLU(),
                             gates.L0Gate(100, dist_factory()), nn.Linear(100, 50), nn.ReLU(),
                             gates.L0Gate(50, dist_factory()), nn.Linear(50, 10))
    return nn.Sequential(nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), gates.L0Gate(16, dist_factory()), nn.MaxPool2d(2),
                         nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), gates.L0Gate(32, dist_factory()),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(128, 64), nn.ReLU(),
                         gates.L0Gate(64, dist_factory()), nn.Linear(64, 10))


L0_DISTRIBUTIONS = {
    "L0 hard-concrete": gates.HardConcrete,
    "L0 logistic mixture": lambda: gates.SymmetricMixture("logistic"),
    "L0 Gaussian mixture": lambda: gates.SymmetricMixture("gaussian"),
}


def run_l0(method: str, name: str, data: Split, seed: int, dense_params: int) -> nn.Sequential:
    torch.manual_seed(seed)
    model = l0_model(name, L0_DISTRIBUTIONS[method])
    gate_params = [p for n, p in model.named_parameters() if n.endswith("log_alpha")]
    weights = [p for n, p in model.named_parameters() if not n.endswith("log_alpha")]
    lam = L0_LAMBDA[name][method]
    train(model, data, L0_EPOCHS, DENSE_LR, seed, penalty=lambda: lam * gates.expected_params(model) / dense_params,
          param_groups=[{"params": weights}, {"params": gate_params, "lr": L0_GATE_LR}])
    pruned = gates.prune(model.eval())
    return train(pruned, data, FT_EPOCHS, 1e-3, seed)


def run_c2s2(dense: nn.Sequential, name: str, data: Split, seed: int) -> nn.Sequential:
    model = c2s2.insert_pruning_layers(copy.deepcopy(dense), inputs=name == "mlp")
    costs = c2s2.channel_costs(model, data.x_train[:1], cost="params")
    keep_nonnegative = lambda lr: c2s2.clamp_nonnegative_(model)  # noqa: E731
    train(model, data, C2S2_EPOCHS, DENSE_LR, seed, penalty=lambda: C2S2_LAMBDA * c2s2.cost_weighted_l1(model, costs),
          after_step=keep_nonnegative)

    def evaluate(m):  # validation accuracy after a short fine-tune of a copy
        trial = copy.deepcopy(m)
        train(trial, data, C2S2_EVAL_EPOCHS, 1e-3, seed, after_step=lambda lr: c2s2.clamp_nonnegative_(trial))
        return accuracy(trial, data.x_val, data.y_val)

    def fine_tune(m):
        train(m, data, 5, 1e-3, seed, after_step=lambda lr: c2s2.clamp_nonnegative_(m))

    c2s2.select_layer_by_layer(model, costs, evaluate, fine_tune, C2S2_TOLERANCE[name],
                               reference=accuracy(dense, data.x_val, data.y_val))
    pruned = c2s2.prune(model.eval())
    return train(pruned, data, FT_EPOCHS, 1e-3, seed)


def run_norm(dense: nn.Sequential, name: str, data: Split, seed: int) -> nn.Sequential:
    model = norm_l1.decompose(dense)
    lam = NORM_LAMBDA[name]
    train(model, data, NORM_EPOCHS, NORM_LR, seed, sgd=True, after_step=lambda lr: norm_l1.prox_(model, lr * lam))
    pruned = norm_l1.prune(model.eval())
    return fine_tuned(pruned, data, seed)


# ------------------------------------------------------------------------------------------------


def run_seed(name: str, data: Split, seed: int, workdir: Path, log) -> list[dict]:
    image = name == "cnn"
    rows = []

    def add(method: str, model: nn.Sequential, kind: str, sparsity: float | None = None, tuned: bool = True,
            sizes: bool = True, **extra):
        row = record(model, data, image, workdir if sizes else None, model=name, seed=seed, method=method,
                     kind=kind, sparsity=sparsity, fine_tuned=tuned, **extra)
        rows.append(row)
        log(f"{name} seed {seed} {method:<22} s={sparsity} ft={tuned}: acc {row['acc']:.2f} params {row['params']}")
        return row

    torch.manual_seed(seed)
    dense = train(MODELS[name](), data, DENSE_EPOCHS, DENSE_LR, seed)
    dense_row = add("dense", dense, "dense", tuned=False)
    dense_params = dense_row["params"]

    for s in SPARSITIES:
        for label, method, scope in POST_TRAINING:
            pruned, report = product_prune(dense, image, workdir, method, s, seed, scope)
            variants = [(label, pruned)]
            if method == "magnitude":  # random weights, as many per layer as magnitude pruning took
                variants.append(("random", random_prune(dense, removed_per_layer(report), seed)))
            if method == "rowcol":  # random rows and columns, as many per layer
                variants.append((f"random {label}", random_rowcol(dense, report, seed)))
            for variant, net in variants:
                add(variant, net, "post-training", s, tuned=False, sizes=False)
                add(variant, fine_tuned(net, data, seed), "post-training", s, sizes=variant in ("magnitude", "rowcol"))

    trained = {method: run_l0(method, name, data, seed, dense_params) for method in L0_DISTRIBUTIONS}
    trained["C2S2"] = run_c2s2(dense, name, data, seed)
    trained["norm + L1"] = run_norm(dense, name, data, seed)
    for method, model in trained.items():
        row = add(method, model, "training-time")
        kept = row["params"]
        add(f"magnitude @ {method}", fine_tuned(global_magnitude(dense, kept, seed), data, seed), "baseline",
            sizes=False, matched_sparsity=1 - kept / dense_params)
        add(f"random @ {method}", fine_tuned(random_to(dense, kept, seed), data, seed), "baseline",
            sizes=False, matched_sparsity=1 - kept / dense_params)
    return rows


def summarise(rows: list[dict]) -> list[dict]:
    groups = defaultdict(list)
    for r in rows:
        groups[(r["model"], r["kind"], r["method"], r["sparsity"], r["fine_tuned"])].append(r)
    out = []
    for (model, kind, method, sparsity, tuned), rs in groups.items():
        s = {"model": model, "kind": kind, "method": method, "sparsity": sparsity, "fine_tuned": tuned,
             "seeds": len(rs)}
        for key in ("acc", "params", "macs", "onnx_bytes", "nnz_bytes", "csr_bytes", "decoded_acc", "eb_bytes",
                    "eb_rel_error", "eb_acc"):
            if key in rs[0]:
                s[key] = float(np.mean([r[key] for r in rs]))
        s["acc_std"] = float(np.std([r["acc"] for r in rs]))
        if "decoded_equal" in rs[0]:
            s["decoded_equal"] = all(r["decoded_equal"] for r in rs)
        out.append(s)
    return out


def markdown(summary: list[dict]) -> str:
    lines = []
    for model in sorted({r["model"] for r in summary}, reverse=True):
        rows = [r for r in summary if r["model"] == model]
        dense = next(r for r in rows if r["kind"] == "dense")
        lines += [f"\n### {model.upper()} (dense: {dense['acc']:.2f}% test accuracy, {dense['params']:.0f} parameters, "
                  f"{dense['macs']:.0f} MACs, {dense['onnx_bytes']:.0f}-byte float32 ONNX file)\n",
                  "Post-training (weights only, `nncodec prune`; global scope unless marked per layer; the output layer is "
                  "not pruned; random baselines remove as many weights / rows / columns per layer as the method "
                  "they follow), accuracy before / after a "
                  f"{FT_EPOCHS}-epoch fine-tune:\n",
                  "| method | sparsity | params kept | MACs | acc, no fine-tune | acc, fine-tuned |",
                  "|---|---:|---:|---:|---:|---:|"]
        for method in ("magnitude", "random", "norm per layer", "rowcol", "random rowcol", "rowcol per layer",
                       "random rowcol per layer"):
            for s in SPARSITIES:
                raw = next(r for r in rows if r["method"] == method and r["sparsity"] == s and not r["fine_tuned"])
                ft = next(r for r in rows if r["method"] == method and r["sparsity"] == s and r["fine_tuned"])
                lines.append(f"| {method} | {s:.0%} | {ft['params']:.0f} | {ft['macs']:.0f} | {raw['acc']:.2f} | "
                             f"{ft['acc']:.2f} ± {ft['acc_std']:.2f} |")
        lines += ["", "Training-time methods (exported by `prune()`, then fine-tuned) against magnitude and "
                  "random pruning of the dense model to the same number of parameters (same fine-tune):\n",
                  "| method | params kept | reduction | MACs | acc | Δ vs dense | magnitude @ same | random @ same |",
                  "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for r in rows:
            if r["kind"] != "training-time":
                continue
            mag = next(x for x in rows if x["method"] == f"magnitude @ {r['method']}")
            rnd = next(x for x in rows if x["method"] == f"random @ {r['method']}")
            lines.append(f"| {r['method']} | {r['params']:.0f} | {1 - r['params'] / dense['params']:.1%} | "
                         f"{r['macs']:.0f} | {r['acc']:.2f} ± {r['acc_std']:.2f} | {r['acc'] - dense['acc']:+.2f} | "
                         f"{mag['acc']:.2f} | {rnd['acc']:.2f} |")
        lines += ["", "Pruned model files encoded with `nncodec encode`: lossless (decoded file checked with "
                  "onnxruntime), and `--codec eb` at the coarsest bound (K x std) whose decoded model predicts the "
                  "validation split exactly as the pruned model; accuracies on the test split:\n",
                  "| model | acc | ONNX bytes | CSR bytes | .nnz bytes | dense ONNX / .nnz | CSR / .nnz | decoded acc equal "
                  "| eb K | eb .nnz bytes | dense ONNX / eb | eb acc |",
                  "|---|---:|---:|---:|---:|---:|---:|:---:|---:|---:|---:|---:|"]
        for r in rows:
            if "nnz_bytes" not in r:
                continue
            label = r["method"] + (f" {r['sparsity']:.0%}" if r["kind"] == "post-training" else "")
            lines.append(f"| {label} | {r['acc']:.2f} | {r['onnx_bytes']:.0f} | {r['csr_bytes']:.0f} | "
                         f"{r['nnz_bytes']:.0f} | {dense['onnx_bytes'] / r['nnz_bytes']:.1f}x | "
                         f"{r['csr_bytes'] / r['nnz_bytes']:.2f} | {'yes' if r['decoded_equal'] else 'NO'} | "
                         f"{r['eb_rel_error']:.3g} | {r['eb_bytes']:.0f} | {dense['onnx_bytes'] / r['eb_bytes']:.1f}x | "
                         f"{r['eb_acc']:.2f} |")
    return "\n".join(lines) + "\n"


def plot(summary: list[dict], png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    for ax, model in zip(axes, ("mlp", "cnn")):
        rows = [r for r in summary if r["model"] == model]
        dense = next(r for r in rows if r["kind"] == "dense")
        ax.axhline(dense["acc"], color="k", lw=1, ls="--", label="dense")
        ax.axhline(dense["acc"] - 1, color="k", lw=0.5, ls=":", label="dense − 1 point")
        for method, style in (("magnitude", "o-"), ("random", "x:"), ("norm per layer", "s-"), ("rowcol", "D-"),
                              ("random rowcol", "d:"), ("rowcol per layer", "^-"), ("random rowcol per layer", "v:")):
            pts = sorted((r["params"], r["acc"]) for r in rows if r["method"] == method and r["fine_tuned"])
            ax.plot([p for p, _ in pts], [a for _, a in pts], style, label=f"{method} (post-training, fine-tuned)")
        stars = iter(("tab:gray", "tab:olive", "tab:cyan", "navy", "tab:pink"))
        for r in rows:
            if r["kind"] == "training-time":
                ax.plot(r["params"], r["acc"], "*", ms=14, color=next(stars), label=r["method"])
        ax.set_xscale("log")
        ax.set_xlabel("parameters kept (non-zero)")
        ax.set_ylabel("test accuracy (%)")
        ax.set_ylim(max(0, dense["acc"] - 25), 100)
        ax.set_title(f"digits {model.upper()}: {dense['params']:.0f} parameters dense")
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=110)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--models", nargs="+", default=["mlp", "cnn"], choices=["mlp", "cnn"])
    parser.add_argument("--out", type=Path, default=Path("bench/results/pruning"))
    parser.add_argument("--png", type=Path, default=Path("docs/pruning_digits.png"))
    parser.add_argument("--from-summary", type=Path, metavar="JSON",
                        help="only redo the table and the PNG from a summary.json of an earlier run")
    args = parser.parse_args()
    if args.from_summary:
        summary = json.loads(args.from_summary.read_text())
        print(markdown(summary))
        plot(summary, args.png)
        return 0
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.time()

    def log(msg: str) -> None:
        print(f"[{time.time() - start:7.1f}s] {msg}", file=sys.stderr, flush=True)

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models:
            data = load_digits_split(image=name == "cnn")
            for seed in range(args.seeds):
                rows += run_seed(name, data, seed, Path(tmp), log)
    summary = summarise(rows)
    (args.out / "rows.json").write_text(json.dumps(rows, indent=1))
    (args.out / "summary.json").write_text(json.dumps(summary, indent=1))
    table = markdown(summary)
    (args.out / "table.md").write_text(table)
    print(table)
    if set(args.models) == {"mlp", "cnn"}:
        plot(summary, args.png)
        log(f"wrote {args.png}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
