"""The Python API: encode_file, decode_file, load."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from . import codecs, formats
from .atomic import check_free_space, check_member_name, refuse_existing, staged_output
from .codecs.coding import EncodeOptions, lossy_candidate
from .delta import DeltaPlan, read_base
from .errors import BaseMismatchError, NnzError, UnsafeInputError, UnsupportedError, about
from .formats import convert
from .limits import DEFAULT_LIMITS, Budget, Limits, check_threads
from .model import ModelDocument
from .nnzfile import MEMORY_FLAG, NnzFile, default_threads, write_document

PathLike = str | os.PathLike  # noqa: UP007


def default_encoded_path(model: Path) -> Path:
    """MODEL with the suffix .nnz (a folder, or a .nnz file: MODEL.nnz)."""
    return model.with_name(model.name + ".nnz") if model.is_dir() or model.suffix == ".nnz" else model.with_suffix(".nnz")


def encode_file(model: PathLike, output: PathLike | None = None, *, codec: str = "lossless",
                threads: int | None = None, force: bool = False,
                progress: Callable[[str, np.ndarray], None] | None = None,
                params: Mapping[str, Any] | None = None, target_cosine: float | None = None,
                inputs: PathLike | None = None, rounding: str = "nearest",
                status: Callable[[str], None] | None = None, limits: Limits | None = None,
                base: PathLike | None = None) -> Path:
    """Compress a model file into a .nnz file; returns the path written.

    The output defaults to the model's name with the suffix ``.nnz``. An existing output is
    only replaced with ``force=True``; the file appears atomically, complete or not at all.

    ``codec`` is an id of ``nncodec.codecs.ids()``. ``params`` are the codec's settings (its
    ``Settings``; eb: ``error`` or ``rel_error``; pl: p, pm, pd, positions, block) and the plan's
    (which tensors a lossy codec may touch: ``keep``, ``lossy``, ``min_lossy_elems``,
    ``protect``; the sparse layer: ``sparse``, "auto" or "off"), checked before any file is read.
    ``target_cosine`` (ONNX models) picks a bound per tensor (the codec's, or the first codec that
    has per-tensor bounds, eb, where the codec is not lossy) so that the decoded model's
    outputs keep that cosine similarity on the calibration ``inputs`` (an .npz of input arrays;
    without it, random inputs from the model's signature); the fidelity reached is recorded in
    the file's metadata. ``rounding`` for a fidelity target: "nearest" keeps every weight within
    its tensor's bound E; "calibrated" rounds the weights of Conv/MatMul/Gemm layers that the
    inputs cover (as many input vectors as weight columns, in the even runs it learns from) down
    or up onto eb's grid for those layers' outputs (each weight within 2E); the target must then
    also hold on the odd runs alone.
    ``status`` receives progress messages of that search. ``limits`` bound what the model file
    can make the readers spend (pickle opcodes and memory, JSON sizes; see nncodec.limits).
    ``base``: a model file, folder or .nnz file the model is coded against (fine-tunes, checkpoint
    series): tensors matching a base tensor by name, dtype and shape are coded as their difference
    from it, tensors equal to a base tensor (any name) as a reference; decoding then needs the base
    (``decode_file(..., base=)``), which is checked against fingerprints the file records.
    """
    model = Path(model)
    limits = limits or DEFAULT_LIMITS
    threads = check_threads(threads) or default_threads()
    if not model.is_file() and not model.is_dir():
        raise NnzError(f"{model}: no such file or folder")
    out = Path(output) if output is not None else default_encoded_path(model)
    refuse_existing(out, force)
    if rounding not in ("calibrated", "nearest"):
        raise NnzError(f"rounding must be 'calibrated' or 'nearest', not {rounding!r}")
    if target_cosine is not None:
        unit = codecs.get(codec)
        unit = unit if unit.lossy else codecs.first_bounded()
        if not unit.bounded:
            raise NnzError(f"fidelity targets choose an error bound per tensor; codec {codec!r} has none")
        options = EncodeOptions.from_params(unit.id, params, threads=threads)
    else:
        options = EncodeOptions.from_params(codec, params, threads=threads)
        options.unit.check_encodable(options.settings)
    delta = DeltaPlan(read_base(base, limits, threads)) if base is not None else None
    with about(model):
        doc = formats.detect(model).read(model, limits)
        hidden = doc.attrs.get("hidden") if doc.format == formats.folder_format.FORMAT else None
        if hidden and status:
            status(f"left out {len(hidden)} hidden file(s) ({', '.join(hidden[:3])}{', ...' if len(hidden) > 3 else ''}): "
                   "names starting with a dot are never restored (docs/SECURITY.md)")
        extra_meta: dict[str, Any] = {}
        if target_cosine is not None:
            doc, options, extra_meta["fidelity"] = _fidelity_plan(doc, options, target_cosine, inputs, rounding, status)
        with staged_output(out.parent, force, main=out.name) as staging:
            write_document(staging.path(out.name), doc, options, source_name=model.name, progress=progress,
                           extra_meta=extra_meta, delta=delta)
    return out


def _fidelity_plan(doc, options: EncodeOptions, target_cosine: float, inputs: PathLike | None, rounding: str,
                   status: Callable[[str], None] | None) -> tuple[ModelDocument, EncodeOptions, dict[str, Any]]:
    """The document to code (calibrated tensors in place), its eb options and the fidelity record."""
    from .calibrated import CalibratedRounding
    from .errors import UnsupportedError
    from .fidelity import OnnxEvaluator, choose_error_bounds

    if doc.format != "onnx":
        raise UnsupportedError("fidelity targets need a model nncodec can run: an ONNX model")
    evaluator = OnnxEvaluator(doc, inputs, threads=options.threads)
    if status and inputs is None:
        status(f"calibration inputs: {evaluator.inputs_description}")
    candidates = [n for n, a in doc.tensors.items() if lossy_candidate(n, a, options)]
    rounder = None
    if rounding == "calibrated" and options.codec != "eb":
        raise NnzError(f"calibrated rounding places weights on eb's grid; codec {options.codec} has none "
                       "(use --rounding nearest)")
    if rounding == "calibrated":
        # Learnt from every other run; the target must also hold on the other runs alone, so a
        # rounding that only suits the runs it learnt from misses it and the search backs off.
        if len(evaluator.runs) < 2:
            raise NnzError("calibrated rounding needs at least 2 calibration runs (it learns from every other "
                           "run, and the target must also hold on the runs it did not learn from)")
        rounder = CalibratedRounding(evaluator.layer_inputs(candidates, evaluator.learning_runs()))
        evaluator.judge_unlearnt_apart()
        if status:
            status(f"calibrated rounding: {len(rounder.layers)} of {len(candidates)} lossy tensors are layer "
                   "weights with enough calibration input (as many vectors as columns, in every other run); "
                   "the others round to nearest")
    plan = choose_error_bounds(doc.tensors, candidates, evaluator, target_cosine, options=options, progress=status,
                               rounding=rounder)
    plan.inputs = evaluator.inputs_description
    coded = replace(doc, tensors={**doc.tensors, **plan.rounded})
    return coded, replace(options, settings=options.unit.with_bounds(options.settings, plan.error_by_tensor)), plan.meta()


def _limits(limits: Limits | None, max_total_bytes: int | None) -> Limits:
    limits = limits or DEFAULT_LIMITS
    return limits if max_total_bytes is None else replace(limits, max_memory=max_total_bytes)


def _stored_name(f: NnzFile, nnz: Path) -> str:
    """The model file name recorded at encoding (the default output), checked: it comes from the file."""
    name = f.meta.get("source", {}).get("name") or nnz.stem
    try:
        if "/" in check_member_name(name, "stored model file name"):
            raise UnsafeInputError(f"the stored model file name {name!r} is not a plain file name")
    except UnsafeInputError as exc:
        raise UnsafeInputError(f"{exc}; give the output's name with -o") from None
    return name


def _decoded_path(f: NnzFile, nnz: Path, output: PathLike | None, to: str | None) -> Path:
    if to is None and not f.holds_model:
        raise UnsupportedError("it holds tensors only, no model to rebuild: decode it --to safetensors, npz or "
                               "onnx-initializers")
    if output is not None:
        return Path(output)
    if to is not None:
        return nnz.with_suffix(convert.suffix(to))
    return nnz.with_name(_stored_name(f, nnz))


def decode_file(nnz: PathLike, output: PathLike | None = None, *, force: bool = False,
                inline_external: bool = False, threads: int | None = None,
                progress: Callable[[int], None] | None = None, to: str | None = None,
                max_total_bytes: int | None = None, limits: Limits | None = None,
                base: PathLike | None = None) -> Path:
    """Rebuild the original model file from a .nnz file; returns the path of the model written.

    The output defaults to the original file name, next to the .nnz file. Files the model refers
    to (ONNX external data, safetensors shards) are written beside it, unless ``inline_external``
    puts ONNX external data inside; their names come from the file and must be plain relative
    names inside the output's folder (docs/SECURITY.md). ``to`` ("safetensors", "npz",
    "onnx-initializers") writes the model's tensors in that format instead (default output: the
    .nnz name with its suffix); files holding tensors only can be decoded this way.
    ``max_total_bytes`` caps the memory the decoded model may take (default: the machine's).
    ``progress`` is told the bytes produced as decoding goes (of the model's files when they are
    restored, of the decoded tensors for ``to``).
    ``base``: the base model of a file coded against one (a model file, folder or .nnz file); it
    is checked before anything is written, and a missing or wrong base is a BaseMismatchError.
    """
    nnz = Path(nnz)
    limits = _limits(limits, max_total_bytes)
    check_threads(threads)
    if to is not None:
        convert.suffix(to)
    with about(nnz), NnzFile(nnz, threads=threads, limits=limits) as f:
        if f.needs_base and base is None:
            raise BaseMismatchError(f"coded against the base model {f.base_name!r}: give it to decode "
                                    "(--base, base=)")
        out = _decoded_path(f, nnz, output, to)
        folder = to is None and f.meta.get("source", {}).get("format") == formats.folder_format.FORMAT
    if not folder:  # a model folder is restored into a folder, which may exist
        refuse_existing(out, force)
    with about(nnz):
        with NnzFile(nnz, threads=threads, limits=limits, base=base) as f:
            budget = Budget(limits.memory, "memory budget", MEMORY_FLAG)
            if to is None and f.has_files:
                _restore(f, out, force, inline_external, limits, budget, progress)
                return out
            doc = f.document(progress and (lambda info: progress(info.decoded_bytes)), budget)
        with staged_output(out.parent, force, main=out.name) as staging:
            if to is None:
                formats.by_name(doc.format).write(doc, out, staging, inline_external=inline_external, limits=limits)
            else:
                convert.write(to, doc, out, staging, budget, limits)
    return out


RESTORE_BATCH_BYTES = 64 << 20


def _restore(f: NnzFile, out: Path, force: bool, inline_external: bool, limits: Limits, budget: Budget,
             progress: Callable[[int], None] | None) -> None:
    """The model's files restored by the core: the first under ``out``, the others (external data,
    shards) beside it under their stored names, with about one tensor in memory at a time."""
    files = f.files()
    names = [name for name, _ in files]
    largest = max((t.decoded_bytes for t in f.tensors), default=0)
    budget.take(max(largest, min(RESTORE_BATCH_BYTES, sum(t.decoded_bytes for t in f.tensors))),
                "restoring the model's files")
    module = formats.by_name(f.meta["source"]["format"])
    # A model file goes to ``out`` (its external data or shards beside it); a folder's files into ``out``.
    dest, main = (out, None) if module is formats.folder_format else (out.parent, out.name)
    check_free_space(dest, sum(size for _, size in files))
    with staged_output(dest, force, main=main) as staging:
        paths = [staging.path(main or names[0])] + [staging.path(name) for name in names[1:]]
        f.restore_into(staging.directory, main or "", RESTORE_BATCH_BYTES, progress)
        module.check_restored(list(zip(names, paths)), limits, f.meta["source"].get("attrs"))
        inline = getattr(module, "inline_external_data", None)
        if inline_external and inline:
            inline(paths)


def load(path: PathLike, *, threads: int | None = None, max_tensor_bytes: int | None = None,
         max_total_bytes: int | None = None, limits: Limits | None = None, base=None) -> NnzFile:
    """Open a .nnz file as a read-only mapping name -> numpy array.

    Only the index is read here; each tensor is read and decoded when accessed. Use
    ``dict(load(path))`` to decode everything at once. ``max_tensor_bytes`` and
    ``max_total_bytes`` (what ``read_all`` may allocate) bound what the file can make this spend.
    ``base``: the base model of a file coded against one (a model file, folder, .nnz file or a
    mapping of arrays), checked against the file's fingerprints here.
    """
    with about(path):
        return NnzFile(path, threads=threads, max_tensor_bytes=max_tensor_bytes,
                       limits=_limits(limits, max_total_bytes), base=base)
