"""Delta coding against a base model (``nncodec encode --base``), measured on fine-tunes this
bench makes with real training loops (torch, CPU; bench/delta_models.py), a checkpoint series of
one training run and an exact copy.

    python bench/bench_delta.py [--out bench/results] [--zstd-level 19]

Cases: MiniLM (all-MiniLM-L6-v2 from the corpus) fine-tuned on sentences and a CNN
(EfficientNet-Lite0 with the corpus file's ImageNet weights) fine-tuned on images, each at two
learning rates and step counts, in float32 and in bfloat16 (the float32
weights of base and fine-tune cast, as mixed-precision training saves them); five checkpoints of
one MiniLM run, each coded against the one before (a chain of .nnz bases); the MiniLM file coded
against an exact copy of itself. Per case, in the same run: nncodec alone, nncodec --base, ZipNN
0.5.4 alone, ``zstd --patch-from`` (the zstd command-line tool) and XOR-then-zstd (the file XOR the
base file, then zstd, as hub-scale deduplication does), with single-thread encode and decode
MB/s of the model file. Every method's output is decoded and compared with the model file.
Writes OUT/bench_delta.{md,json,png}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import delta_models as dm  # noqa: E402

import nncodec  # noqa: E402
from nncodec import formats  # noqa: E402
from nncodec.delta import is_nnz  # noqa: E402
from nncodec.dtypes import numpy_dtype  # noqa: E402
from nncodec.limits import DEFAULT_LIMITS  # noqa: E402


def _timed(fn, repeat: int = 1):
    best, out = float("inf"), None
    for _ in range(repeat):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return out, best


def nncodec_alone(model: Path, work: Path) -> dict:
    out = work / (model.name + ".alone.nnz")
    _, t_enc = _timed(lambda: nncodec.encode_file(model, out, threads=1, force=True))
    _, t_dec = _timed(lambda: nncodec.load(out, threads=1).read_all(), 2)
    restored = work / ("restored_alone_" + model.name)
    nncodec.decode_file(out, restored, threads=1, force=True)
    assert restored.read_bytes() == model.read_bytes(), "nncodec round trip differs"
    return {"bytes": out.stat().st_size, "enc_s": t_enc, "dec_s": t_dec}


def nncodec_base(model: Path, base: Path, work: Path, out: Path | None = None) -> dict:
    """nncodec --base; decode timed with the base tensors already in memory (the fingerprint check
    of every base tensor included, and apart)."""
    out = out or work / (model.name + ".delta.nnz")
    _, t_enc = _timed(lambda: nncodec.encode_file(model, out, threads=1, force=True, base=base))
    base_arrays = base_tensors(base)
    f, t_open = _timed(lambda: nncodec.load(out, threads=1, base=base_arrays), 2)
    _, t_read = _timed(lambda: f.read_all(), 2)
    outputs = {t.name: np.empty(t.shape, numpy_dtype(t.dtype)) for t in f.tensors}
    _, t_into = _timed(lambda: [f.read_into(name, out) for name, out in outputs.items()], 3)
    restored = work / ("restored_delta_" + model.name)
    nncodec.decode_file(out, restored, threads=1, force=True, base=base)
    assert restored.read_bytes() == model.read_bytes(), "nncodec --base round trip differs"
    coded = sum(t.decoded_bytes for t in f.tensors)
    return {"bytes": out.stat().st_size, "enc_s": t_enc, "dec_s": t_open + t_read, "tensor_dec_s": t_read,
            "tensor_into_s": t_into, "tensor_bytes": coded, "codecs": _codec_counts(f)}


def base_tensors(base: Path) -> dict:
    """The base's tensors in memory (a .nnz base decoded with its own chain)."""
    if is_nnz(base):
        return nncodec.load(base, base=_chain_base(base)).read_all()
    return formats.detect(base).read(base, DEFAULT_LIMITS).tensors


def _chain_base(nnz: Path):
    """The base a .nnz base itself needs: the file it records, beside it (None if none)."""
    with nncodec.load(nnz) as f:
        return nnz.parent / f.base_name if f.needs_base else None


def _codec_counts(f) -> dict:
    counts: dict = {}
    for t in f.tensors:
        counts[t.codec] = counts.get(t.codec, 0) + 1
    return counts


def zipnn_alone(model: Path, dtype: str) -> dict:
    from zipnn import ZipNN

    data = model.read_bytes()
    codec = ZipNN(input_format="byte", bytearray_dtype=dtype, threads=1)
    c, t_enc = _timed(lambda: codec.compress(bytes(bytearray(data))))
    d, t_dec = _timed(lambda: codec.decompress(c))
    assert bytes(d) == data, "ZipNN round trip differs"
    return {"bytes": len(c), "enc_s": t_enc, "dec_s": t_dec}


def zstd_patch(model: Path, base: Path, work: Path, level: int) -> dict:
    patch, back = work / "patch.zst", work / "patch.out"
    window = max(27, int(np.ceil(np.log2(max(model.stat().st_size, base.stat().st_size, 2)))) + 1)
    opts = ["-q", "-f", "-T1", f"--long={window}", f"--patch-from={base}"]
    _, t_enc = _timed(lambda: subprocess.run(["zstd", f"-{level}", "--ultra", *opts, str(model), "-o", str(patch)],
                                             check=True))
    _, t_dec = _timed(lambda: subprocess.run(["zstd", "-d", *opts, str(patch), "-o", str(back)], check=True))
    assert back.read_bytes() == model.read_bytes(), "zstd --patch-from round trip differs"
    return {"bytes": patch.stat().st_size, "enc_s": t_enc, "dec_s": t_dec}


def _xor(a: bytes, b: bytes) -> bytes:
    x = np.frombuffer(a, np.uint8).copy()
    n = min(len(a), len(b))
    x[:n] ^= np.frombuffer(b, np.uint8)[:n]
    return x.tobytes()


def xor_zstd(model: Path, base: Path, level: int) -> dict:
    import zstandard

    data, ref = model.read_bytes(), base.read_bytes()
    c, t_enc = _timed(lambda: zstandard.ZstdCompressor(level=level, threads=0).compress(_xor(data, ref)))
    d, t_dec = _timed(lambda: _xor(zstandard.ZstdDecompressor().decompress(c), ref))
    assert d == data, "XOR+zstd round trip differs"
    return {"bytes": len(c), "enc_s": t_enc, "dec_s": t_dec}


def measure(case: dict, work: Path, level: int) -> dict:
    model, base = Path(case["model"]), Path(case["base"])
    raw_base = Path(case.get("base_file", base))  # the base as a model file, for the byte-level peers
    size = model.stat().st_size
    row = {k: v for k, v in case.items() if k not in ("model", "base", "base_file")}
    row["size"] = size
    print(f"  {case['case']}: nncodec", flush=True)
    row["nncodec"] = nncodec_alone(model, work)
    row["nncodec_base"] = nncodec_base(model, base, work, case.get("out"))
    print(f"  {case['case']}: peers", flush=True)
    row["zipnn"] = zipnn_alone(model, case["dtype"])
    row["zstd_patch"] = zstd_patch(model, raw_base, work, level)
    row["xor_zstd"] = xor_zstd(model, raw_base, level)
    return row


def save_minilm(state: dict, path: Path) -> Path:
    from safetensors.torch import save_file

    save_file({k: v.contiguous() for k, v in state.items()}, str(path), metadata={"format": "pt"})
    return path


def save_cnn(state: dict, path: Path) -> Path:
    torch.save(state, path)
    return path


def fine_tune_cases(case: str, tuned: dict, bases: dict, change: float, save) -> list[dict]:
    """The fine-tune in float32 and cast to bfloat16, each against the base of its dtype;
    ``save(state, dtype)`` writes one and gives its path."""
    cases = []
    for dtype, cast in (("float32", None), ("bfloat16", torch.bfloat16)):
        path = save(tuned if cast is None else dm.as_dtype(tuned, cast), dtype)
        cases.append({"case": case, "dtype": dtype, "kind": "fine-tune", "model": str(path), "base": str(bases[dtype]),
                      "mean_rel_change": change})
    return cases


def minilm_cases(corpus: Path, work: Path) -> list[dict]:
    from safetensors.torch import load_file

    base_f32 = load_file(str(corpus / "models" / dm.MINILM_FILE))
    bases = {"float32": save_minilm(base_f32, work / "minilm_base.safetensors"),
             "bfloat16": save_minilm(dm.as_dtype(base_f32, torch.bfloat16), work / "minilm_base_bf16.safetensors")}
    cases = []
    runs = [(1e-5, 30, 0), (5e-5, 100, 5)]
    for lr, steps, checkpoints in runs:
        print(f"MiniLM: {steps} steps at lr {lr}", flush=True)
        states = dm.train_minilm(corpus, lr, steps, checkpoints or 0)
        final = states[-1]
        change = dm.mean_relative_change(base_f32, final)
        cases += fine_tune_cases(f"MiniLM fine-tune, lr {lr:g}, {steps} steps", final, bases, change,
                                 lambda st, dtype: save_minilm(st, work / f"minilm_lr{lr:g}_{steps}_{dtype}.safetensors"))
        if checkpoints:
            cases += series_cases(states, bases["float32"], work, lr, steps)
    copy = work / "minilm_copy.safetensors"
    shutil.copyfile(bases["float32"], copy)
    cases.append({"case": "MiniLM, exact copy", "dtype": "float32", "kind": "copy", "model": str(copy),
                  "base": str(bases["float32"]), "mean_rel_change": 0.0})
    return cases


def series_cases(states: list[dict], base: Path, work: Path, lr: float, steps: int) -> list[dict]:
    """Checkpoint k coded against checkpoint k-1's .nnz (the first against the pretrained model):
    decoding resolves the chain of .nnz bases by the names the files record."""
    cases, previous, previous_file = [], base, base
    for k, st in enumerate(states, 1):
        path = save_minilm(st, work / f"ckpt_{k}.safetensors")
        out = work / f"ckpt_{k}.nnz"
        cases.append({"case": f"MiniLM checkpoint {k}/{len(states)} (lr {lr:g}, every {steps // len(states)} steps)",
                      "dtype": "float32", "kind": "series", "model": str(path), "base": str(previous),
                      "base_file": str(previous_file), "out": out})
        previous, previous_file = out, path
    return cases


def cnn_cases(corpus: Path, work: Path) -> list[dict]:
    """EfficientNet-Lite0 (the corpus file's ImageNet weights) fine-tuned on digits; the base saved
    as the fine-tunes are (torch.save) so that the byte-level peers see aligned files."""
    base = dm.efficientnet_state(corpus)
    bases = {"float32": save_cnn(base, work / "cnn_base.pt"),
             "bfloat16": save_cnn(dm.as_dtype(base, torch.bfloat16), work / "cnn_base_bf16.pt")}
    cases = []
    for lr, steps in ((1e-5, 100), (1e-4, 100)):
        print(f"EfficientNet-Lite0: {steps} steps at lr {lr}", flush=True)
        tuned = dm.train_efficientnet(base, lr, steps)
        change = dm.mean_relative_change(base, tuned)
        cases += fine_tune_cases(f"EfficientNet-Lite0 fine-tune, lr {lr:g}, {steps} steps", tuned, bases, change,
                                 lambda st, dtype: save_cnn(st, work / f"cnn_lr{lr:g}_{steps}_{dtype}.pt"))
    return cases


METHODS = (("nncodec", "nncodec alone"), ("nncodec_base", "nncodec --base"), ("zipnn", "ZipNN alone"),
           ("zstd_patch", "zstd --patch-from"), ("xor_zstd", "XOR + zstd"))


def _mbs(size: int, seconds: float) -> str:
    return f"{size / seconds / 1e6:.0f}"


def markdown(rows: list[dict], level: int) -> str:
    head = ("| case | dtype | size | " + " | ".join(label for _, label in METHODS) +
            " | --base vs alone | nncodec --base enc / dec MB/s (tensors: new arrays, existing arrays) |")
    lines = [head, "|" + "---|" * (len(METHODS) + 5)]
    for r in rows:
        cells = []
        for key, _ in METHODS:
            m = r[key]
            best = min(r[k]["bytes"] for k, _ in METHODS)
            text = f"{m['bytes'] / 1e6:.2f} MB ({r['size'] / m['bytes']:.2f}x; {_mbs(r['size'], m['enc_s'])} / {_mbs(r['size'], m['dec_s'])})"
            cells.append(f"**{text}**" if m["bytes"] == best else text)
        nb = r["nncodec_base"]
        cells.append(f"{r['nncodec']['bytes'] / nb['bytes']:.2f}x")
        cells.append(f"{_mbs(r['size'], nb['enc_s'])} / {_mbs(r['size'], nb['dec_s'])} "
                     f"({_mbs(nb['tensor_bytes'], nb['tensor_dec_s'])}, {_mbs(nb['tensor_bytes'], nb['tensor_into_s'])})")
        lines.append(f"| {r['case']} | {r['dtype']} | {r['size'] / 1e6:.1f} MB | " + " | ".join(cells) + " |")
    note = (f"Each method: size (ratio against the model file; encode / decode MB/s of the model file, one "
            f"thread). zstd level {level} (--ultra, --long) for --patch-from and XOR + zstd. nncodec --base decode: "
            "the base tensors in memory, every fingerprint checked; in parentheses the tensors alone, into new "
            "arrays (read_all: the first touch of fresh memory included) and into arrays that exist (read_into).")
    return "\n".join(lines) + "\n\n" + note + "\n"


def plot(rows: list[dict], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['case']} ({r['dtype']})" for r in rows]
    fig, ax = plt.subplots(figsize=(11, 0.42 * len(rows) + 1.6))
    y = np.arange(len(rows))
    for k, (key, label) in enumerate(METHODS):
        ax.barh(y + (k - 2) * 0.16, [r["size"] / r[key]["bytes"] for r in rows], 0.16, label=label)
    ax.set_yticks(y, labels, fontsize=7)
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.set_xlabel("compression ratio (model file / compressed), log scale")
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title("Delta coding against a base model: fine-tunes, a checkpoint series, an exact copy")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="bench/results", help="folder for bench_delta.{md,json,png}")
    p.add_argument("--zstd-level", type=int, default=19)
    p.add_argument("--corpus", default=None, help="corpus folder (default: bench/corpus.py's)")
    p.add_argument("--cases", nargs="*", default=None,
                   help="measure only the cases whose name contains one of these (all are still trained)")
    p.add_argument("--keep", type=Path, default=None,
                   help="copy the trained models and their bases there (for bench/delta_entropy.py)")
    args = p.parse_args(argv)
    import corpus as corpus_module

    torch.set_num_threads(2)
    corpus = Path(args.corpus) if args.corpus else corpus_module.default_dest()
    corpus_module.fetch(corpus, [dm.MINILM_FILE, dm.EFFICIENTNET_FILE])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench_delta_") as tmp:
        work = Path(tmp)
        cases = cnn_cases(corpus, work) + minilm_cases(corpus, work)
        if args.cases:
            chosen = [c for c in cases if any(s in c["case"] for s in args.cases)]
            series = any(c["kind"] == "series" for c in chosen)  # all of it: each checkpoint is the next one's base
            cases = [c for c in cases if c in chosen or (series and c["kind"] == "series")]
        rows = []
        for case in cases:
            rows.append(measure(case, work, args.zstd_level))
            (out / "bench_delta.json").write_text(json.dumps(rows, indent=1, default=str))
        if args.keep:
            args.keep.mkdir(parents=True, exist_ok=True)
            for f in work.iterdir():
                if f.suffix in (".pt", ".safetensors") and not f.name.startswith("restored_"):
                    shutil.copyfile(f, args.keep / f.name)
    table = markdown(rows, args.zstd_level)
    (out / "bench_delta.md").write_text(table)
    plot(rows, out / "bench_delta.png")
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
