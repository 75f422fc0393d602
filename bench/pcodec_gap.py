"""Where pcodec's lossless files are smaller than nncodec's, tensor by tensor, and why.

    python bench/pcodec_gap.py [--model FILE] [--top 8]

For the float32 tensors of one corpus model (default PP-OCRv4 rec): nncodec lossless and pcodec
1.1 level 12 bytes per tensor, and for the tensors where pcodec gains most what could explain it:
the share of exact zeros, the elements whose exact value occurs 50 or more times, pcodec on the
elements in a random order (a size that moves would mean pcodec models the order) and pcodec with
the low 16 bits of every element replaced by random bits (what the lower bits carry beyond
uniform). Needs pcodec (pip install 'nncodec[bench]').
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402
from nncodec import formats  # noqa: E402
from nncodec.codecs.coding import EncodeOptions, encode_array  # noqa: E402

REPEATED = 50  # an exact value occurring this often counts as repeated


def pcodec_bytes(values: np.ndarray) -> int:
    from pcodec import ChunkConfig, standalone

    return len(standalone.simple_compress(np.array(values, np.float32, copy=True).reshape(-1),
                                          ChunkConfig(compression_level=12)))


def nncodec_bytes(name: str, values: np.ndarray) -> int:
    encoded = encode_array(name, values, EncodeOptions(codec="lossless", threads=1))
    return len(encoded.params) + encoded.coded_bytes


def explain(values: np.ndarray, rng: np.random.Generator) -> dict:
    flat = np.array(values, np.float32, copy=True).reshape(-1)
    bits = flat.view(np.uint32)
    _, inverse, counts = np.unique(bits, return_inverse=True, return_counts=True)
    random_low = (bits & 0xFFFF0000) | rng.integers(0, 1 << 16, bits.size, dtype=np.uint32)
    return {"zeros": float(np.mean(bits == 0)),
            "repeated": int((counts[inverse] >= REPEATED).sum()),
            "subnormals": float(np.mean(((bits & 0x7F800000) == 0) & ((bits & 0x7FFFFF) != 0))),
            "random_low16": pcodec_bytes(random_low.view(np.float32))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="rapidocr-onnxruntime__ch_PP-OCRv4_rec_infer.onnx")
    parser.add_argument("--top", type=int, default=8, help="tensors explained (largest pcodec gains)")
    args = parser.parse_args()
    path = corpus.fetch(names=[args.model])[args.model]
    tensors = {n: a for n, a in formats.detect(path).read(path).tensors.items()
               if a.dtype == np.float32 and a.size > 0}
    sizes = {n: (nncodec_bytes(n, a), pcodec_bytes(a)) for n, a in tensors.items()}
    total_n, total_p = (sum(s[i] for s in sizes.values()) for i in (0, 1))
    print(f"{args.model}: {len(sizes)} float32 tensors, nncodec {total_n:,} B, pcodec {total_p:,} B "
          f"({total_n / total_p - 1:+.2%})\n")
    print("| tensor | elements | nncodec B | pcodec B | nncodec vs pcodec | exact zeros | elements of values "
          f"repeated >= {REPEATED}x | subnormals | pcodec, low 16 bits random |")
    print("|---|---|---|---|---|---|---|---|---|")
    rng = np.random.default_rng(0)
    for name in sorted(sizes, key=lambda n: sizes[n][1] - sizes[n][0])[:args.top]:
        n_bytes, p_bytes = sizes[name]
        why = explain(tensors[name], rng)
        print(f"| {name} | {tensors[name].size:,} | {n_bytes:,} | {p_bytes:,} | {n_bytes / p_bytes - 1:+.2%} | "
              f"{why['zeros']:.2%} | {why['repeated']:,} | {why['subnormals']:.2%} | {why['random_low16']:,} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
