"""Checkpoints larger than memory: encode and decode speed and peak memory, with safetensors'
load time and ZipNN's file compression of the same files, measured in one run.

    python bench/bench_scale.py [--size-gib 8] [--cache DIR] [--corpus] [--threads 1 2] [--cases ...]
                                [--work DIR] [--no-peers]

``--work /dev/shm`` writes the .nnz and restored files to memory: the timings then show what the
codec and the kernel's copies cost without the disk (whose write speed is printed).

Cases:
- ``llm-bf16``: a sharded bfloat16 checkpoint shaped like a 7B LLM's layers, generated here
  (seeded) and cached: shards of about 2 GiB, per layer q/k/v/o (4096 x 4096) and gate/up/down
  (11008 x 4096) projections and two norms, embeddings and lm_head of 250 MiB (the largest
  tensor); values with per-row scales (log-normal) and heavy tails (a log-normal scale mixture
  of normals), as trained weights have.
- ``bert-folder``: a ``save_pretrained`` folder (weights, config, tokenizer files) of a BERT
  base-shaped model built from a config.
- with ``--corpus``: the public corpus files (bench/corpus.py fetches them).

Per case and thread count: encode and decode (restore) wall time and GB/s of the source bytes,
each in a child process whose peak resident memory (its VmHWM) is compared with 2 x the
largest tensor + 256 MiB; the restored files are compared with the originals byte for byte.
Then loading (a child reads every tensor into memory that exists, the .nnz in the page cache):
what a loader into a model's parameters costs, without the disk writes of a restore.
Beside them: ``safetensors.torch.load_file`` of every shard (seconds), and ZipNN (byte mode, the
file's dtype) compressing and decompressing each weight file in memory (ratio, seconds).
"""

from __future__ import annotations

import argparse
import filecmp
import json
import os
import platform
import resource
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peak_memory import child_command, peak_bytes  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GiB, MiB = 1 << 30, 1 << 20
HIDDEN, INTERMEDIATE, VOCAB = 4096, 11008, 32000
SHARD_BYTES = 2 * GiB



@dataclass
class Case:
    name: str
    source: Path                  # the model file, index or folder given to encode
    files: list[Path]             # every file of the model
    largest_tensor: int           # bytes
    dtype: str = "bfloat16"       # what ZipNN is told the bytes are
    runs: dict = field(default_factory=dict)

    @property
    def total(self) -> int:
        return sum(f.stat().st_size for f in self.files)


def llm_layout(size_gib: float) -> list[tuple[str, tuple[int, int]]]:
    """(name, shape) of every tensor of the LLM-shaped checkpoint, about ``size_gib`` GiB of bfloat16."""
    layer = [("self_attn.q_proj", (HIDDEN, HIDDEN)), ("self_attn.k_proj", (HIDDEN, HIDDEN)),
             ("self_attn.v_proj", (HIDDEN, HIDDEN)), ("self_attn.o_proj", (HIDDEN, HIDDEN)),
             ("mlp.gate_proj", (INTERMEDIATE, HIDDEN)), ("mlp.up_proj", (INTERMEDIATE, HIDDEN)),
             ("mlp.down_proj", (HIDDEN, INTERMEDIATE)), ("input_layernorm", (HIDDEN,)),
             ("post_attention_layernorm", (HIDDEN,))]
    per_layer = sum(2 * int(np.prod(s)) for _, s in layer)
    ends = 2 * 2 * VOCAB * HIDDEN
    layers = max(1, round((size_gib * GiB - ends) / per_layer))
    names = [("model.embed_tokens.weight", (VOCAB, HIDDEN))]
    for i in range(layers):
        names += [(f"model.layers.{i}.{n}.weight", s) for n, s in layer]
    return names + [("model.norm.weight", (HIDDEN,)), ("lm_head.weight", (VOCAB, HIDDEN))]


def trained_like(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """bfloat16 values with per-row scales and heavy tails."""
    import ml_dtypes

    if len(shape) == 1:
        return (1.0 + 0.05 * rng.standard_normal(shape, dtype=np.float32)).astype(ml_dtypes.bfloat16)
    out = np.empty(shape, ml_dtypes.bfloat16)
    scales = (0.02 * np.exp(0.3 * rng.standard_normal((shape[0], 1), dtype=np.float32))).astype(np.float32)
    for start in range(0, shape[0], 1024):  # in blocks of rows: bounded memory
        rows = slice(start, min(start + 1024, shape[0]))
        block = rng.standard_normal((rows.stop - rows.start, shape[1]), dtype=np.float32)
        block *= np.exp(0.5 * rng.standard_normal(block.shape, dtype=np.float32))
        out[rows] = (block * scales[rows]).astype(ml_dtypes.bfloat16)
    return out


def write_shard(path: Path, tensors: list[tuple[str, tuple[int, ...]]], rng: np.random.Generator) -> None:
    header, offset = {}, 0
    for name, shape in tensors:
        nbytes = 2 * int(np.prod(shape))
        header[name] = {"dtype": "BF16", "shape": list(shape), "data_offsets": [offset, offset + nbytes]}
        offset += nbytes
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)) + raw)
        for name, shape in tensors:
            f.write(trained_like(rng, shape).tobytes())


def llm_case(cache: Path, size_gib: float) -> Case:
    folder = cache / f"llm-bf16-{size_gib:g}gib"
    names = llm_layout(size_gib)
    shards: list[list[tuple[str, tuple[int, ...]]]] = [[]]
    for name, shape in names:
        if shards[-1] and sum(2 * int(np.prod(s)) for _, s in shards[-1]) + 2 * int(np.prod(shape)) > SHARD_BYTES:
            shards.append([])
        shards[-1].append((name, shape))
    files = [f"model-{i + 1:05d}-of-{len(shards):05d}.safetensors" for i in range(len(shards))]
    index = folder / "model.safetensors.index.json"
    if not index.exists():
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(2026)
        for file, tensors in zip(files, shards):
            print(f"  writing {file} ({len(tensors)} tensors)", file=sys.stderr)
            write_shard(folder / file, tensors, rng)
        weight_map = {name: file for file, tensors in zip(files, shards) for name, _ in tensors}
        index.write_text(json.dumps({"metadata": {"total_size": sum((folder / f).stat().st_size for f in files)},
                                     "weight_map": weight_map}, indent=2))
    return Case("llm-bf16", index, [index] + [folder / f for f in files], 2 * VOCAB * HIDDEN)


def bert_case(cache: Path) -> Case:
    folder = cache / "bert-base-folder"
    if not (folder / "config.json").exists():
        import torch
        from transformers import BertConfig, BertModel

        torch.manual_seed(0)
        BertModel(BertConfig()).save_pretrained(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    return Case("bert-folder", folder, files, 30522 * 768 * 4, dtype="float32")


def corpus_cases() -> list[Case]:
    sys.path.insert(0, str(ROOT / "bench"))
    import corpus

    from nncodec import formats
    from nncodec.dtypes import dtype_name

    cases = []
    for path in corpus.models().values():
        doc = formats.detect(path).read(path)
        biggest = max(doc.tensors.values(), key=lambda a: a.nbytes)
        dtype = dtype_name(biggest.dtype)
        files = [path.parent / f.name for f in doc.files] if doc.files else [path]
        cases.append(Case(path.name, path, files, biggest.nbytes, dtype if dtype in ("float32", "bfloat16") else "float32"))
    return cases


def run_child(args: list[str]) -> tuple[float, float, int]:
    """(wall seconds, CPU seconds, peak resident bytes) of ``python -m nncodec ARGS`` in a child."""
    with tempfile.TemporaryDirectory() as tmp:
        peak = Path(tmp) / "peak"
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(child_command(peak, args), check=True)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
        return wall, cpu, peak_bytes(peak)


# Loading into memory that exists (a model's parameters, a reused or pinned buffer): every tensor
# read into one buffer of the largest's size, timed inside the child (start-up and imports apart).
LOAD_CHILD = """
import json, re, sys, time, numpy as np, nncodec
from nncodec.dtypes import numpy_dtype
f = nncodec.load(sys.argv[1], threads=int(sys.argv[2]))
buf = np.empty(max(t.decoded_bytes for t in f.tensors), np.uint8)
start, cpu = time.perf_counter(), time.process_time()
for t in f.tensors:
    f.read_into(t.name, buf[:t.decoded_bytes].view(numpy_dtype(t.dtype)).reshape(t.shape))
wall, cpu = time.perf_counter() - start, time.process_time() - cpu
peak = int(re.search(r"VmHWM:\\s+(\\d+) kB", open("/proc/self/status").read()).group(1)) * 1024
print(json.dumps({"load_s": wall, "load_cpu_s": cpu, "load_rss": peak}))
"""


def load_into_memory(nnz: Path, threads: int) -> dict:
    """LOAD_CHILD on ``nnz``, after reading the file once through the page cache: a loader reads a
    file that is there (the restore before it read around the cache)."""
    with open(nnz, "rb") as f:
        while f.read(64 * MiB):
            pass
    out = subprocess.run([sys.executable, "-c", LOAD_CHILD, str(nnz), str(threads)], capture_output=True, text=True,
                         check=True)
    return json.loads(out.stdout)


def same_files(case: Case, restored: Path) -> bool:
    base = case.source if case.source.is_dir() else case.source.parent
    return all(filecmp.cmp(f, restored / f.relative_to(base), shallow=False) for f in case.files)


def measure(case: Case, work: Path, threads: int) -> dict:
    nnz = work / f"{case.name}.nnz"
    out = work / f"{case.name}-restored"
    shutil.rmtree(out, ignore_errors=True)
    nnz.unlink(missing_ok=True)  # replacing the last run's file would time its unlink (seconds for GBs)
    encode_s, encode_cpu, encode_rss = run_child(["encode", str(case.source), "-o", str(nnz), "-f", "-q", "--threads", str(threads)])
    target = out if case.source.is_dir() else out / case.source.name
    decode_s, decode_cpu, decode_rss = run_child(["decode", str(nnz), "-o", str(target), "-q", "--threads", str(threads)])
    result = {"encode_s": encode_s, "decode_s": decode_s, "encode_cpu_s": encode_cpu, "decode_cpu_s": decode_cpu,
              "encode_rss": encode_rss, "decode_rss": decode_rss,
              "nnz_bytes": nnz.stat().st_size, "identical": same_files(case, out)}
    shutil.rmtree(out, ignore_errors=True)
    result.update(load_into_memory(nnz, threads))
    return result


def peers(case: Case) -> dict:
    """safetensors' load time of the original, ZipNN's in-memory compression of each weight file."""
    import torch
    from safetensors.torch import load_file  # numpy has no bfloat16
    from zipnn import ZipNN

    shards = [f for f in case.files if f.suffix == ".safetensors"]
    start = time.perf_counter()
    for f in shards:  # mapped lazily: touch one byte of every page, as using the weights does
        for tensor in load_file(str(f)).values():
            tensor.reshape(-1).view(torch.uint8)[::4096].sum()
    load_s = time.perf_counter() - start if shards else None
    weights = [f for f in case.files if f.suffix in (".safetensors", ".onnx", ".pt", ".pth", ".bin", ".jit")]
    zipped = compress_s = decompress_s = 0.0
    codec = ZipNN(input_format="byte", bytearray_dtype=case.dtype, threads=1)
    for f in weights:
        data = f.read_bytes()
        start = time.perf_counter()
        packed = codec.compress(bytearray(data))
        compress_s += time.perf_counter() - start
        start = time.perf_counter()
        back = codec.decompress(packed)
        decompress_s += time.perf_counter() - start
        assert bytes(back) == data, f"ZipNN round trip of {f.name} differs"
        zipped += len(packed)
    rest = sum(f.stat().st_size for f in case.files if f not in weights)
    return {"load_s": load_s, "zipnn_bytes": int(zipped) + rest, "zipnn_compress_s": compress_s,
            "zipnn_decompress_s": decompress_s}


def disk_write_speed(folder: Path, size: int = GiB) -> float:
    """Bytes per second of writing ``size`` bytes into ``folder`` and fsyncing them (what decode
    and encode end with), for reading the wall times against."""
    path = folder / "disk-speed.tmp"
    block = os.urandom(16 * MiB)
    start = time.perf_counter()
    with open(path, "wb") as f:
        for _ in range(size // len(block)):
            f.write(block)
        f.flush()
        os.fsync(f.fileno())
    seconds = time.perf_counter() - start
    path.unlink()
    return size / seconds


TOUCH_CHILD = """
import sys, time, numpy as np
blocks, start = [], time.perf_counter()
for _ in range(int(sys.argv[1])):
    blocks.append(np.ones(1 << 30, np.uint8))
print(time.perf_counter() - start)
"""


def touch_free_memory() -> tuple[int, float]:
    """Touches the machine's free memory once (all but 1.5 GiB, in a child that then exits) and
    gives (bytes, seconds). A virtual machine's memory may be backed by its host only when first
    touched, at a cost per page far above a copy's: the page cache growing into such memory made
    writes run at a third of their speed, and made encode and decode timings depend on what ran
    before them. The seconds show the cost once (the first touch) for the record."""
    free = next(int(line.split()[1]) * 1024 for line in Path("/proc/meminfo").read_text().splitlines()
                if line.startswith("MemFree:"))
    gib = max(0, int((free - 1.5 * GiB) // GiB))
    out = subprocess.run([sys.executable, "-c", TOUCH_CHILD, str(gib)], capture_output=True, text=True, check=True)
    return gib * GiB, float(out.stdout)


def report(cases: list[Case], thread_counts: list[int], disk: float, touched: tuple[int, float]) -> None:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    print(f"machine: {cpu}, {os.cpu_count()} CPUs, {os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / GiB:.0f} GiB; "
          f"command: python bench/bench_scale.py {' '.join(sys.argv[1:])}; its disk writes {disk / 1e9:.2f} GB/s "
          f"(1 GiB, fsync); before timing, its free memory was touched once ({touched[0] / GiB:.0f} GiB in "
          f"{touched[1]:.1f} s: see touch_free_memory)")
    print()
    print("| case | size | largest tensor | threads | ratio | encode GB/s | decode GB/s | load GB/s | "
          "encode / decode / load CPU s | encode peak RSS | decode peak RSS | load peak RSS | "
          "bound (2 x largest + 256 MiB) | identical |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for c in cases:
        bound = 2 * c.largest_tensor + 256 * MiB
        for t in thread_counts:
            r = c.runs[t]
            print(f"| {c.name} | {c.total / GiB:.2f} GiB | {c.largest_tensor / MiB:.0f} MiB | {t} | "
                  f"{c.total / r['nnz_bytes']:.3f}x | {c.total / r['encode_s'] / 1e9:.2f} | {c.total / r['decode_s'] / 1e9:.2f} | "
                  f"{c.total / r['load_s'] / 1e9:.2f} | {r['encode_cpu_s']:.0f} / {r['decode_cpu_s']:.0f} / {r['load_cpu_s']:.0f} | "
                  f"{r['encode_rss'] / MiB:.0f} MiB | {r['decode_rss'] / MiB:.0f} MiB | {r['load_rss'] / MiB:.0f} MiB | "
                  f"{bound / MiB:.0f} MiB | {'yes' if r['identical'] else 'NO'} |")
    print()
    print("| case | nncodec 2-thread speed-up (encode / decode / load) | safetensors load | ZipNN ratio | "
          "ZipNN compress GB/s | ZipNN decompress GB/s |")
    print("|---|---:|---:|---:|---:|---:|")
    for c in cases:
        up = (" / ".join(f"{c.runs[1][k] / c.runs[2][k]:.2f}x" for k in ("encode_s", "decode_s", "load_s"))
              if 1 in c.runs and 2 in c.runs else "-")
        p = c.runs.get("peers")
        if p is None:  # --no-peers
            print(f"| {c.name} | {up} | - | - | - | - |")
            continue
        load = f"{c.total / p['load_s'] / 1e9:.2f} GB/s" if p["load_s"] else "-"
        print(f"| {c.name} | {up} | {load} | {c.total / p['zipnn_bytes']:.3f}x | "
              f"{c.total / p['zipnn_compress_s'] / 1e9:.2f} | {c.total / p['zipnn_decompress_s'] / 1e9:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-gib", type=float, default=8.0, help="size of the LLM-shaped checkpoint (default 8)")
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("NNCODEC_BENCH_CACHE",
                                                                          ROOT / "bench" / "results" / "scale")))
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--corpus", action="store_true", help="also every public-corpus file")
    parser.add_argument("--cases", nargs="+", default=["llm-bf16", "bert-folder"])
    parser.add_argument("--work", type=Path, default=None,
                        help="where the .nnz and restored files go (default: a folder in --cache); /dev/shm takes "
                             "the disk out of the timings")
    parser.add_argument("--no-peers", action="store_true", help="nncodec alone (no safetensors load, no ZipNN)")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    cases = [llm_case(args.cache, args.size_gib) if n == "llm-bf16" else bert_case(args.cache) for n in args.cases]
    if args.corpus:
        cases += corpus_cases()
    touched = touch_free_memory()
    work = Path(tempfile.mkdtemp(prefix="nncodec-scale-", dir=args.work or args.cache))
    try:
        for c in cases:
            for t in args.threads:
                c.runs[t] = measure(c, work, t)
                print(f"  {c.name}, {t} thread(s): {c.runs[t]}", file=sys.stderr)
            if not args.no_peers:
                c.runs["peers"] = peers(c)
        disk = disk_write_speed(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report(cases, args.threads, disk, touched)


if __name__ == "__main__":
    main()
