"""The ``nncodec`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__
from .api import decode_file, encode_file
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
    with _progress_bar(model.stat().st_size if model.is_file() else 0, "encode", args.quiet) as bar:
        out = encode_file(model, args.output, codec=args.codec, threads=args.threads, force=args.force,
                          progress=lambda name, array: bar.update(array.nbytes))
    if not args.quiet:
        before, after = model.stat().st_size, out.stat().st_size
        print(f"{model} -> {out}: {_human(before)} -> {_human(after)} ({before / max(after, 1):.3f}x)")
    return 0


def cmd_decode(args: argparse.Namespace) -> int:
    with NnzFile(args.file) as f:
        total = sum(t.decoded_bytes for t in f.tensors)
    with _progress_bar(total, "decode", args.quiet) as bar:
        out = decode_file(args.file, args.output, force=args.force, inline_external=args.inline_external,
                          threads=args.threads, progress=lambda info: bar.update(info.decoded_bytes))
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


def _print_prune_report(report) -> None:
    rows = report.layers
    name_w = min(40, max([5] + [len(r.name) for r in rows]))
    print(f"{'layer':<{name_w}}  {'shape':<16} {'removed':>8} {'|w| removed':>14} {'of |w|':>7}  detail")
    for r in rows:
        name = r.name if len(r.name) <= name_w else "…" + r.name[-(name_w - 1):]
        shape = "x".join(map(str, r.shape))
        share = r.removed_magnitude / r.magnitude if r.magnitude else 0.0
        d = r.detail
        if "rows_removed" in d:
            detail = (f"rows {d['rows_removed']}/{d['rows']}, cols {d['cols_removed']}/{d['cols']}; loss "
                      f"line-sums {d['loss_line_sums']:.4g}, conditional {d['loss_conditional']:.4g}, "
                      f"annealed {d['loss_anneal']:.4g}")
        elif "groups" in d:
            detail = f"{d['groups_removed']}/{d['groups']} {d['unit']}s"
        else:
            detail = ""
        print(f"{name:<{name_w}}  {shape:<16} {r.sparsity:>8.1%} {r.removed_magnitude:>14.6g} {share:>7.1%}  {detail}")
    total_mag = sum(r.magnitude for r in rows)
    removed_mag = sum(r.removed_magnitude for r in rows)
    share = removed_mag / total_mag if total_mag else 0.0
    print(f"total: {len(rows)} tensors pruned, {report.removed:,} of {report.params:,} parameters removed "
          f"({report.removed / max(report.params, 1):.1%}), removed magnitude {removed_mag:.6g} ({share:.1%}); "
          f"{len(report.skipped)} tensors left alone")


def cmd_prune(args: argparse.Namespace) -> int:
    from .prune import PruneOptions, prune_file

    options = PruneOptions(method=args.method, sparsity=args.sparsity, scope=args.scope,
                           anneal_iterations=args.anneal_iterations, seed=args.seed,
                           include=args.include, exclude=args.exclude)
    out, report = prune_file(args.model, args.output, options=options, force=args.force)
    if args.json:
        json.dump({"output": str(out), **report.as_dict()}, sys.stdout, indent=1)
        print()
    elif not args.quiet:
        _print_prune_report(report)
        print(f"{args.model} -> {out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nncodec", description="Compress neural-network model files into .nnz and back.")
    parser.add_argument("--version", action="version", version=f"nncodec {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("encode", help="compress a model file into .nnz",
                       description="Compress a model file (.onnx) into a .nnz file.")
    p.add_argument("model", help="model file to compress")
    p.add_argument("-o", "--output", help="output file (default: MODEL with suffix .nnz)")
    p.add_argument("--codec", choices=codec_names(), default="lossless",
                   help="lossless: exact, bit for bit (default); raw: stored as is")
    p.add_argument("--threads", type=int, default=None, help="worker threads (default: all CPUs)")
    p.add_argument("-f", "--force", action="store_true", help="overwrite an existing output")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=cmd_encode)

    p = sub.add_parser("decode", help="rebuild the model file from .nnz",
                       description="Rebuild the original model file from a .nnz file.")
    p.add_argument("file", help=".nnz file to decode")
    p.add_argument("-o", "--output", help="output model file (default: the original name, next to FILE)")
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

    p = sub.add_parser("prune", help="prune a model's weights into a new model file",
                       description="Set the least important weights of a model to zero (weights only, no "
                       "training) and write the pruned model in the same format. Only weight matrices and "
                       "convolution kernels are pruned (see docs/pruning.md).")
    p.add_argument("model", help="model file to prune")
    p.add_argument("-o", "--output", help="output model file (default: MODEL.pruned.SUFFIX)")
    p.add_argument("--method", choices=["magnitude", "norm", "rowcol"], default="magnitude",
                   help="magnitude: smallest |w| (default); norm: neurons / conv kernels of smallest norm; "
                   "rowcol: whole rows and columns of each matrix (2-approximation + simulated annealing)")
    p.add_argument("--sparsity", type=float, required=True, help="fraction of weights to remove, 0..1")
    p.add_argument("--scope", choices=["layer", "global"], default="layer",
                   help="layer: every tensor loses that fraction (default); global: over all tensors together")
    p.add_argument("--seed", type=int, default=0, help="seed of the simulated annealing (rowcol)")
    p.add_argument("--anneal-iterations", type=int, default=20000,
                   help="simulated annealing steps per tensor (rowcol; 0: approximation only)")
    p.add_argument("--include", metavar="REGEX", help="also prune tensors whose name matches")
    p.add_argument("--exclude", metavar="REGEX", help="never prune tensors whose name matches")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("-f", "--force", action="store_true", help="overwrite an existing output")
    p.add_argument("-q", "--quiet", action="store_true", help="no report")
    p.set_defaults(func=cmd_prune)
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
