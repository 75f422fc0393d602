"""Byte-identity check of the encoders: encodes the bundled example model and a few generated
models and tensors with every codec and mode (lossless, raw, eb with --error and --rel-error, pl,
sparse-triggering inputs, rANS planes, every dtype) and records a sha256 for each.

    python bench/byte_identity.py --write bench/byte_identity.json   # record (before a change)
    python bench/byte_identity.py --check bench/byte_identity.json   # compare (after it)

Two kinds of hash: each .nnz file as a whole ("file") and each coded tensor ("tensors": codec id,
parameters and payload, what the C++ encoders write). --tensors-only compares the second kind
only: metadata blobs written by the Python front end may change on their own.
Exits non-zero on any difference.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "models" / "tiny_cnn.onnx"

# (case name, model, codec, params): the CLI's settings, through nncodec.encode_file.
FILE_CASES = [
    ("cnn-lossless", "tiny_cnn", "lossless", {}),
    ("cnn-raw", "tiny_cnn", "raw", {}),
    ("cnn-eb-error", "tiny_cnn", "eb", {"error": 0.002}),
    ("cnn-eb-rel-error", "tiny_cnn", "eb", {"rel_error": 0.05}),
    ("cnn-pl", "tiny_cnn", "pl", {"p": "0.004"}),
    ("cnn-pl-exact", "tiny_cnn", "pl", {"p": "0.1std", "positions": "exact"}),
    ("gen-lossless", "generated", "lossless", {}),
    ("gen-lossless-nosparse", "generated", "lossless", {"sparse": "off"}),
    ("gen-raw", "generated", "raw", {}),
    ("gen-eb-error", "generated", "eb", {"error": 0.001}),
    ("gen-eb-rel-error", "generated", "eb", {"rel_error": 0.1, "protect": False}),
    ("gen-pl", "generated", "pl", {"p": "0.003", "pm": 2}),
    ("gen-pl-rows", "generated", "pl", {"p": "0.05std", "positions": "exact", "pd": 0.1}),
]


def generated_tensors(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Tensors that reach every coding path: plain and structured weights, pruned (sparse layer,
    rANS planes), half-precision floats, integers of every width, bool, specials, tiny (raw)."""
    import ml_dtypes

    w = rng.normal(0, 0.05, size=(256, 300)).astype(np.float32)
    rows = (w * rng.uniform(0.1, 3.0, size=(256, 1))).astype(np.float32)
    pruned = np.where(rng.random((300, 256)) < 0.92, 0, w.T).astype(np.float32)
    strided = np.where(np.arange(64 * 500).reshape(64, 500) % 89 == 0, 0.3, 0).astype(np.float32)
    special = rng.normal(0, 1, size=(40, 40)).astype(np.float32)
    special.flat[::97] = np.nan
    special.flat[5::131] = np.inf
    special.flat[7::211] = -0.0
    return {
        "enc.dense.weight": w,
        "enc.rows.weight": rows,
        "enc.pruned.weight": pruned,
        "enc.strided.weight": strided,
        "enc.special.weight": special,
        "enc.half.weight": w[:128].astype(np.float16),
        "enc.bf16.weight": w[:64].astype(ml_dtypes.bfloat16),
        "enc.f64.weight": w[:32].astype(np.float64),
        "enc.dense.bias": w[0].copy(),
        "norm.weight": np.ones(300, np.float32),
        "ids.i64": np.arange(5000, dtype=np.int64) * 3 - 7,
        "q.i8": np.where(rng.random(20000) < 0.96, 0, rng.integers(-4, 5, 20000)).astype(np.int8),
        "q.u8": rng.integers(0, 256, 3000, dtype=np.uint8),
        "i16": rng.integers(-900, 900, 4000, dtype=np.int16),
        "u16": rng.integers(0, 16, 4000, dtype=np.uint16),
        "i32": rng.integers(-50, 50, 4000, dtype=np.int32),
        "u32": rng.integers(0, 1 << 31, 1000, dtype=np.uint32),
        "u64": rng.integers(0, 1 << 62, 500, dtype=np.uint64),
        "mask": rng.random(5000) < 0.1,
        "tiny": np.array([1.5, -2.0], np.float32),
        "empty": np.zeros((0, 4), np.float32),
    }


def make_models(folder: Path) -> dict[str, Path]:
    from safetensors.numpy import save_file

    generated = folder / "generated.safetensors"
    save_file(generated_tensors(np.random.default_rng(20250101)), str(generated))
    return {"tiny_cnn": EXAMPLE, "generated": generated}


def tensor_hashes(path: Path) -> dict[str, str]:
    from nncodec import _core

    reader, data = _core.Reader(str(path)), path.read_bytes()
    out = {}
    for t in reader.tensors():
        h = hashlib.sha256(t["codec"].encode() + b"\0" + t["params"] + b"\0")
        h.update(data[t["offset"]:t["offset"] + t["coded_bytes"]])
        out[t["name"]] = f"{t['codec']}:{h.hexdigest()}"
    return out


def core_cases() -> dict[str, str]:
    """Each encoder binding called directly, at chunk sizes that cut tensors into several chunks."""
    from nncodec import _core

    rng = np.random.default_rng(7)
    w = rng.normal(0, 0.1, 70000).astype(np.float32)
    w[::1001] = np.nan
    sparse = np.where(rng.random(70000) < 0.9, 0, w).astype(np.float32)
    data = {name: a.view(np.uint8).reshape(-1) for name, a in (("w", w), ("sparse", sparse))}
    encoded = {
        "lossless-w-4096": _core.encode_lossless(data["w"], "float32", 4096, 2),
        "lossless-sparse": _core.encode_lossless(data["sparse"], "float32", 1 << 18, 1),
        "raw-w": _core.encode_raw(data["w"], "float32"),
        "eb-w-4096": _core.encode_eb(data["w"], "float32", 0.003, 4096, 2),
        "pl-w": _core.encode_pl(data["w"], "float32", 0.01, 2, 0.0, False, 1 << 14, 2)[0],
        "pl-w-exact": _core.encode_pl(data["w"], "float32", 0.02, 1, 0.05, True, 700, 2)[0],
    }
    values = _core.sparse_values(data["sparse"], "float32")
    for inner in ("lossless", "eb"):
        coded = (_core.encode_lossless(values, "float32", 1 << 18, 1) if inner == "lossless"
                 else _core.encode_eb(values, "float32", 0.001, 1 << 18, 1))
        encoded[f"sparse-{inner}"] = _core.encode_sparse(data["sparse"], "float32", coded)
    return {name: f"{e.codec}:{hashlib.sha256(e.params + b'|' + e.payload).hexdigest()}"
            for name, e in encoded.items()}


def record() -> dict[str, dict]:
    import nncodec

    result: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        models = make_models(Path(tmp))
        for case, model, codec, params in FILE_CASES:
            for threads in (1, 2):
                out = Path(tmp) / f"{case}-{threads}.nnz"
                nncodec.encode_file(models[model], out, codec=codec, params=params, threads=threads)
                result[f"{case}/threads={threads}"] = {"file": hashlib.sha256(out.read_bytes()).hexdigest(),
                                                       "tensors": tensor_hashes(out)}
    result["core"] = {"tensors": core_cases()}
    return result


def differences(expected: dict, actual: dict, tensors_only: bool) -> list[str]:
    diffs = [f"{case}: missing" for case in expected if case not in actual]
    for case, want in expected.items():
        got = actual.get(case, {})
        if not tensors_only and want.get("file") != got.get("file"):
            diffs.append(f"{case}: file hash differs")
        for name, h in want["tensors"].items():
            if got.get("tensors", {}).get(name) != h:
                diffs.append(f"{case}: tensor {name} differs")
    return diffs


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", type=Path, metavar="JSON", help="record the hashes")
    mode.add_argument("--check", type=Path, metavar="JSON", help="compare with recorded hashes")
    parser.add_argument("--tensors-only", action="store_true", help="compare coded tensors, not whole files")
    args = parser.parse_args()
    actual = record()
    if args.write:
        args.write.write_text(json.dumps(actual, indent=1, sort_keys=True) + "\n")
        print(f"{len(actual)} cases, {sum(len(c['tensors']) for c in actual.values())} tensors -> {args.write}")
        return 0
    diffs = differences(json.loads(args.check.read_text()), actual, args.tensors_only)
    for d in diffs:
        print(d)
    count = sum(len(c["tensors"]) for c in actual.values())
    print(f"{len(actual)} cases, {count} tensors: " + (f"{len(diffs)} differences" if diffs else "all identical"))
    return 1 if diffs else 0


if __name__ == "__main__":
    sys.exit(main())
