"""``nncodec batch`` on a collection of models: its total size against per-file nncodec, per-file
ZipNN and tensor dedup + XOR + zstd (the hub-scale method), its throughput at 1 and 2 workers and
the peak resident memory of its workers, measured in one run.

    python bench/bench_batch.py [--cache DIR] [--out DIR] [--quick] [--executor local|ray] [--address ADDR]
                                [--zstd-level 19] [--corpus DIR]

The collection (made once with real training loops, bench/delta_models.py, and cached in
``--cache``, default bench/results/batch_collection, ``_quick`` with --quick):
- MiniLM: all-MiniLM-L6-v2 (the corpus safetensors file, float32) and four fine-tunes of it
  (different learning rates, step counts and seeds), three checkpoints of one more run, the base
  and one or two fine-tunes cast to bfloat16 (as mixed-precision training saves them);
- EfficientNet-Lite0 (the corpus weights, saved by torch.save) and one or two fine-tunes on digits;
- exact copies: the MiniLM file under another folder, the same MiniLM tensors saved as a torch .pt;
- a model folder (``save_pretrained`` of a small BERT built from a config, seeded; no download)
  and a copy of it; two unrelated corpus files (Silero VAD, safetensors and ONNX).

Methods, each over the whole collection:
1. per-file nncodec: ``nncodec.encode_file`` of each model alone (one thread);
2. per-file ZipNN: each weight file alone (byte mode, the dtype of its largest tensor, padded to
   whole elements: ZipNN 0.5.4 aborts on a float32 length that is not a multiple of 4; other
   files of a folder counted as they are);
3. dedup + XOR + zstd, as hub-scale storage does (ZipLLM's tensor dedup and XOR of a fine-tune with
   its base): every model split by nncodec's own format readers into its tensors' bytes and the
   rest of its files (headers, pickles, JSON); a tensor whose bytes (SHA-256) were seen before in
   the collection is a reference; each other tensor of a model whose base has a tensor of the
   same name, dtype and shape is XORed with it; the base of each model is the one the batch
   manifest reports for it (so both methods use the same base graph; the collection's own
   parents if there is no manifest). Per model, an index (file names and sizes, each tensor's
   offset, length, name, mode and, for references, its hash), the non-tensor bytes and the
   tensor bytes are compressed in one zstd stream (zstandard, level 19, one thread). Every stream
   is decoded again and each file rebuilt and compared with the original, byte for byte;
4. ``nncodec batch SRC DST --workers N --threads 1`` for N = 1 and 2 (a fresh DST each, in a child
   process): wall time -> GB/min of source bytes, the total of DST (every .nnz and the manifest),
   the workers' peak RSS from the manifest; the .nnz files of both runs must be byte-identical and
   the manifest's fields are checked (hashes, sizes, bases, verified);
5. ``nncodec batch --restore DST OUT``, and OUT compared with SRC, every file byte for byte.
Writes OUT/bench_batch.{md,json}.
"""

from __future__ import annotations

import argparse
import filecmp
import hashlib
import json
import os
import platform
import re
import resource
import shutil
import statistics
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_delta as bd  # noqa: E402
import corpus as corpus_module  # noqa: E402
import delta_models as dm  # noqa: E402
from peak_memory import child_command, peak_bytes  # noqa: E402

import nncodec  # noqa: E402
from nncodec import _core, formats  # noqa: E402
from nncodec.dtypes import dtype_name  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GiB, MiB = 1 << 30, 1 << 20
UNRELATED = ("silero-vad__silero_vad_16k.safetensors", "silero-vad__silero_vad.onnx")
WEIGHT_SUFFIXES = (".safetensors", ".pt", ".pth", ".bin", ".onnx")
# MiniLM fine-tunes (lr, steps, seed), the checkpoint series (lr, steps, checkpoints, seed), how
# many fine-tunes get a bfloat16 cast, EfficientNet fine-tunes (lr, steps, seed).
PLANS = {
    "full": {"minilm": [(1e-5, 40, 0), (2e-5, 80, 1), (5e-5, 120, 2), (1e-4, 60, 3)],
             "series": (3e-5, 90, 3, 4), "bf16": 2, "cnn": [(1e-5, 100, 0), (1e-4, 100, 1)]},
    "quick": {"minilm": [(1e-5, 3, 0), (2e-5, 4, 1), (5e-5, 5, 2), (1e-4, 3, 3)],
              "series": (3e-5, 6, 3, 4), "bf16": 1, "cnn": [(1e-4, 4, 0)]},
}
MANIFEST_KEYS = ("source", "format", "source_bytes", "source_mtime_ns", "source_xxh64", "output", "output_bytes",
                 "output_xxh64", "ratio", "codec", "base", "seconds", "worker", "peak_rss_bytes", "verified")
RUN_DEPENDENT = ("seconds", "worker", "peak_rss_bytes")


# ---------------------------------------------------------------------------------------------
# The collection

def _entry(rel: str, kind: str, parent: str | None, **info) -> dict:
    return {"rel": rel, "kind": kind, "parent": parent, **info}


def minilm_models(corpus: Path, src: Path, plan: dict) -> list[dict]:
    """The MiniLM base, its fine-tunes (and bfloat16 casts), a checkpoint series and two copies."""
    from safetensors.torch import load_file

    base_rel = "minilm/all-MiniLM-L6-v2.safetensors"
    (src / "minilm").mkdir(parents=True)
    shutil.copyfile(corpus / "models" / dm.MINILM_FILE, src / base_rel)
    base = load_file(str(src / base_rel))
    bf16_base = "minilm-bf16/all-MiniLM-L6-v2.safetensors"
    (src / "minilm-bf16").mkdir()
    bd.save_minilm(dm.as_dtype(base, torch.bfloat16), src / bf16_base)
    models = [_entry(base_rel, "base", None), _entry(bf16_base, "bfloat16 cast of the base", base_rel)]
    for k, (lr, steps, seed) in enumerate(plan["minilm"]):
        print(f"MiniLM fine-tune: lr {lr:g}, {steps} steps, seed {seed}", flush=True)
        tuned = dm.train_minilm(corpus, lr, steps, seed=seed)[-1]
        name = f"ft-lr{lr:g}-{steps}steps-seed{seed}.safetensors"
        change = dm.mean_relative_change(base, tuned)
        bd.save_minilm(tuned, src / "minilm" / name)
        models.append(_entry(f"minilm/{name}", f"fine-tune (lr {lr:g}, {steps} steps, seed {seed})", base_rel,
                             mean_rel_change=change))
        if k < plan["bf16"]:
            bd.save_minilm(dm.as_dtype(tuned, torch.bfloat16), src / "minilm-bf16" / name)
            models.append(_entry(f"minilm-bf16/{name}", f"bfloat16 fine-tune (lr {lr:g}, {steps} steps)",
                                 bf16_base, mean_rel_change=change))
    models += minilm_series(corpus, src, base_rel, plan["series"])
    (src / "mirror" / "minilm").mkdir(parents=True)
    shutil.copyfile(src / base_rel, src / "mirror" / base_rel)
    (src / "minilm-torch").mkdir()
    bd.save_cnn(base, src / "minilm-torch" / "all-MiniLM-L6-v2.pt")  # torch.save of the same tensors
    return models + [_entry(f"mirror/{base_rel}", "exact copy (another folder)", base_rel),
                     _entry("minilm-torch/all-MiniLM-L6-v2.pt", "same tensors as torch .pt", base_rel)]


def minilm_series(corpus: Path, src: Path, base_rel: str, series: tuple) -> list[dict]:
    lr, steps, count, seed = series
    print(f"MiniLM run: lr {lr:g}, {steps} steps, {count} checkpoints", flush=True)
    folder = src / "minilm-run"
    folder.mkdir()
    models, parent = [], base_rel
    for k, state in enumerate(dm.train_minilm(corpus, lr, steps, count, seed=seed), 1):
        rel = f"minilm-run/checkpoint-{round(steps * k / count)}.safetensors"
        bd.save_minilm(state, src / rel)
        models.append(_entry(rel, f"checkpoint {k}/{count} (lr {lr:g})", parent))
        parent = rel
    return models


def cnn_models(corpus: Path, src: Path, plan: dict) -> list[dict]:
    base = dm.efficientnet_state(corpus)
    folder = src / "efficientnet-lite0"
    folder.mkdir()
    base_rel = "efficientnet-lite0/imagenet.pt"
    bd.save_cnn(base, src / base_rel)
    models = [_entry(base_rel, "base", None)]
    for lr, steps, seed in plan["cnn"]:
        print(f"EfficientNet-Lite0 fine-tune: lr {lr:g}, {steps} steps", flush=True)
        tuned = dm.train_efficientnet(base, lr, steps, seed=seed)
        rel = f"efficientnet-lite0/digits-lr{lr:g}-{steps}steps.pt"
        bd.save_cnn(tuned, src / rel)
        models.append(_entry(rel, f"fine-tune (lr {lr:g}, {steps} steps, new head)", base_rel,
                             mean_rel_change=dm.mean_relative_change(base, tuned)))
    return models


def other_models(corpus: Path, src: Path) -> list[dict]:
    """A save_pretrained folder of a small BERT (seeded), a copy of it, two unrelated corpus files."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(hidden_size=128, num_hidden_layers=2, num_attention_heads=2, intermediate_size=512)
    BertModel(config).save_pretrained(src / "bert-tiny")
    shutil.copytree(src / "bert-tiny", src / "mirror" / "bert-tiny")
    models = [_entry("bert-tiny", "model folder", None), _entry("mirror/bert-tiny", "exact copy of a folder", "bert-tiny")]
    (src / "other").mkdir()
    for name in UNRELATED:
        rel = "other/" + name.split("__", 1)[1]
        shutil.copyfile(corpus / "models" / name, src / rel)
        models.append(_entry(rel, "unrelated", None))
    return models


def collection(cache: Path, corpus: Path, quick: bool) -> tuple[Path, list[dict], bool]:
    """The cached collection (built when cache/collection.json is missing): SRC, its models and
    whether it is the quick one."""
    spec_file, src = cache / "collection.json", cache / "src"
    if spec_file.exists():
        spec = json.loads(spec_file.read_text())
        print(f"collection: reusing {src} ({'quick' if spec['quick'] else 'full'})", flush=True)
        return src, spec["models"], spec["quick"]
    plan = PLANS["quick" if quick else "full"]
    corpus_module.fetch(corpus, [dm.MINILM_FILE, dm.EFFICIENTNET_FILE, *UNRELATED])
    shutil.rmtree(src, ignore_errors=True)
    src.mkdir(parents=True)
    models = minilm_models(corpus, src, plan) + cnn_models(corpus, src, plan) + other_models(corpus, src)
    for m in models:
        m["bytes"] = tree_bytes(src / m["rel"])
    spec_file.write_text(json.dumps({"quick": quick, "plan": plan, "models": models}, indent=1))
    return src, models, quick


def is_copy(m: dict) -> bool:
    """An exact copy of another model of the collection (its bytes, or its tensors in another format)."""
    return "copy" in m["kind"] or m["kind"].startswith("same tensors")


def tree_files(path: Path) -> list[Path]:
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in tree_files(path))


# ---------------------------------------------------------------------------------------------
# Per-file peers

def per_file_nncodec(src: Path, models: list[dict], work: Path) -> dict:
    sizes, seconds = {}, 0.0
    for m in models:
        out = work / "alone.nnz"
        _, t = bd._timed(lambda: nncodec.encode_file(src / m["rel"], out, threads=1, force=True))
        sizes[m["rel"]], seconds = out.stat().st_size, seconds + t
        out.unlink()
    return {"bytes": sum(sizes.values()), "per_model": sizes, "seconds": seconds}


def zipnn_dtype(path: Path) -> str:
    """The dtype ZipNN is told: that of the file's largest tensor (float32 unless a 16-bit float)."""
    doc = formats.detect(path).read(path)
    if not doc.tensors:
        return "float32"
    name = dtype_name(max(doc.tensors.values(), key=lambda a: a.nbytes).dtype)
    return name if name in ("bfloat16", "float16") else "float32"


def zipnn_file(path: Path, dtype: str) -> tuple[int, float]:
    """ZipNN (byte mode, one thread) of one file: compressed bytes and seconds, round trip
    checked. The bytes are padded with zeros to whole elements first (at most 3 bytes, counted):
    ZipNN 0.5.4's float32 byte mode corrupts the heap on a length that is not a multiple of 4
    (glibc aborts: "corrupted size vs. prev_size"), as a torch.save file's length may be."""
    from zipnn import ZipNN

    data = path.read_bytes()
    element = 4 if dtype == "float32" else 2
    codec = ZipNN(input_format="byte", bytearray_dtype=dtype, threads=1)
    packed, seconds = bd._timed(lambda: codec.compress(bytearray(data + b"\0" * (-len(data) % element))))
    assert bytes(codec.decompress(packed))[:len(data)] == data, f"ZipNN round trip of {path} differs"
    return len(packed), seconds


def per_file_zipnn(src: Path, models: list[dict]) -> dict:
    sizes, seconds = {}, 0.0
    for m in models:
        total = 0
        for f in tree_files(src / m["rel"]):
            if f.suffix in WEIGHT_SUFFIXES:
                size, t = zipnn_file(f, zipnn_dtype(f))
                total, seconds = total + size, seconds + t
            else:
                total += f.stat().st_size  # configs of a folder: as they are
        sizes[m["rel"]] = total
    return {"bytes": sum(sizes.values()), "per_model": sizes, "seconds": seconds}


# ---------------------------------------------------------------------------------------------
# Dedup + XOR + zstd (the hub-scale method)

def split_model(path: Path) -> list[tuple[str, object, list[tuple]]]:
    """The model's files as nncodec's readers split them: (name, bytes, tensors by offset), each
    tensor (offset, length, name, dtype, shape); file names relative to the model's folder."""
    doc = formats.detect(path).read(path)
    out = []
    for f in doc.files:
        holes = []
        for h in sorted(f.holes, key=lambda h: h.offset):
            a = doc.tensors[h.tensor]
            holes.append((h.offset, a.nbytes, h.tensor, dtype_name(a.dtype), tuple(a.shape)))
        out.append((f.name, f.data, holes))
    return out


def _gaps(size: int, holes) -> list[tuple[int, int]]:
    """The byte ranges of a file between its tensors (one more than tensors)."""
    pos, out = 0, []
    for offset, length, *_ in holes:
        out.append((pos, offset))
        pos = offset + length
    return out + [(pos, size)]


def _model_file(path: Path, name: str) -> Path:
    return (path if path.is_dir() else path.parent) / name


def topological(rels: list[str], bases: dict) -> list[str]:
    """``rels`` with every model after its base (else in the given order)."""
    order, placed = [], set()

    def place(rel, depth=0):
        if rel in placed or depth > len(rels):
            return
        if bases.get(rel) in rels:
            place(bases[rel], depth + 1)
        placed.add(rel)
        order.append(rel)

    for rel in rels:
        place(rel)
    return order


def hub_stream(files, base: dict, seen: set) -> bytes:
    """One model's stream: index, non-tensor bytes, then its tensors not seen before (XORed with
    the base's tensor of the same name, dtype and shape where there is one)."""
    index, kept, payload = [], [], []
    for name, data, holes in files:
        entries = []
        for offset, length, tensor, dtype, shape in holes:
            raw = data[offset:offset + length]
            digest = hashlib.sha256(raw).digest()
            if digest in seen:
                entries.append([offset, length, tensor, "ref", digest.hex()])
                continue
            seen.add(digest)
            match = base.get(tensor)
            xor = match is not None and match[:2] == (dtype, shape)
            payload.append(bd._xor(raw, match[2]) if xor else bytes(raw))
            entries.append([offset, length, tensor, "xor" if xor else "raw"])
        index.append([name, len(data), entries])
        kept += [bytes(data[a:b]) for a, b in _gaps(len(data), holes)]
    head = json.dumps(index, separators=(",", ":")).encode()
    return struct.pack("<Q", len(head)) + head + b"".join(kept) + b"".join(payload)


def hub_encode(src: Path, order: list[str], bases: dict, work: Path, level: int) -> dict:
    import zstandard

    compressor = zstandard.ZstdCompressor(level=level, threads=0)
    seen: set = set()
    sizes, start = {}, time.perf_counter()
    for k, rel in enumerate(order):
        base = {}
        if bases.get(rel):
            for _, data, holes in split_model(src / bases[rel]):
                base.update({t: (dt, shape, data[o:o + n]) for o, n, t, dt, shape in holes})
        blob = compressor.compress(hub_stream(split_model(src / rel), base, seen))
        (work / f"{k}.zst").write_bytes(blob)
        sizes[rel] = len(blob)
        print(f"  dedup + XOR + zstd: {rel} -> {len(blob) / 1e6:.2f} MB", flush=True)
    return {"bytes": sum(sizes.values()), "per_model": sizes, "seconds": time.perf_counter() - start}


def hub_check(src: Path, order: list[str], bases: dict, work: Path) -> list[str]:
    """Decodes every stream (in order: references and bases come first) and compares each file
    rebuilt with the original; returns the files that differ."""
    import zstandard

    store, by_name, bad = {}, {}, []
    for k, rel in enumerate(order):
        stream = zstandard.ZstdDecompressor().decompress((work / f"{k}.zst").read_bytes())
        (n,) = struct.unpack_from("<Q", stream)
        index, pos = json.loads(stream[8:8 + n]), 8 + n
        tensors_at = pos + sum(b - a for _, size, entries in index for a, b in _gaps(size, entries))
        base, names = by_name.get(bases.get(rel), {}), {}
        for name, size, entries in index:
            out = bytearray(size)
            for a, b in _gaps(size, entries):
                out[a:b], pos = stream[pos:pos + b - a], pos + b - a
            for offset, length, tensor, mode, *ref in entries:
                if mode == "ref":
                    digest = bytes.fromhex(ref[0])
                else:
                    raw, tensors_at = stream[tensors_at:tensors_at + length], tensors_at + length
                    raw = bd._xor(raw, store[base[tensor]]) if mode == "xor" else raw
                    digest = hashlib.sha256(raw).digest()
                    store[digest] = raw
                out[offset:offset + length] = store[digest]
                names[tensor] = digest
            if out != _model_file(src / rel, name).read_bytes():
                bad.append(f"{rel}: {name}")
        by_name[rel] = names
    return bad


# ---------------------------------------------------------------------------------------------
# nncodec batch

def run_cli(args: list[str]) -> dict:
    """``python -m nncodec ARGS`` in a child: wall and CPU seconds (its workers' included), exit
    status, its own peak RSS, output, and the 1-minute load average before it started."""
    with tempfile.TemporaryDirectory() as tmp:
        peak, load = Path(tmp) / "peak", os.getloadavg()[0]
        before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.perf_counter()
        proc = subprocess.run(child_command(peak, args), capture_output=True, text=True)
        wall, after = time.perf_counter() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        return {"args": args, "rc": proc.returncode, "wall_s": wall, "cpu_s": cpu, "load_before": load,
                "peak_rss": peak_bytes(peak), "output_tail": (proc.stdout + proc.stderr)[-4000:]}


def read_manifest(dst: Path) -> list[dict]:
    path = dst / "manifest.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []


def xxh64_hex(path: Path) -> str:
    return f"{int(_core.xxhash64(np.fromfile(path, np.uint8))):016x}"


def _source_problems(row: dict, source: Path) -> list[str]:
    """The row's facts of its source: size, newest mtime, and source_xxh64, which is (as
    nncodec.batch.collection.Fingerprint defines it) the XXH64 of the lines ``<XXH64>  <name>``
    of the model's files (``xxh64sum``'s output), each file listed in ``files`` if the row has it."""
    files = tree_files(source)
    names = [p.relative_to(source if source.is_dir() else source.parent).as_posix() for p in files]
    found = [] if row["source_bytes"] == tree_bytes(source) else [f"source_bytes {row['source_bytes']} != {tree_bytes(source)}"]
    newest = max(p.stat().st_mtime_ns for p in files)
    if row["source_mtime_ns"] != newest:
        found.append(f"source_mtime_ns {row['source_mtime_ns']} != the newest file's {newest}")
    digests = [xxh64_hex(p) for p in files]
    if "files" in row and [list(f) for f in row["files"]] != [[n, p.stat().st_size, d] for n, p, d in zip(names, files, digests)]:
        found.append(f"files {row['files']} do not match the files")
    lines = "".join(f"{d}  {n}\n" for n, d in zip(names, digests)).encode()
    summed = f"{int(_core.xxhash64(np.frombuffer(lines, np.uint8))):016x}"
    if not all(re.fullmatch(r"[0-9a-f]{16}", str(row[k])) for k in ("source_xxh64", "output_xxh64")):
        found.append(f"xxh64 not 16 hex digits: {row['source_xxh64']!r} / {row['output_xxh64']!r}")
    elif row["source_xxh64"] != summed:
        found.append(f"source_xxh64 {row['source_xxh64']} is not the XXH64 of the files' xxh64sum lines ({summed})")
    return found


def _row_problems(row: dict, src: Path, dst: Path, sources: set) -> list[str]:
    missing = [k for k in MANIFEST_KEYS if k not in row]
    if missing:
        return [f"missing keys {missing}"]
    found, output = _source_problems(row, src / row["source"]), dst / row["output"]
    if row["output"] != row["source"].rstrip("/") + ".nnz":
        found.append(f"output {row['output']!r} is not SOURCE.nnz")
    if not output.is_file():
        return found + [f"output {row['output']} missing"]
    if row["output_bytes"] != output.stat().st_size or row["output_xxh64"] != xxh64_hex(output):
        found.append("output_bytes / output_xxh64 do not match the .nnz file")
    if abs(row["ratio"] - row["source_bytes"] / max(row["output_bytes"], 1)) > 1e-3 * max(row["ratio"], 1):
        found.append(f"ratio {row['ratio']} != source_bytes / output_bytes")
    if row["base"] is not None and (row["base"] not in sources or row["base"] == row["source"]):
        found.append(f"base {row['base']!r} is not another source of the manifest")
    if row["verified"] is not True or not re.fullmatch(r".+:\d+", str(row["worker"])):
        found.append(f"verified {row['verified']!r}, worker {row['worker']!r}")
    if not (isinstance(row["peak_rss_bytes"], int) and row["peak_rss_bytes"] > 0 and row["seconds"] > 0):
        found.append(f"peak_rss_bytes {row['peak_rss_bytes']!r}, seconds {row['seconds']!r}")
    return found


def manifest_problems(rows: list[dict], src: Path, dst: Path, models: list[dict]) -> list[str]:
    """What is wrong with the manifest: models missing or extra, fields that do not match the files."""
    sources = {str(r.get("source", "")).rstrip("/") for r in rows}
    expected = {m["rel"] for m in models}
    problems = [f"not in the manifest: {sorted(expected - sources)}"] if expected - sources else []
    problems += [f"not a model of the collection: {sorted(sources - expected)}"] if sources - expected else []
    for row in rows:
        problems += [f"{row.get('source')}: {p}" for p in _row_problems(row, src, dst, sources)]
    return problems


def same_outputs(a: Path, b: Path) -> list[str]:
    """Where two batch outputs of one collection differ: .nnz files, manifest rows (without the
    fields of the run: seconds, worker, peak RSS)."""
    na, nb = ({p.relative_to(d) for p in d.rglob("*.nnz")} for d in (a, b))
    differ = [f"only in one run: {sorted(map(str, na ^ nb))}"] if na ^ nb else []
    differ += [f"{p} differs" for p in sorted(na & nb) if not filecmp.cmp(a / p, b / p, shallow=False)]
    rows = [sorted(({k: v for k, v in r.items() if k not in RUN_DEPENDENT} for r in read_manifest(d)),
                   key=lambda r: str(r.get("source"))) for d in (a, b)]
    return differ + (["manifest rows differ"] if rows[0] != rows[1] else [])


def same_trees(src: Path, out: Path) -> list[str]:
    """Files of SRC missing from OUT, extra in OUT, or different."""
    files = [{p.relative_to(d) for p in d.rglob("*") if p.is_file()} if d.is_dir() else set() for d in (src, out)]
    differ = [f"missing: {p}" for p in sorted(files[0] - files[1])] + [f"extra: {p}" for p in sorted(files[1] - files[0])]
    return differ + [f"differs: {p}" for p in sorted(files[0] & files[1]) if not filecmp.cmp(src / p, out / p, shallow=False)]


def batch_run(src: Path, dst: Path, workers: int, args) -> dict:
    shutil.rmtree(dst, ignore_errors=True)
    cli = ["batch", str(src), str(dst), "--workers", str(workers), "--threads", "1", "--executor", args.executor,
           "--quiet"] + (["--address", args.address] if args.address else [])
    print(f"nncodec {' '.join(cli)}", flush=True)
    run = run_cli(cli)
    rows = read_manifest(dst)
    run.update(rows=rows, dst_bytes=tree_bytes(dst) if dst.exists() else 0,
               other_files=sorted(str(p.relative_to(dst)) for p in dst.rglob("*")
                                  if p.is_file() and p.suffix != ".nnz" and p.name != "manifest.jsonl") if dst.exists() else [])
    per_worker: dict = {}
    for r in rows:
        if isinstance(r.get("peak_rss_bytes"), int):
            per_worker[r.get("worker")] = max(per_worker.get(r.get("worker"), 0), r["peak_rss_bytes"])
    tasks = [r["peak_rss_bytes"] for r in rows if isinstance(r.get("peak_rss_bytes"), int)]
    run.update(worker_peaks=per_worker, task_peak_max=max(tasks, default=None),
               task_peak_median=statistics.median(tasks) if tasks else None)
    if run["rc"]:
        print(f"  exit status {run['rc']}:\n{run['output_tail']}", flush=True)
    return run


# ---------------------------------------------------------------------------------------------
# Report

def machine() -> str:
    cpuinfo = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    found = re.search(r"^model name\s*:\s*(.+)$", cpuinfo, re.M)
    ram = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    return f"{found.group(1) if found else platform.processor()}, {os.cpu_count()} CPUs, {ram / GiB:.0f} GiB RAM"


def _mb(n) -> str:
    return "-" if n is None else f"{n / 1e6:.2f} MB"


def _mib(n) -> str:
    return "-" if n is None else f"{n / MiB:.0f} MiB"


def _gb_min(size: int, seconds) -> float | None:
    return size / 1e9 / (seconds / 60) if seconds else None


def methods_table(r: dict) -> list[str]:
    raw, alone = r["raw_bytes"], r["nncodec"]["bytes"]
    rows = [("raw collection", raw), ("per-file ZipNN", r["zipnn"]["bytes"]), ("per-file nncodec", alone),
            (f"dedup + XOR + zstd -{r['zstd_level']}", r["hub"]["bytes"])]
    if r["batch"].get(1, {}).get("rows"):
        rows.append(("nncodec batch (all .nnz + manifest)", r["batch"][1]["dst_bytes"]))
    lines = ["| method | total | ratio vs raw | size vs per-file nncodec |", "|---|---:|---:|---:|"]
    lines += [f"| {name} | {_mb(n)} | {raw / n:.2f}x | {n / alone:.3f}x |" for name, n in rows]
    return lines


def throughput_table(r: dict) -> list[str]:
    raw = r["raw_bytes"]
    lines = ["| run | wall | CPU | GB/min | speed-up | workers seen | worker peak RSS, max / median over tasks | "
             "each worker's peak | coordinator peak RSS | load before |", "|---|---:|---:|---:|---:|---:|---:|---|---:|---:|"]
    one = r["batch"].get(1, {}).get("wall_s")
    for n, b in sorted(r["batch"].items()):
        ok = b["rc"] == 0
        speed = f"{one / b['wall_s']:.2f}x" if ok and one and r["batch"][1]["rc"] == 0 else "-"
        peaks = ", ".join(_mib(v) for v in b["worker_peaks"].values()) or "-"
        lines.append(f"| nncodec batch --workers {n} --threads 1{'' if ok else ' (FAILED, exit ' + str(b['rc']) + ')'} | "
                     f"{b['wall_s']:.1f} s | {b['cpu_s']:.1f} s | {_gb_min(raw, b['wall_s']) or 0:.2f} | {speed} | "
                     f"{len(b['worker_peaks'])} | {_mib(b['task_peak_max'])} / {_mib(b['task_peak_median'])} | {peaks} | "
                     f"{_mib(b['peak_rss'])} | {b['load_before']:.2f} |")
    for label, key in (("per-file nncodec (in process, 1 thread, encode only)", "nncodec"),
                       ("per-file ZipNN (1 thread, compress only)", "zipnn"), ("dedup + XOR + zstd (1 thread)", "hub")):
        lines.append(f"| {label} | {r[key]['seconds']:.1f} s | | {_gb_min(raw, r[key]['seconds']):.2f} | | | | | | |")
    return lines


def model_table(r: dict, models: list[dict]) -> list[str]:
    rows = {str(x.get("source", "")).rstrip("/"): x for x in r["batch"].get(1, {}).get("rows", [])}
    lines = ["| model | kind | bytes | base (manifest) | nncodec alone | ZipNN | dedup + XOR + zstd | batch |",
             "|---|---|---:|---|---:|---:|---:|---:|"]
    for m in models:
        size, row = m["bytes"], rows.get(m["rel"], {})
        cells = [r["nncodec"]["per_model"][m["rel"]], r["zipnn"]["per_model"][m["rel"]], r["hub"]["per_model"][m["rel"]],
                 row.get("output_bytes")]
        text = [f"{_mb(c)} ({size / c:.1f}x)" if c else "-" for c in cells]
        lines.append(f"| {m['rel']} | {m['kind']} | {_mb(size)} | {row.get('base') or '-'} | " + " | ".join(text) + " |")
    return lines


def checks(r: dict) -> list[str]:
    b1, b2 = r["batch"].get(1, {}), r["batch"].get(2, {})
    out = []
    if b1.get("rows"):
        share = b1["dst_bytes"] / r["nncodec"]["bytes"]
        out.append(f"- batch total / per-file nncodec: {share:.3f} (target <= 0.5: {'yes' if share <= 0.5 else 'NO'})")
        out.append(f"- batch total < dedup + XOR + zstd: {'yes' if b1['dst_bytes'] < r['hub']['bytes'] else 'NO'} "
                   f"({_mb(b1['dst_bytes'])} against {_mb(r['hub']['bytes'])})")
        sizes = {str(x["source"]).rstrip("/"): x.get("output_bytes", 0) for x in b1["rows"]}
        # Of a copy and its original, the one coded first holds the tensors, the other refers to them.
        dear = [f"{m['rel']} {_mb(sizes[m['rel']])}" for m in r["models"]
                if is_copy(m) and m["rel"] in sizes
                and min(sizes[m["rel"]], sizes.get(m.get("parent"), sizes[m["rel"]])) > 0.01 * m["bytes"]]
        out.append("- exact copies stored once (the copy or its original <= 1% of its size): "
                   f"{'yes' if not dear else 'NO: ' + ', '.join(dear)}")
    if b1.get("rc") == 0 and b2.get("rc") == 0:
        up = b1["wall_s"] / b2["wall_s"]
        out.append(f"- 2-worker speed-up: {up:.2f}x (target >= 1.7: {'yes' if up >= 1.7 else 'NO'})")
    for label, found in (("outputs of 1 and 2 workers byte-identical", r.get("same_outputs")),
                         ("batch --restore gives SRC back, every file", r.get("restore_differs")),
                         ("dedup + XOR + zstd round trip, every file", r["hub"].get("differs")),
                         ("manifest fields (1 worker)", b1.get("problems")), ("manifest fields (2 workers)", b2.get("problems"))):
        if found is not None:
            out.append(f"- {label}: {'yes' if not found else 'NO: ' + '; '.join(found[:10])}")
    return out


def markdown(r: dict, models: list[dict]) -> str:
    head = [f"machine: {r['machine']}; command: {r['command']}", "",
            f"collection: {len(models)} models, {r['files']} files, {_mb(r['raw_bytes'])} "
            f"({'quick' if r['quick'] else 'full'}); XOR bases: {r['hub']['base_graph']}", ""]
    return "\n".join(head + methods_table(r) + [""] + throughput_table(r) + [""] + checks(r) + [""]
                     + model_table(r, models)) + "\n"


def measure_batch(src: Path, models: list[dict], work: Path, args) -> dict:
    """Both batch runs, their manifests checked and outputs compared, and the restore."""
    found: dict = {"batch": {}}
    help_run = run_cli(["batch", "--help"])
    if help_run["rc"]:
        print(f"nncodec batch is not there (exit {help_run['rc']}): its steps are left out\n{help_run['output_tail'][-600:]}")
        return found
    for n in (1, 2):
        run = found["batch"][n] = batch_run(src, work / f"dst-{n}", n, args)
        run["problems"] = manifest_problems(run["rows"], src, work / f"dst-{n}", models) if run["rc"] == 0 else None
    if all(b["rc"] == 0 for b in found["batch"].values()):
        found["same_outputs"] = same_outputs(work / "dst-1", work / "dst-2")
    if found["batch"][2]["rc"] == 0:
        print("nncodec batch --restore", flush=True)
        found["restore"] = run_cli(["batch", "--restore", str(work / "dst-2"), str(work / "restored")])
        found["restore_differs"] = same_trees(src, work / "restored") + (
            [f"exit {found['restore']['rc']}: {found['restore']['output_tail'][-600:]}"] if found["restore"]["rc"] else [])
    return found


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n")[0].split()))
    p.add_argument("--cache", type=Path, default=None,
                   help="collection folder (default bench/results/batch_collection, _quick with --quick)")
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "results", help="folder for bench_batch.{md,json}")
    p.add_argument("--quick", action="store_true", help="shorter and fewer fine-tunes (a smoke check)")
    p.add_argument("--executor", choices=("local", "ray"), default="local")
    p.add_argument("--address", default=None, help="the Ray cluster's address (--executor ray)")
    p.add_argument("--zstd-level", type=int, default=19)
    p.add_argument("--corpus", type=Path, default=None, help="corpus folder (default: bench/corpus.py's)")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    cache = args.cache or ROOT / "bench" / "results" / ("batch_collection_quick" if args.quick else "batch_collection")
    src, models, quick = collection(cache, args.corpus or corpus_module.default_dest(), args.quick)
    raw = sum(m["bytes"] for m in models)
    r = {"machine": machine(), "command": "python bench/bench_batch.py " + " ".join(sys.argv[1:] if argv is None else argv),
         "quick": quick, "raw_bytes": raw, "files": len(tree_files(src)), "zstd_level": args.zstd_level, "models": models}
    work = Path(tempfile.mkdtemp(prefix="run-", dir=cache))
    try:
        print("per-file nncodec", flush=True)
        r["nncodec"] = per_file_nncodec(src, models, work)
        print("per-file ZipNN", flush=True)
        r["zipnn"] = per_file_zipnn(src, models)
        r.update(measure_batch(src, models, work, args))
        rows = {str(x["source"]).rstrip("/"): x.get("base") for x in r["batch"].get(1, {}).get("rows", [])}
        bases = rows or {m["rel"]: m["parent"] for m in models}
        order = topological([m["rel"] for m in models], bases)
        (work / "hub").mkdir()
        r["hub"] = hub_encode(src, order, bases, work / "hub", args.zstd_level)
        r["hub"]["differs"] = hub_check(src, order, bases, work / "hub")
        r["hub"]["base_graph"] = ("the batch manifest's" if rows else "the collection's own (no batch manifest)")
    finally:
        shutil.rmtree(work, ignore_errors=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "bench_batch.json").write_text(json.dumps(r, indent=1, default=str))
    table = markdown(r, models)
    (args.out / "bench_batch.md").write_text(table)
    print(table)
    return 0


if __name__ == "__main__":
    sys.exit(main())
