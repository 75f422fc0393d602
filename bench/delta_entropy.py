"""How small can a fine-tune get against its base? The delta coder's file beside bounds computed
on the same tensors, to tell a coder's loss from the information the fine-tune holds.

    python bench/delta_entropy.py BASE MODEL [BASE MODEL ...]

(`python bench/bench_delta.py --keep DIR` keeps the fine-tunes it trains, with their bases: for
example `DIR/cnn_base.pt DIR/cnn_lr0.0001_100_float32.pt`.) For every
float tensor of MODEL with a base tensor of the same name, dtype and shape (the ones `--base`
codes as `delta`), in bits:
- `coded`: the `delta` payloads nncodec writes for them (`nncodec encode MODEL --base BASE`);
- `model`: what the coder's model costs at best: the tokens of the bit-pattern differences at their
  order-0 entropy in contexts of the base element's exponent (over the whole tensor, no table
  costs), plus their raw bits;
- `+ neighbour`: the same with the previous element's token added to the context;
- `Gaussian per row`: the differences x - b as real numbers, a Gaussian of each row's own
  deviation, quantized at the model's spacing (ulp of x), at most the element's width: the bits of an ideal
  coder of that model.
Printed as MB and as the ratio nncodec alone / that size (`nncodec encode MODEL`, the matched
tensors' payloads).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

import nncodec
from nncodec import formats
from nncodec.dtypes import dtype_name
from nncodec.limits import DEFAULT_LIMITS

FLOATS = {"float32": (np.uint32, 23, 32), "bfloat16": (np.uint16, 7, 16), "float16": (np.uint16, 10, 16)}


def order0_bits(context: np.ndarray, symbol: np.ndarray) -> float:
    """Bits of `symbol` coded at the order-0 entropy of each context's own symbol counts."""
    key = context.astype(np.int64) * 4096 + symbol.astype(np.int64)
    _, counts_by_key = np.unique(key, return_counts=True)
    contexts = np.unique(key) // 4096
    bits = 0.0
    for c in np.unique(contexts):
        counts = counts_by_key[contexts == c].astype(np.float64)
        p = counts / counts.sum()
        bits -= float((counts * np.log2(p)).sum())
    return bits


def tokens(z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The delta codec's tokens of zigzagged differences and their raw bit counts (codecs/delta)."""
    z = z.astype(np.uint64)
    e = np.floor(np.log2(np.maximum(z, 1).astype(np.float64))).astype(np.int64)
    shift = np.maximum(e - 2, 0).astype(np.uint64)
    token = np.where(z < 16, z, 16 + 4 * (e - 4) + ((z >> shift) & np.uint64(3))).astype(np.int64)
    return token, np.where(z < 16, 0, e - 2)


def tensor_bounds(x: np.ndarray, b: np.ndarray, dtype: str) -> dict[str, float]:
    uint, mantissa, width = FLOATS[dtype]
    xi = x.reshape(-1).view(uint).astype(np.int64)
    bi = b.reshape(-1).view(uint).astype(np.int64)
    d = (xi - bi) % (1 << width)
    d = np.where(d >= 1 << (width - 1), d - (1 << width), d)
    token, raw = tokens(np.where(d >= 0, 2 * d, -2 * d - 1))
    exponent = (bi >> mantissa) & 0xFF
    previous = np.concatenate([[0], token[:-1]])
    xf, bf = x.astype(np.float64), b.astype(np.float64)
    rows = xf.reshape(xf.shape[0], -1) if xf.ndim >= 2 else xf.reshape(1, -1)
    diff = rows - bf.reshape(rows.shape)
    sigma = diff.std(axis=1, keepdims=True)
    ulp = np.abs(np.spacing(x.astype(np.float32)).astype(np.float64)) if dtype == "float32" else \
        2.0 ** (np.floor(np.log2(np.maximum(np.abs(xf), 1e-38))) - mantissa)
    # at most the element's width: no coder needs more (a zero's spacing would make it 150 bits)
    with np.errstate(divide="ignore"):  # a row the fine-tune left alone: sigma 0, no bits
        gauss = np.clip(np.log2(sigma * np.sqrt(2 * np.pi * np.e) / ulp.reshape(rows.shape)), 0.0, width)
    return {"model": order0_bits(exponent, token) + raw.sum(),
            "+ neighbour": order0_bits(exponent * 512 + np.minimum(previous, 511), token) + raw.sum(),
            "Gaussian per row": float(gauss.sum())}


def payload_bytes(model: Path, base: Path | None, names: set[str], work: Path) -> int:
    out = work / "coded.nnz"
    nncodec.encode_file(model, out, threads=1, force=True, base=base)
    with nncodec.load(out) as f:
        return sum(t.coded_bytes for t in f.tensors if t.name in names)


def measure(base: Path, model: Path) -> dict:
    read = lambda p: formats.detect(p).read(p, DEFAULT_LIMITS).tensors  # noqa: E731
    bt, mt = read(base), read(model)
    names, sums = set(), {"model": 0.0, "+ neighbour": 0.0, "Gaussian per row": 0.0}
    for name, x in mt.items():
        b = bt.get(name)
        dtype = dtype_name(x.dtype)
        if b is None or dtype not in FLOATS or b.dtype != x.dtype or b.shape != x.shape or x.size < 2:
            continue
        names.add(name)
        for k, v in tensor_bounds(np.asarray(x), np.asarray(b), dtype).items():
            sums[k] += v
    with tempfile.TemporaryDirectory() as tmp:
        alone = payload_bytes(model, None, names, Path(tmp))
        coded = payload_bytes(model, base, names, Path(tmp))
    return {"model_file": model.name, "tensors": len(names), "alone": alone, "coded": coded,
            **{k: v / 8 for k, v in sums.items()}}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("pairs", nargs="+", type=Path, help="BASE MODEL [BASE MODEL ...]")
    args = p.parse_args(argv)
    if len(args.pairs) % 2:
        p.error("give BASE MODEL pairs")
    cols = ("coded", "model", "+ neighbour", "Gaussian per row")
    print("| model | tensors | nncodec alone | " + " | ".join(cols) + " |")
    print("|---|---|---|" + "---|" * len(cols))
    for base, model in zip(args.pairs[::2], args.pairs[1::2]):
        r = measure(base, model)
        cells = [f"{r[c] / 1e6:.3f} MB ({r['alone'] / r[c]:.2f}x)" for c in cols]
        print(f"| {r['model_file']} | {r['tensors']} | {r['alone'] / 1e6:.3f} MB | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
