"""The ``nncodec`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .api import decode_file, encode_file
from . import formats
from .formats import convert
from .nnzfile import NnzFile, TensorInfo
from .plan import codec_names


def _progress_bar(total: int, desc: str, quiet: bool):
    from tqdm import tqdm

    # tqdm disables itself when stderr is not a terminal (disable=None).
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, file=sys.stderr, leave=False,
                disable=True if quiet else None)


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000
    return f"{n:.2f} GB"


def cmd_encode(args: argparse.Namespace) -> int:
    model = Path(args.model)
    before = formats.input_size(model) if model.is_file() else 0
    with _progress_bar(before, "encode", args.quiet) as bar:
        out = encode_file(model, args.output, codec=args.codec, threads=args.threads, force=args.force,
                          progress=lambda name, array: bar.update(array.nbytes))
    if not args.quiet:
        after = out.stat().st_size
        print(f"{model} -> {out}: {_human(before)} -> {_human(after)} ({before / max(after, 1):.3f}x)")
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    with NnzFile(args.file) as f:
        total = sum(t.decoded_bytes for t in f.tensors)
    with _progress_bar(total, "decode", args.quiet) as bar:
        out = decode_file(args.file, args.output, force=args.force, inline_external=args.inline_external,
                          threads=args.threads, progress=lambda info: bar.update(info.decoded_bytes), to=args.to)
    if not args.quiet:
        print(f"{args.file} -> {out}")
    return 0


def _info_rows(tensors: list[TensorInfo]) -> list[dict]:
    return [
        {
            "name": t.name,
            "dtype": t.dtype or "unknown",
            "shape": list(t.shape),
            "codec": t.codec,
            "original_bytes": t.decoded_bytes,
            "coded_bytes": t.coded_bytes,
            "ratio": t.decoded_bytes / t.coded_bytes if t.coded_bytes else None,
        }
        for t in tensors
    ]


def cmd_info(args: argparse.Namespace) -> int:
    with NnzFile(args.file) as f:
        if args.verify:
            f.verify()
        rows = _info_rows(f.tensors)
        total_orig = sum(r["original_bytes"] for r in rows)
        total_coded = sum(r["coded_bytes"] for r in rows)
        summary = {
            "file": str(f.path),
            "file_bytes": f.path.stat().st_size,
            "source": {k: v for k, v in f.meta.get("source", {}).items() if k != "attrs"},
            "encoder": f.meta.get("encoder"),
            "tensors": len(rows),
            "original_bytes": total_orig,
            "coded_bytes": total_coded,
            "ratio": total_orig / total_coded if total_coded else None,
        }
    if args.json:
        json.dump({"summary": summary, "tensors": rows}, sys.stdout, indent=1)
        print()
        return 0
    name_w = min(48, max([4] + [len(r["name"]) for r in rows]))
    print(f"{'name':<{name_w}}  {'dtype':<8} {'shape':<18} {'codec':<9} {'original':>12} {'coded':>12} {'ratio':>7}")
    for r in rows:
        name = r["name"] if len(r["name"]) <= name_w else "…" + r["name"][-(name_w - 1):]
        ratio = f"{r['ratio']:.3f}" if r["ratio"] else "-"
        shape = "x".join(map(str, r["shape"])) or "scalar"
        print(f"{name:<{name_w}}  {r['dtype']:<8} {shape:<18} {r['codec']:<9} "
              f"{r['original_bytes']:>12,} {r['coded_bytes']:>12,} {ratio:>7}")
    ratio = f"{summary['ratio']:.3f}x" if summary["ratio"] else "-"
    print(f"total: {len(rows)} tensors, {total_orig:,} -> {total_coded:,} bytes of tensor data ({ratio}); "
          f"file {summary['file_bytes']:,} bytes")
    if args.verify:
        print("checksums: all OK")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nncodec", description="Compress neural-network model files into .nnz and back.")
    parser.add_argument("--version", action="version", version=f"nncodec {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("encode", help="compress a model file into .nnz",
                       description="Compress a model file into a .nnz file: ONNX (.onnx), PyTorch (.pt, .pth, "
                       ".ckpt, .bin: torch.save zip or legacy; .jit: TorchScript), safetensors (.safetensors, "
                       "or a sharded checkpoint's .safetensors.index.json). PyTorch pickles are read without "
                       "torch and without running them: only tensors, containers and plain values are allowed.")
    p.add_argument("model", help="model file to compress")
    p.add_argument("-o", "--output", help="output file (default: MODEL with suffix .nnz)")
    p.add_argument("--codec", choices=codec_names(), default="lossless",
                   help="lossless: exact, bit for bit (default); raw: stored as is")
    p.add_argument("--threads", type=int, default=None, help="worker threads (default: all CPUs)")
    p.add_argument("-f", "--force", action="store_true", help="overwrite an existing output")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=cmd_encode)

    p = sub.add_parser("decode", help="rebuild the model file from .nnz",
                       description="Rebuild the original model file from a .nnz file, in its original format. "
                       "PyTorch and safetensors files come back as the very same bytes after lossless coding: "
                       "PyTorch files (torch.save zip or legacy "
                       "pre-1.6 format, TorchScript) come back in the format they had (a legacy file stays "
                       "legacy), loadable by torch.load(..., weights_only=True) or torch.jit.load; a sharded "
                       "safetensors checkpoint comes back as its index and shards.")
    p.add_argument("file", help=".nnz file to decode")
    p.add_argument("-o", "--output", help="output model file (default: the original name, next to FILE)")
    p.add_argument("--to", choices=list(convert.TARGETS), default=None,
                   help="write the model's tensors in this format instead (tensors only: no graph, code or "
                   "other values; npz widens bfloat16 to float32 exactly); default output: FILE with "
                   "that format's suffix")
    p.add_argument("--inline-external", action="store_true",
                   help="ONNX: put external-data tensors inside the model instead of beside it")
    p.add_argument("--threads", type=int, default=None, help="worker threads (default: all CPUs)")
    p.add_argument("-f", "--force", action="store_true", help="overwrite existing outputs")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=cmd_decode)

    p = sub.add_parser("info", help="list the tensors of a .nnz file",
                       description="List the tensors of a .nnz file with their codec and sizes.")
    p.add_argument("file", help=".nnz file")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--verify", action="store_true", help="also check every checksum")
    p.set_defaults(func=cmd_info)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if getattr(args, "threads", None) is not None and args.threads < 1:
        print("nncodec: error: --threads must be at least 1", file=sys.stderr)
        return 2
    try:
        return args.func(args)
    except KeyboardInterrupt:
        print("nncodec: interrupted", file=sys.stderr)
        return 130
    except (ValueError, OSError) as exc:  # NnzError is a ValueError
        print(f"nncodec: error: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
