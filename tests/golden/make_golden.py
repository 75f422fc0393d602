"""Writes the golden files that are missing: committed ones are never rewritten, they must keep
decoding forever. ``v1/`` holds files of format version 1.0 (complete: this nncodec writes 1.1, so
missing 1.0 files cannot be made again), ``v1.1/`` files of format 1.1.

    PYTHONPATH=python python tests/golden/make_golden.py

- ``v1/tensors.nnz`` + ``.npz``: the first golden file (lossless and raw, every dtype).
- ``v1/codecs/<case>.nnz`` + ``.npz``: one file per codec and mode (lossless with rANS planes,
  raw, eb absolute and relative, pl quantized and exact positions, the sparse layer under each
  codec, each positions mode), with the arrays it decodes to; ``manifest.json`` lists each
  tensor's stored codec ("sparse(eb, gaps)": the sparse layer over eb, positions coded as gaps).
- ``v1/models/<case>.nnz``: one model per source format (ONNX with external data, torch zip,
  legacy and TorchScript, sharded safetensors); ``manifest.json`` lists the sha256 of every file
  the decoder writes for it.
- ``v1.1/models/<case>.nnz``: the same models, and a model folder, as format 1.1 stores them
  (the section nncodec/files, which libnnz restores too).
- ``v1.2/delta/<case>.nnz`` + ``.npz``: format 1.2 delta coding: ``base`` (no base), ``tuned``
  coded against ``base.nnz``, ``chain`` against ``tuned.nnz`` (a chain of two), ``dedup`` (tensors
  stored once for two names, no base); ``manifest.json`` lists each one's codecs and base.
- ``v1.3/codecs/<case>.nnz`` + ``.npz``: the codec dq (format 1.3), absolute and relative RMSE
  bounds and under the sparse layer, as ``v1/codecs`` holds the older codecs.
- ``v1.4/codecs/<case>.nnz`` + ``.npz``: the codec lossless-values (format 1.4): float32 and
  float64 chunks with value tables (fake-quantized weights, repeated rows, zeros).
- ``v1.5/codecs/<case>.nnz`` + ``.npz``: the codec lossless-grid (format 1.5): weights
  fake-quantized per output channel (runs), per column and per group, in float32, bfloat16,
  float16 and float64, with elements off the grid.
- ``v1.6/delta/<case>.nnz`` + ``.npz``: the cases of ``v1.2/delta`` as format 1.6 writes them, and
  ``copy`` (the base again, coded against ``base.nnz``): its model files a patch against the
  base's, its index a zlib stream, its base table entries by reference to its tensors.
- ``v1.7/delta/<case>.nnz`` + ``.npz``: delta chunks in mode lanes (format 1.7): ``base`` and
  ``tuned`` against it, in every element width, tensors over several chunks.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from pathlib import Path

import ml_dtypes
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from checkers import stored_codecs  # noqa: E402

import nncodec  # noqa: E402
from nncodec import _core, decode_file, encode_file  # noqa: E402
from nncodec.codecs import sparse  # noqa: E402
from nncodec.codecs.coding import EncodeOptions  # noqa: E402
from nncodec.delta import DeltaPlan, read_base  # noqa: E402
from nncodec.limits import Limits  # noqa: E402
from nncodec.dtypes import dtype_name  # noqa: E402
from nncodec.model import ModelDocument  # noqa: E402
from nncodec.nnzfile import write_document  # noqa: E402

V1 = HERE / "v1"
V1_1 = HERE / "v1.1"
V1_2 = HERE / "v1.2"
V1_3 = HERE / "v1.3"
V1_4 = HERE / "v1.4"
V1_5 = HERE / "v1.5"
V1_6 = HERE / "v1.6"
V1_7 = HERE / "v1.7"


def first_tensors(rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {
        "conv.weight": (rng.standard_normal((8, 3, 3, 3)) * 0.1).astype(np.float32),
        "half": (rng.standard_normal(700) * 0.02).astype(np.float16),
        "brain": (rng.standard_normal(900) * 0.02).astype(ml_dtypes.bfloat16),
        "double": rng.standard_normal(50),
        "q": rng.integers(-128, 128, 2000).astype(np.int8),
        "shape": np.array([1, 3, 224, 224], np.int64),
        "mask": rng.integers(0, 2, 33).astype(bool),
        "scalar": np.float32(-0.0).reshape(()),
        "empty": np.zeros((0, 4), np.float32),
        "specials": np.array([np.nan, -np.inf, np.inf, 1e-45, -0.0], np.float32),
    }


def weights(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Float tensors every lossy codec takes (a matrix of 4096, with NaN/Inf), in every float dtype."""
    w = (rng.standard_normal((64, 64)) * 0.05).astype(np.float32)
    w.flat[[7, 900, 2000]] = [np.nan, np.inf, -np.inf]
    return {"w.f32": w, "w.f16": (w * 1).astype(np.float16), "w.bf16": w.astype(ml_dtypes.bfloat16),
            "w.f64": w.astype(np.float64), "bias": w[0].copy()}


def sparse_tensors(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Mostly zeros, with positions that suit each mode: scattered (bitmap), few and far apart
    (gaps), whole rows of 64 (runs)."""
    values = (rng.standard_normal(32000) * 0.05).astype(np.float32)
    scattered = np.where(rng.random(8192) < 0.3, values[:8192], 0).astype(np.float32).reshape(64, 128)
    far = np.where(np.arange(8192) % 97 == 0, values[:8192], 0).astype(np.float32).reshape(64, 128)
    rows = np.where(np.repeat(rng.random(500) < 0.5, 64), values, 0).astype(np.float32).reshape(250, 128)
    return {"scattered": scattered, "far": far, "rows": rows}


def rans_tensors(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """One value dominating each byte plane: the lossless planes choose rANS."""
    pruned = np.where(rng.random(6000) < 0.9, 0.0, rng.standard_normal(6000) * 0.05).astype(np.float32)
    skewed = np.where(rng.random(6000) < 0.95, 0, rng.integers(-3, 4, 6000)).astype(np.int8)
    return {"pruned": pruned, "skewed": skewed, "ints": rng.integers(0, 40, 3000).astype(np.int16)}


def value_table_tensors(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Few exact values, as fake-quantized and pruned weights hold: the lossless chunks carry value
    tables (codec lossless-values); a plain weight tensor beside them keeps codec lossless."""
    w = rng.standard_normal((64, 96)) * 0.05
    step = np.abs(w).max() / 127
    levels = (np.round(w / step) * step).astype(np.float32)
    rows = np.repeat(rng.standard_normal((4, 96)).astype(np.float32), 16, axis=0)
    rows[rng.random(rows.shape) < 0.2] = 0
    return {"fake_quant": levels, "fake_quant_f64": (np.round(w / 0.01) * 0.01).reshape(-1),
            "repeated_rows": rows, "weights": (rng.standard_normal(3000) * 0.05).astype(np.float32)}


def grid_tensors(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """8-bit levels times a scale per output channel, per column and per group of 32 (the dtype's
    own scales for 16-bit models), some elements off the grid: codec lossless-grid; a plain
    weight tensor beside them keeps codec lossless."""

    def quantized(w, axis, dtype, wide=np.float32):
        w = w.astype(wide)
        scale = (np.abs(w).max(axis=axis, keepdims=True) / wide(127)).astype(dtype).astype(wide)
        return (np.round(w / scale) * scale).astype(dtype)

    w = rng.standard_normal((48, 64)) * 0.05
    out = {"channels": quantized(w, 1, np.float32), "columns": quantized(w, 0, np.float32),
           "groups": quantized(w.reshape(-1, 32), 1, np.float32).reshape(48, 64),
           "channels_bf16": quantized(w, 1, ml_dtypes.bfloat16), "channels_f16": quantized(w, 1, np.float16),
           "channels_f64": quantized(w, 1, np.float64, np.float64),
           "weights": (rng.standard_normal(3000) * 0.05).astype(np.float32)}
    out["channels"][3, :4] = [np.nan, -np.inf, -0.0, 7.5]
    return out


# case -> (tensors, codec, params (the API's), chunk elements)
CODEC_CASES = {
    "lossless-rans": (rans_tensors, "lossless", {"sparse": "off"}, 1024),
    "raw": (weights, "raw", {}, 1 << 18),
    "eb-error": (weights, "eb", {"error": 0.004, "protect": False, "sparse": "off"}, 1000),
    "eb-rel-error": (weights, "eb", {"rel_error": 0.05, "protect": False, "sparse": "off"}, 1 << 18),
    "pl-quantized": (weights, "pl", {"p": "0.05std", "sparse": "off"}, 1 << 18),
    "pl-exact": (weights, "pl", {"p": "0.1std", "positions": "exact", "sparse": "off"}, 1 << 18),
}
# Codecs added since, in the folder of the format version that added them.
CODEC_CASES_1_3 = {
    "dq-rmse": (weights, "dq", {"rmse": 0.003, "protect": False, "sparse": "off"}, 1000),
    "dq-rel-rmse": (weights, "dq", {"rel_rmse": 0.05, "protect": False, "sparse": "off"}, 1 << 18),
}
# The sparse layer over each codec (coded through the interface, not left to the writer's choice
# of the smaller coding), with that codec's settings.
SPARSE_CASES = {"sparse-lossless": ("lossless", {}), "sparse-raw": ("raw", {}), "sparse-eb": ("eb", {"error": 0.002}),
                "sparse-pl": ("pl", {"p": 0.002})}
SPARSE_CASES_1_3 = {"sparse-dq": ("dq", {"rmse": 0.002})}
CODEC_CASES_1_4 = {"lossless-values": (value_table_tensors, "lossless", {"sparse": "off"}, 2048)}
CODEC_CASES_1_5 = {"lossless-grid": (grid_tensors, "lossless", {"sparse": "off"}, 1024)}


def write_sparse(path: Path, codec: str, params: dict) -> None:
    options = EncodeOptions.from_params(codec, params)
    writer = _core.Writer(str(path))
    for name, a in sparse_tensors(np.random.default_rng(sum(map(ord, codec)))).items():
        settings = options.unit.for_tensor(name, a, options.settings)
        writer.add_tensor(name, dtype_name(a.dtype), list(a.shape), sparse.encode_layer(options.unit, a, settings, options))
    writer.finish()


def save_arrays(path: Path, arrays: dict[str, np.ndarray]) -> None:
    # npz cannot hold bfloat16: its bits are stored as uint16 (the tests compare bytes).
    np.savez_compressed(path, **{k: (v.view(np.uint16) if v.dtype == ml_dtypes.bfloat16 else v) for k, v in arrays.items()})


def write_codec_case(folder: Path, case: str, codec_cases: dict, sparse_cases: dict) -> None:
    if case in sparse_cases:
        write_sparse(folder / f"{case}.nnz", *sparse_cases[case])
    else:
        make, codec, params, chunk = codec_cases[case]
        options = EncodeOptions.from_params(codec, params, chunk_elems=chunk)
        write_document(folder / f"{case}.nnz", ModelDocument("tensors", make(np.random.default_rng(sum(map(ord, case))))),
                       options)
    with nncodec.load(folder / f"{case}.nnz") as f:
        save_arrays(folder / f"{case}.npz", f.read_all())


def model_sources(folder: Path) -> dict[str, Path]:
    """One small model per source format."""
    import onnx
    import torch
    from onnx_models import mlp
    from safetensors.numpy import save_file

    rng = np.random.default_rng(3)
    onnx.save(mlp(hidden=32), folder / "ext.onnx", save_as_external_data=True, all_tensors_to_one_file=True,
              location="ext.onnx.data", size_threshold=0)
    state = {"fc.weight": torch.randn(16, 8), "fc.bias": torch.zeros(16), "steps": torch.tensor(3)}
    torch.save(state, folder / "zip.pt")
    torch.save(state, folder / "legacy.pt", _use_new_zipfile_serialization=False)
    torch.jit.save(torch.jit.script(torch.nn.Sequential(torch.nn.Linear(8, 4), torch.nn.ReLU())), folder / "script.jit")
    save_file({"a": rng.standard_normal((8, 8)).astype(np.float32)}, str(folder / "st-1.safetensors"))
    save_file({"b": rng.standard_normal((4, 8)).astype(np.float16)}, str(folder / "st-2.safetensors"))
    (folder / "st.safetensors.index.json").write_text(json.dumps(
        {"metadata": {}, "weight_map": {"a": "st-1.safetensors", "b": "st-2.safetensors"}}))
    return {"onnx-external": folder / "ext.onnx", "torch-zip": folder / "zip.pt", "torch-legacy": folder / "legacy.pt",
            "torchscript": folder / "script.jit", "safetensors-sharded": folder / "st.safetensors.index.json"}


def folder_source(folder: Path) -> Path:
    """A model folder: sharded safetensors, a config, a tokenizer-like JSON, a nested file."""
    root = folder / "model-folder"
    (root / "extra").mkdir(parents=True)  # makes ``folder`` too
    sources = model_sources(folder)
    for name in ("st-1.safetensors", "st-2.safetensors", "st.safetensors.index.json"):
        (root / name).write_bytes((folder / name).read_bytes())
    (root / "config.json").write_text(json.dumps({"hidden_size": 8, "architectures": ["Tiny"]}, indent=2))
    (root / "tokenizer.json").write_text(json.dumps({"vocab": {f"t{i}": i for i in range(50)}}))
    (root / "extra" / "zip.pt").write_bytes(sources["torch-zip"].read_bytes())
    return root


def decoded_files(nnz: Path, work: Path) -> dict[str, str]:
    """Relative name -> sha256 of every file ``decode_file`` writes for ``nnz`` (into ``work``)."""
    work.mkdir(parents=True)
    decode_file(nnz, work / "model")
    return {p.relative_to(work).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(work.rglob("*")) if p.is_file()}


def write_codecs(version: Path, codec_cases: dict, sparse_cases: dict) -> None:
    folder = version / "codecs"
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    for case in [*codec_cases, *sparse_cases]:
        if case not in manifest:
            write_codec_case(folder, case, codec_cases, sparse_cases)
            manifest[case] = {"codecs": stored_codecs(folder / f"{case}.nnz")}
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def write_models(version: Path) -> None:
    folder = version / "models"
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    with tempfile.TemporaryDirectory() as tmp:
        sources = model_sources(Path(tmp))
        if version == V1_1:
            sources["model-folder"] = folder_source(Path(tmp) / "folder")
        for case, source in sources.items():
            if case not in manifest:
                encode_file(source, folder / f"{case}.nnz", threads=1)
                manifest[case] = {"codecs": stored_codecs(folder / f"{case}.nnz"),
                                  "decoded": decoded_files(folder / f"{case}.nnz", Path(tmp) / f"out-{case}")}
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def write_first() -> None:
    if (V1 / "tensors.nnz").exists():
        return
    tensors = first_tensors(np.random.default_rng(20261122))
    write_document(V1 / "tensors.nnz", ModelDocument("tensors", tensors), EncodeOptions(chunk_elems=512))
    save_arrays(V1 / "tensors.npz", tensors)


def delta_states(rng: np.random.Generator) -> list[dict[str, np.ndarray]]:
    """A base, a fine-tune of it and a checkpoint after that (every dtype the delta codec takes)."""
    base = {"w": (rng.standard_normal((64, 48)) * 0.05).astype(np.float32),
            "h": (rng.standard_normal(900) * 0.1).astype(np.float16),
            "b16": (rng.standard_normal((30, 30)) * 0.02).astype(ml_dtypes.bfloat16),
            "d": rng.standard_normal(50),
            "ids": rng.integers(-1000, 1000, 77).astype(np.int32),
            "frozen": rng.standard_normal(40).astype(np.float32)}
    states = [base]
    for _ in range(2):
        prev = states[-1]
        states.append({k: (v + (rng.standard_normal(v.shape) * 1e-3).astype(v.dtype)) if k not in ("ids", "frozen")
                       else v.copy() for k, v in prev.items()})
    return states


def lane_states(rng: np.random.Generator) -> list[dict[str, np.ndarray]]:
    """A base and a fine-tune of it with tensors large enough for delta chunks in mode lanes (1.7),
    in every width, some over several chunks of their own."""
    base = {"w": (rng.standard_normal((96, 64)) * 0.05).astype(np.float32),
            "h": (rng.standard_normal(5000) * 0.1).astype(np.float16),
            "b16": (rng.standard_normal((128, 72)) * 0.02).astype(ml_dtypes.bfloat16),
            "d": rng.standard_normal(4500),
            "q": rng.integers(-100, 100, 6000).astype(np.int8),
            "ids": rng.integers(-1000, 1000, 4200).astype(np.int32)}
    tuned = {k: (v + (rng.standard_normal(v.shape) * 1e-3).astype(v.dtype)) if v.dtype.kind == "f"
             else (v + rng.integers(-1, 2, v.shape).astype(v.dtype)) for k, v in base.items()}
    tuned["b16"][:57] = base["b16"][:57]  # unchanged rows: its first chunk in mode equal
    return [base, tuned]


def write_lanes(folder: Path) -> None:
    """Delta chunks in mode lanes: ``base`` and ``tuned`` coded against it (one chunk per 4096
    elements, so that tensors span several)."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    base, tuned = lane_states(np.random.default_rng(20261206))
    for case, tensors, against in (("base", base, None), ("tuned", tuned, "base.nnz")):
        if case in manifest:
            continue
        plan = DeltaPlan(read_base(folder / against, Limits(), 1)) if against else None
        write_document(folder / f"{case}.nnz", ModelDocument("tensors", tensors),
                       EncodeOptions(chunk_elems=4096, threads=1), delta=plan)
        save_arrays(folder / f"{case}.npz", tensors)
        manifest[case] = {"codecs": stored_codecs(folder / f"{case}.nnz"), "base": against}
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


def write_delta(folder: Path, with_copy: bool) -> None:
    """Delta files: a base, a fine-tune, a checkpoint after it, dedup; ``with_copy`` (1.6): a copy of
    the base (its files a patch against the base's, a zlib index, base table entries by reference)."""
    folder.mkdir(parents=True, exist_ok=True)
    manifest_path = folder / "manifest.json"
    manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
    base, tuned, chain = delta_states(np.random.default_rng(20261201))
    cases = [("base", base, None), ("tuned", tuned, "base.nnz"), ("chain", chain, "tuned.nnz"),
             ("dedup", {**base, "w_tied": base["w"].copy()}, None)]
    if with_copy:
        cases.append(("copy", base, "base.nnz"))
    with tempfile.TemporaryDirectory() as tmp:
        for case, tensors, against in cases:
            if case in manifest:
                continue
            source = Path(tmp) / f"{case}.safetensors"
            from safetensors.numpy import save_file

            save_file(tensors, source)
            encode_file(source, folder / f"{case}.nnz", threads=1, base=folder / against if against else None)
            save_arrays(folder / f"{case}.npz", tensors)
            manifest[case] = {"codecs": stored_codecs(folder / f"{case}.nnz"), "base": against}
    manifest_path.write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    write_first()
    write_codecs(V1, CODEC_CASES, SPARSE_CASES)
    write_models(V1)
    write_models(V1_1)
    write_delta(V1_2 / "delta", with_copy=False)
    write_codecs(V1_3, CODEC_CASES_1_3, SPARSE_CASES_1_3)
    write_codecs(V1_4, CODEC_CASES_1_4, {})
    write_codecs(V1_5, CODEC_CASES_1_5, {})
    write_delta(V1_6 / "delta", with_copy=True)
    write_lanes(V1_7 / "delta")
