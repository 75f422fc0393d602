"""The Python API: encode_file, decode_file, load."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import formats
from .atomic import refuse_existing, staged_output
from .errors import NnzError
from .formats import convert
from .nnzfile import DEFAULT_MAX_TENSOR_BYTES, NnzFile, TensorInfo, default_threads, write_document
from .plan import EncodeOptions

PathLike = str | os.PathLike  # noqa: UP007


def default_encoded_path(model: Path) -> Path:
    return model.with_name(model.name + ".nnz") if model.suffix == ".nnz" else model.with_suffix(".nnz")


def encode_file(model: PathLike, output: PathLike | None = None, *, codec: str = "lossless",
                threads: int | None = None, force: bool = False,
                progress: Callable[[str, np.ndarray], None] | None = None) -> Path:
    """Compress a model file into a .nnz file; returns the path written.

    The output defaults to the model's name with the suffix ``.nnz``. An existing output is
    only replaced with ``force=True``; the file appears atomically, complete or not at all.
    """
    model = Path(model)
    if not model.is_file():
        raise NnzError(f"{model}: no such file")
    out = Path(output) if output is not None else default_encoded_path(model)
    refuse_existing(out, force)
    options = EncodeOptions(codec=codec, threads=threads or default_threads())
    doc = formats.detect(model).read(model)
    with staged_output(out.parent, force) as staging:
        write_document(staging.path(out.name), doc, options, source_name=model.name, progress=progress)
    return out


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
