"""The ``nncodec`` command line."""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from . import __version__, codecs, formats
from .api import decode_file, encode_file
from .display import fit, name_width, printable
from .errors import NnzError, about
from .formats import convert
from .limits import MAX_THREADS, Limits
from .nnzfile import NnzFile, TensorInfo

MAX_MESSAGE = 2000  # characters of an error message shown (a file may make one huge)


def _thread_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= MAX_THREADS:
        raise argparse.ArgumentTypeError(f"must be from 1 to {MAX_THREADS}")
    return value


_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?)i?b?", re.IGNORECASE)


def _byte_size(text: str) -> int:
    """A size such as 512M, 8G or 1073741824 (binary units)."""
    match = _SIZE.fullmatch(text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (say 512M or 8G)")
    value = int(float(match.group(1)) * 1024 ** " kmgt".index(match.group(2).lower() or " "))
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1 byte")
    return value


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be 0 or more")
    return value


def _progress_bar(total: int, desc: str, quiet: bool):
    from tqdm import tqdm

    tqdm.monitor_interval = 0  # no monitor thread: batch forks its workers from a one-thread process
    # tqdm disables itself when stderr is not a terminal (disable=None).
    return tqdm(total=total, desc=desc, unit="B", unit_scale=True, file=sys.stderr, leave=False,
                disable=True if quiet else None)


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if abs(n) < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1000
    return f"{n:.2f} GB"


def _plan_params(args: argparse.Namespace) -> dict:
    """The plan's parameters from the encode options (protection rule, sparse layer)."""
    params: dict = {"keep": args.keep, "lossy": args.lossy, "protect": not args.no_protect, "sparse": args.sparse}
    if args.min_lossy_size is not None:
        params["min_lossy_elems"] = args.min_lossy_size
    return params


def _given_codec_params(args: argparse.Namespace) -> dict[str, dict]:
    """Codec id -> the settings of that codec given on the command line (codecs given none left out)."""
    return {codec.id: given for codec in codecs.registered() if (given := codec.params_from_args(args))}


class _UsageError(Exception):
    """Options that do not go together: status 2, as argparse's own usage errors."""


def _chosen_codec(args: argparse.Namespace, given: dict[str, dict]) -> str:
    """--codec, or the codec whose settings were given; a usage error on settings of another codec."""
    if len(given) > 1 and args.codec is None:
        raise _UsageError(f"settings of several codecs given ({', '.join(given)}): choose one with --codec")
    codec = args.codec or next(iter(given), "lossless")
    for other in given:
        if other != codec:
            raise _UsageError(f"the {other} settings given ({', '.join(sorted(given[other]))}) "
                              f"apply to --codec {other}")
    return codec


def cmd_encode(args: argparse.Namespace) -> int:
    model = Path(args.model)
    for given, flag in ((args.inputs, "--inputs"), (args.rounding, "--rounding")):
        if given is not None and args.target_cosine is None:
            raise NnzError(f"{flag} is used with --target-cosine")
    given = _given_codec_params(args)
    codec = _chosen_codec(args, given)
    status = None if args.quiet else (lambda message: print(f"nncodec: {message}", file=sys.stderr))
    before = formats.input_size(model) if model.exists() else 0
    with _progress_bar(before, "encode", args.quiet) as bar:
        out = encode_file(model, args.output, codec=codec, threads=args.threads, force=args.force,
                          progress=lambda name, array: bar.update(array.nbytes),
                          params={**_plan_params(args), **given.get(codec, {})},
                          target_cosine=args.target_cosine, inputs=args.inputs, rounding=args.rounding or "nearest",
                          status=status, base=args.base)
    if not args.quiet:
        after = out.stat().st_size
        print(f"{model} -> {out}: {_human(before)} -> {_human(after)} ({before / max(after, 1):.3f}x)")
        if args.target_cosine is not None:
            with NnzFile(out) as f:
                print(_fidelity_line(f.meta.get("fidelity")))
    return 0


def _fidelity_line(fidelity) -> str:
    from .fidelity import groups_judged_apart

    if not isinstance(fidelity, dict):
        return "fidelity: not recorded"
    line = (f"fidelity: output cosine {fidelity.get('achieved', float('nan')):.6f} "
            f"(target {fidelity.get('target', float('nan'))}) on {fidelity.get('inputs', '?')}")
    per_output = fidelity.get("per_output")
    for group, cosine in (groups_judged_apart(per_output) if isinstance(per_output, dict) else {}).items():
        line += f"; {cosine:.6f} on {group}"
    if isinstance(fidelity.get("codec"), str) and isinstance(fidelity.get("lossy_tensors"), int):
        line += f"; bounds chosen for {fidelity['lossy_tensors']} tensor(s) of codec {fidelity['codec']}"
    calibrated = fidelity.get("calibrated_tensors")
    if isinstance(calibrated, list) and calibrated:
        line += f"; calibrated rounding of {len(calibrated)} tensor(s), each weight within 2E"
    return line


def cmd_decode(args: argparse.Namespace) -> int:
    with about(args.file), NnzFile(args.file) as f:  # the bytes the progress bar counts
        if f.needs_base and args.base is None:
            raise NnzError(f"{args.file}: coded against the base model {printable(f.base_name or '?')!r}: "
                           "give it with --base")
        restores = f.has_files and args.to is None
        listed = restores and not f.files_need_base  # else the files are listed once the base is read
        total = sum(size for _, size in f.files()) if listed else sum(t.decoded_bytes for t in f.tensors)
    with _progress_bar(total, "decode", args.quiet) as bar:
        out = decode_file(args.file, args.output, force=args.force, inline_external=args.inline_external,
                          threads=args.threads, progress=bar.update, to=args.to,
                          max_total_bytes=args.max_memory, base=args.base)
    if not args.quiet:
        print(f"{printable(args.file)} -> {printable(str(out))}")
    return 0


def _info_rows(tensors: list[TensorInfo], calibrated: set[str]) -> list[dict]:
    """One row per tensor; ``max_error`` is against the original weights: for tensors placed on the
    grid by calibrated rounding (``calibrated``), twice the eb bound the codec keeps."""
    rows = [
        {
            "name": t.name,
            "dtype": t.dtype or "unknown",
            "shape": list(t.shape),
            "codec": t.codec,
            "original_bytes": t.decoded_bytes,
            "coded_bytes": t.coded_bytes,
            "ratio": t.decoded_bytes / t.coded_bytes if t.coded_bytes else None,
            **codecs.describe(t.codec, t.params),
        }
        for t in tensors
    ]
    for row in rows:
        if row["name"] in calibrated and "max_error" in row:
            row["max_error"] *= 2
            row["rounding"] = "calibrated"
    return rows


def _max_error(row: dict) -> str:
    if "max_error" not in row:
        return "?"
    return "0" if row["max_error"] == 0 else f"{row['max_error']:.2e}"


def _rmse(row: dict) -> str:
    """The RMSE of codecs that bound it (dq), else what the largest error says of it."""
    if "rmse" in row:
        return f"{row['rmse']:.2e}"
    return "0" if row.get("max_error") == 0 else "-"


def cmd_info(args: argparse.Namespace) -> int:
    with about(args.file), NnzFile(args.file) as f:
        if args.verify:
            f.verify()
        fidelity = f.meta.get("fidelity")
        calibrated = fidelity.get("calibrated_tensors") if isinstance(fidelity, dict) else None
        rows = _info_rows(f.tensors, set(calibrated) if isinstance(calibrated, list) else set())
        total_orig = sum(r["original_bytes"] for r in rows)
        total_coded = sum(r["coded_bytes"] for r in rows)
        summary = {
            "file": str(f.path),
            "file_bytes": f.path.stat().st_size,
            "source": {k: v for k, v in f.meta.get("source", {}).items() if k != "attrs"},
            "encoder": f.meta.get("encoder"),
            **{key: f.meta[key] for key in ("codec", "codec_params", "plan") if key in f.meta},
            "tensors": len(rows),
            "original_bytes": total_orig,
            "coded_bytes": total_coded,
            "ratio": total_orig / total_coded if total_coded else None,
            "fidelity": f.meta.get("fidelity"),
            "base": {"name": f.base_name, "tensors": len(f.base_tensors)} if f.needs_base else None,
        }
        files = [{"name": name, "bytes": size} for name, size in f.files()] if f.has_files and not f.files_need_base else []
    if args.json:
        json.dump({"summary": summary, "tensors": rows, "files": files}, sys.stdout, indent=1)
        print()
        return 0
    _print_info(summary, rows, files)
    if args.verify:
        print("checksums: all OK")
    return 0


def _print_info(summary: dict, rows: list[dict], files: list[dict]) -> None:
    """The tensor table, its totals and the model's files, escaped (names come from the file)."""
    total_orig, total_coded = summary["original_bytes"], summary["coded_bytes"]
    name_w = name_width([r["name"] for r in rows], 48, "name")
    codec_w = max(9, name_width([r["codec"] for r in rows], 24, "codec"))
    print(f"{'name':<{name_w}}  {'dtype':<8} {'shape':<18} {'codec':<{codec_w}} {'original':>12} {'coded':>12} "
          f"{'ratio':>7} {'max err':>9} {'rmse':>9}")
    for r in rows:
        name = fit(r["name"], name_w)
        ratio = f"{r['ratio']:.3f}" if r["ratio"] else "-"
        shape = "x".join(map(str, r["shape"])) or "scalar"
        print(f"{name:<{name_w}}  {r['dtype']:<8} {shape:<18} {fit(r['codec'], codec_w):<{codec_w}} "
              f"{r['original_bytes']:>12,} {r['coded_bytes']:>12,} {ratio:>7} {_max_error(r):>9} {_rmse(r):>9}")
    ratio = f"{summary['ratio']:.3f}x" if summary["ratio"] else "-"
    print(f"total: {len(rows)} tensors, {total_orig:,} -> {total_coded:,} bytes of tensor data ({ratio}); "
          f"file {summary['file_bytes']:,} bytes")
    if summary["fidelity"] is not None:
        print(printable(_fidelity_line(summary["fidelity"])))
    if summary["base"] is not None:
        print(f"base: coded against {printable(summary['base']['name'] or '?')!r} ({summary['base']['tensors']} base "
              "tensors, each checked by name, dtype, shape and XXH64): decode with --base")
    if files:
        print(f"files: {len(files)}, {sum(f['bytes'] for f in files):,} bytes restored")
        for entry in files:
            print(f"  {entry['bytes']:>14,}  {printable(entry['name'])}")


def cmd_compare(args: argparse.Namespace) -> int:
    from .tools.compare import MEASURED, compare_file, format_table, plot

    model = Path(args.model)
    with _progress_bar(model.stat().st_size if model.is_file() else 0, "compare", args.json) as bar:
        result = compare_file(model, MEASURED.params_from_args(args), threads=args.threads or 1,
                              progress=lambda name, array: bar.update(array.nbytes))
    if args.plot:
        plot(result, args.plot)
    if args.json:
        json.dump(result.to_json(), sys.stdout, indent=1)
        print()
    else:
        print(format_table(result))
        if args.plot:
            print(f"plot: {args.plot}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from .tools.verify import parse_shape, verify

    shapes = dict(parse_shape(s) for s in args.shape or [])
    report = verify(args.original, args.decoded, args.inputs, samples=args.samples, seed=args.seed, shapes=shapes)
    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=1)
        print()
    else:
        print(report.format())
    if args.min_cosine is not None and report.min_cosine < args.min_cosine:
        print(f"nncodec: cosine {report.min_cosine:.8f} is below {args.min_cosine}", file=sys.stderr)
        return 1
    return 0


def _print_prune_report(report) -> None:
    rows = report.layers
    name_w = name_width([r.name for r in rows], 40, "layer")
    print(f"{'layer':<{name_w}}  {'shape':<16} {'removed':>8} {'|w| removed':>14} {'of |w|':>7}  detail")
    for r in rows:
        name = fit(r.name, name_w)
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
    from .tools.prune import PruneOptions, prune_file

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


def _add_codec_options(p) -> None:
    """--codec, each codec's settings (Codec.add_cli_args) and the plan's: encode's and batch's."""
    p.add_argument("--codec", choices=codecs.ids(), default=None,
                   help="; ".join(f"{c.id}: {c.summary}" for c in codecs.registered()))
    for codec in codecs.registered():
        codec.add_cli_args(p)
    g = p.add_argument_group("lossy coding: which tensors")
    g.add_argument("--keep", action="append", default=[], metavar="GLOB",
                   help="tensors matching GLOB stay lossless (repeatable)")
    g.add_argument("--lossy", action="append", default=[], metavar="GLOB",
                   help="float tensors matching GLOB are coded lossily even if protected (repeatable)")
    g.add_argument("--min-lossy-size", type=_non_negative, default=None, metavar="N",
                   help="smallest tensor (elements) a lossy codec touches (default 1024)")
    g.add_argument("--no-protect", action="store_true",
                   help="no default protection: biases, normalisation and small float tensors become lossy too")
    p.add_argument("--sparse", choices=("auto", "off"), default="auto",
                   help="code tensors with many exact zeros as positions + values when smaller (default auto)")


def _add_encode(sub) -> None:
    """The encode command: codec settings from each codec (Codec.add_cli_args), the plan's and a fidelity target's."""
    p = sub.add_parser("encode", help="compress a model file into .nnz",
                       description="Compress a model file into a .nnz file: ONNX (.onnx), PyTorch (.pt, .pth, "
                       ".ckpt, .bin: torch.save zip or legacy; .jit: TorchScript), safetensors (.safetensors, "
                       "or a sharded checkpoint's .safetensors.index.json). PyTorch pickles are read without "
                       "torch and without running them: only tensors, containers and plain values are allowed.")
    p.add_argument("model", help="model file to compress")
    p.add_argument("-o", "--output", help="output file (default: MODEL with suffix .nnz)")
    _add_codec_options(p)
    g = p.add_argument_group("fidelity targets (see docs/error-bounded.md)")
    g.add_argument("--target-cosine", type=float, default=None, metavar="C",
                   help="ONNX: choose the error bound of each tensor so that the decoded model's outputs "
                        "keep cosine similarity >= C (say 0.9995) on the calibration inputs; the bounds are "
                        "eb's (max error) or, with --codec dq, dq's (RMSE)")
    g.add_argument("--inputs", default=None, metavar="NPZ",
                   help="calibration inputs for --target-cosine: arrays named after the model inputs "
                        "(NAME, or NAME#i for run i); default: random inputs from the input signature")
    g.add_argument("--rounding", choices=("nearest", "calibrated"), default=None,
                   help="with --target-cosine: 'nearest' (default) keeps every weight within its tensor's bound E; "
                        "'calibrated' rounds the weights of Conv/MatMul/Gemm layers the inputs cover down or up for "
                        "the layer's outputs (within 2E); it learns from every other run and needs at least 2")
    p.add_argument("--base", default=None, metavar="BASE",
                   help="code the model against a base model (a model file, folder or .nnz): tensors matching "
                        "a base tensor by name, dtype and shape as their difference, equal ones as a reference; "
                        "decoding then needs --base BASE")
    p.add_argument("--threads", type=_thread_count, default=None, help="worker threads (default: all CPUs)")
    p.add_argument("-f", "--force", action="store_true", help="overwrite an existing output")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=cmd_encode)


def _add_decode(sub) -> None:
    """The decode command."""
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
    p.add_argument("--base", default=None, metavar="BASE",
                   help="the base model FILE was coded against (a model file, folder or .nnz; a .nnz base's own "
                        "base is found beside it by the name it records); checked before anything is written")
    p.add_argument("--inline-external", action="store_true",
                   help="ONNX: put external-data tensors inside the model instead of beside it")
    p.add_argument("--max-memory", type=_byte_size, default=None, metavar="SIZE",
                   help="refuse files whose decoded model needs more memory than this, say 8G "
                        f"(default: this machine's memory, {_byte_text(Limits().memory)})")
    p.add_argument("--threads", type=_thread_count, default=None, help="worker threads (default: all CPUs)")
    p.add_argument("-f", "--force", action="store_true",
                   help="overwrite existing outputs (only the model's own files, never through a symlink)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=cmd_decode)


def _add_info(sub) -> None:
    """The info command."""
    p = sub.add_parser("info", help="list the tensors of a .nnz file",
                       description="List the tensors of a .nnz file with their codec and sizes.")
    p.add_argument("file", help=".nnz file")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--verify", action="store_true", help="also check every checksum")
    p.set_defaults(func=cmd_info)


def _add_compare(sub) -> None:
    """The compare command (tools/compare.py)."""
    p = sub.add_parser("compare", help="sizes of a model's tensors in dense, CSR, CER, CSER, lossless and PL",
                       description="Size of every tensor of a model as dense, CSR (32-bit and minimal-width "
                                   "indices), CER, CSER, nncodec lossless and PL, with totals and ratios.")
    p.add_argument("model", help="model file")
    from .tools.compare import MEASURED

    MEASURED.add_cli_args(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("--plot", metavar="FILE.png", help="also draw the ratio per tensor (needs matplotlib)")
    p.add_argument("--threads", type=_thread_count, default=None, help="worker threads per tensor (default: 1)")
    p.set_defaults(func=cmd_compare)


def _add_verify(sub) -> None:
    """The verify command (tools/verify.py)."""
    p = sub.add_parser("verify", help="compare the outputs of two ONNX models (onnxruntime)",
                       description="Run both ONNX models on the same inputs and report, per output, relative L2 "
                                   "error, cosine similarity and top-1 agreement. DECODED may be a .nnz file.")
    p.add_argument("original", help="the original .onnx model")
    p.add_argument("decoded", help="the decoded .onnx model (or the .nnz file)")
    p.add_argument("--inputs", metavar="FILE.npz",
                   help="input arrays named after the model inputs: NAME, or NAME#i for run i, as for "
                        "encode --inputs (default: generated)")
    p.add_argument("--samples", type=int, default=4, help="generated input samples (default: 4)")
    p.add_argument("--seed", type=int, default=0, help="seed of the generated inputs")
    p.add_argument("--shape", action="append", metavar="NAME=DxD..",
                   help="size of a generated input with unknown dimensions (repeatable)")
    p.add_argument("--min-cosine", type=float, default=None, help="exit 1 if any output's cosine is below this")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_verify)


def _add_prune(sub) -> None:
    """The prune command (tools/prune.py)."""
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


def cmd_batch(args: argparse.Namespace) -> int:
    from .batch import BatchSettings, restore_batch, run_batch

    given = _given_codec_params(args)
    codec = _chosen_codec(args, given)
    settings = BatchSettings(executor=args.executor, workers=args.workers, threads=args.threads or 1,
                             address=args.address, codec=codec, params={**_plan_params(args), **given.get(codec, {})},
                             auto_bases=not args.no_auto_base, base_map=Path(args.base_map) if args.base_map else None)
    say = (lambda message: None) if args.quiet else (lambda message: print(f"nncodec: {message}", file=sys.stderr))
    if args.restore:
        with _progress_bar(None, "restore", args.quiet) as bar:
            restored = restore_batch(Path(args.src), Path(args.dst), settings, force=args.force,
                                     progress=lambda n, total: _advance(bar, n, total))
        say(f"restored {len(restored)} model(s) into {printable(args.dst)}, every file checked against the manifest")
        return 0
    with _progress_bar(None, "batch", args.quiet) as bar:
        report = run_batch(Path(args.src), Path(args.dst), settings, progress=lambda n, total: _advance(bar, n, total),
                           status=None if args.quiet else say)
    coded_in = sum(r.source_bytes for r in report.coded)
    coded_out = sum(r.output_bytes for r in report.coded)
    say(f"coded {len(report.coded)} model(s) ({sum(1 for r in report.coded if r.base)} against a base), "
        f"{_human(coded_in)} -> {_human(coded_out)}; {len(report.skipped)} up to date; "
        f"{len(report.not_models)} file(s) not a model")
    for rel, message in report.failed:
        _error(f"{rel}: {message}")
    return 1 if report.failed else 0


def _advance(bar, n: int, total: int) -> None:
    bar.total = total
    bar.update(n)


def _add_batch(sub) -> None:
    """The batch command (nncodec/batch)."""
    p = sub.add_parser("batch", help="compress a whole collection of models (local processes or Ray)",
                       description="Code every model under SRC (model files and model folders, found in the folder "
                       "tree or listed one per line in a list file) into DST: one container per model (DST/PATH.nnz) "
                       "and DST/manifest.jsonl, one row per model. Identical tensors across the collection are "
                       "stored once and fine-tunes are coded against the closest earlier model (automatic bases). "
                       "Each container is decoded and compared with its source before its row is written; a rerun "
                       "skips the models whose row matches their source. With --restore: nncodec batch --restore "
                       "DST OUT restores every model, bases first, byte for byte.")
    p.add_argument("src", metavar="SRC", help="collection: a folder tree or a list file (with --restore: DST)")
    p.add_argument("dst", metavar="DST", help="destination folder (with --restore: OUT)")
    p.add_argument("--restore", action="store_true", help="restore the models of the batch SRC into the folder DST")
    p.add_argument("--executor", choices=("local", "ray"), default="local",
                   help="local: a process pool on this machine (default); ray: one Ray task per model")
    p.add_argument("--address", default=None,
                   help="Ray cluster to connect to (say auto); default: start a local one")
    p.add_argument("--workers", type=_thread_count, default=1, help="models coded at once (default 1)")
    p.add_argument("--threads", type=_thread_count, default=None, help="threads per worker (default 1)")
    _add_codec_options(p)
    p.add_argument("--base-map", metavar="FILE.json", default=None,
                   help="bases given: a JSON object, model path -> base model path or null (paths under SRC)")
    p.add_argument("--no-auto-base", action="store_true",
                   help="no automatic bases: each model is coded alone (or against its --base-map base)")
    p.add_argument("-f", "--force", action="store_true", help="with --restore: overwrite existing models")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(func=cmd_batch)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nncodec", description="Compress neural-network model files into .nnz and back.")
    parser.add_argument("--version", action="version", version=f"nncodec {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_encode, _add_decode, _add_info, _add_compare, _add_verify, _add_prune, _add_batch):
        add(sub)
    return parser


def _byte_text(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


def _error(message: str, kind: str = "error") -> None:
    print(f"nncodec: {kind}: {printable(message)[:MAX_MESSAGE]}", file=sys.stderr)


class _Terminated(Exception):
    """SIGTERM or SIGHUP: unwinds like Ctrl-C, so that staging folders are removed."""


def _terminate(signum, frame) -> None:
    raise _Terminated(signal.Signals(signum).name)


def _run(args: argparse.Namespace) -> int:
    try:
        status = args.func(args)
        sys.stdout.flush()  # a full disk or closed pipe is an error, not a lost listing
        return status
    except _UsageError as exc:
        _error(str(exc))
        return 2
    except (KeyboardInterrupt, _Terminated) as exc:
        _error(f"interrupted ({exc or 'SIGINT'})")
        return 130
    except OSError as exc:
        if isinstance(exc, NnzError):  # an existing output (OutputExistsError): its message says which
            _error(str(exc))
        else:
            _error(str(exc) if exc.filename else f"{exc.strerror or exc} (writing the output)")
        return 1
    except (NnzError, MemoryError, RecursionError) as exc:
        _error(str(exc) if isinstance(exc, NnzError) else f"out of memory or nested too deeply ({type(exc).__name__})")
        return 1
    except ValueError as exc:  # argument checks of the library
        _error(str(exc))
        return 1
    except Exception as exc:  # a bug in nncodec: one line (NNCODEC_TRACEBACK=1 shows where)
        if os.environ.get("NNCODEC_TRACEBACK") == "1":
            raise
        _error(f"{type(exc).__name__}: {exc} (please report this)", "internal error")
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    for signum in (signal.SIGTERM, signal.SIGHUP):
        try:
            signal.signal(signum, _terminate)
        except ValueError:  # not the main thread (main() called by a program): its handlers stay
            break
    status = _run(args)
    try:
        sys.stdout.flush()
    except OSError:  # already reported; keep the interpreter's last flush from reporting it again
        status = status or 1
        try:
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except (OSError, ValueError, AttributeError):
            pass
    return status


if __name__ == "__main__":
    sys.exit(main())
