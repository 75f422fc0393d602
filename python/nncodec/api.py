"""The Python API: encode_file, decode_file, load."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

from . import formats
from .atomic import refuse_existing, staged_output
from .errors import NnzError
from .formats import convert
from .model import ModelDocument
from .nnzfile import DEFAULT_MAX_TENSOR_BYTES, NnzFile, TensorInfo, default_threads, write_document
from .plan import EncodeOptions, check_params, is_lossy, lossy_allowed

PathLike = str | os.PathLike  # noqa: UP007


def default_encoded_path(model: Path) -> Path:
    return model.with_name(model.name + ".nnz") if model.suffix == ".nnz" else model.with_suffix(".nnz")


def encode_file(model: PathLike, output: PathLike | None = None, *, codec: str = "lossless",
                threads: int | None = None, force: bool = False,
                progress: Callable[[str, np.ndarray], None] | None = None,
                params: Mapping[str, Any] | None = None, target_cosine: float | None = None,
                inputs: PathLike | None = None, rounding: str = "nearest",
                status: Callable[[str], None] | None = None) -> Path:
    """Compress a model file into a .nnz file; returns the path written.

    The output defaults to the model's name with the suffix ``.nnz``. An existing output is
    only replaced with ``force=True``; the file appears atomically, complete or not at all.

    ``params`` are the codec's settings (eb: ``error`` or ``rel_error``; pl: p, pm, pd,
    positions, block) and the plan's (which tensors a lossy codec may touch: ``keep``, ``lossy``,
    ``min_lossy_elems``, ``protect``; the sparse layer: ``sparse``, "auto" or "off").
    ``target_cosine`` (ONNX models) picks an eb bound per tensor so that the decoded model's
    outputs keep that cosine similarity on the calibration ``inputs`` (an .npz of input arrays;
    without it, random inputs from the model's signature); the fidelity reached is recorded in
    the file's metadata. ``rounding`` for a fidelity target: "nearest" keeps every weight within
    its tensor's bound E; "calibrated" rounds the weights of Conv/MatMul/Gemm layers that the
    inputs cover (as many input vectors as weight columns, in the even runs it learns from) down
    or up onto eb's grid for those layers' outputs (each weight within 2E); the target must then
    also hold on the odd runs alone.
    ``status`` receives progress messages of that search.
    """
    model = Path(model)
    if not model.is_file():
        raise NnzError(f"{model}: no such file")
    out = Path(output) if output is not None else default_encoded_path(model)
    refuse_existing(out, force)
    params = dict(params or {})
    threads = threads or default_threads()
    if rounding not in ("calibrated", "nearest"):
        raise NnzError(f"rounding must be 'calibrated' or 'nearest', not {rounding!r}")
    if target_cosine is not None:
        codec = codec if is_lossy(codec) else "eb"
        if codec != "eb":
            raise NnzError(f"fidelity targets choose eb error bounds; codec {codec!r} is not supported")
        for key in ("error", "rel_error", "error_by_tensor"):
            params.pop(key, None)
    else:
        check_params(codec, params)
    options = EncodeOptions(codec=codec, params=params, threads=threads)
    doc = formats.detect(model).read(model)
    extra_meta: dict[str, Any] = {}
    if target_cosine is not None:
        doc, options, extra_meta["fidelity"] = _fidelity_plan(doc, options, target_cosine, inputs, rounding, status)
    elif is_lossy(codec):
        extra_meta["codec_params"] = {k: params[k] for k in ("error", "rel_error") if k in params}
    with staged_output(out.parent, force) as staging:
        write_document(staging.path(out.name), doc, options, source_name=model.name, progress=progress,
                       extra_meta=extra_meta)
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
    candidates = [n for n, a in doc.tensors.items() if lossy_allowed(n, a, options)]
    rounder = None
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
    plan = choose_error_bounds(doc.tensors, candidates, evaluator, target_cosine, threads=options.threads,
                               progress=status, rounding=rounder)
    plan.inputs = evaluator.inputs_description
    params = {**options.params, "error_by_tensor": plan.error_by_tensor}
    coded = ModelDocument(doc.format, {**doc.tensors, **plan.rounded}, doc.skeleton, doc.attrs)
    return coded, EncodeOptions(codec=options.codec, params=params, chunk_elems=options.chunk_elems,
                                threads=options.threads), plan.meta()


def decode_file(nnz: PathLike, output: PathLike | None = None, *, force: bool = False,
                inline_external: bool = False, threads: int | None = None,
                progress: Callable[[TensorInfo], None] | None = None, to: str | None = None) -> Path:
    """Rebuild the original model file from a .nnz file; returns the path of the model written.

    The output defaults to the original file name, next to the .nnz file. Files the model refers
    to (ONNX external data, safetensors shards) are written beside it, unless ``inline_external``
    puts ONNX external data inside. ``to`` ("safetensors", "npz", "onnx-initializers") writes
    the model's tensors in that format instead (default output: the .nnz name with its suffix).
    """
    nnz = Path(nnz)
    with NnzFile(nnz, threads=threads) as f:
        source_name = Path(str(f.meta.get("source", {}).get("name") or nnz.stem)).name
        if to is None:
            out = Path(output) if output is not None else nnz.with_name(source_name)
        else:
            out = Path(output) if output is not None else nnz.with_suffix(convert.suffix(to))
        refuse_existing(out, force)
        doc = f.document(progress)
    module = formats.by_name(doc.format)
    with staged_output(out.parent, force) as staging:
        if to is None:
            module.write(doc, out, staging, inline_external=inline_external)
        else:
            convert.write(to, doc, out, staging)
    return out


def load(path: PathLike, *, threads: int | None = None,
         max_tensor_bytes: int = DEFAULT_MAX_TENSOR_BYTES) -> NnzFile:
    """Open a .nnz file as a read-only mapping name -> numpy array.

    Only the index is read here; each tensor is read and decoded when accessed. Use
    ``dict(load(path))`` to decode everything at once.
    """
    return NnzFile(path, threads=threads, max_tensor_bytes=max_tensor_bytes)
