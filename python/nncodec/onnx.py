"""ONNX models straight from a .nnz file, with no decoded file on disk.

    import nncodec.onnx
    model = nncodec.onnx.load_model("model.nnz")                  # onnx.ModelProto, data inside
    session = nncodec.onnx.inference_session("model.nnz", providers=["CPUExecutionProvider"])

The model's files (the model and its external-data files, byte for byte as they were encoded)
are restored into memory by the core, then handed over in memory:

- ``load_model``: the ModelProto with every tensor's external data put inside it (protobuf
  cannot serialize a model over 2 GB, but can hold one in memory).
- ``inference_session``: a model without external data goes to onnxruntime as its bytes, as does
  one whose files total at most ``max_inline_bytes`` (its external data put inside first); a
  larger one (over protobuf's 2 GB) goes as the model plus its external-data files in memory
  (``SessionOptions.add_external_initializers_from_files_in_memory``), which onnxruntime matches
  to the main graph's initializers by their external-data locations; tensors elsewhere (subgraph
  initializers, constants), which onnxruntime would read only from files, are put inside first.

A model folder's ONNX model is chosen with ``file`` (its path in the folder) when it has several.
"""

from __future__ import annotations

import os
from typing import Any

import onnx
from google.protobuf.message import DecodeError

from .errors import CorruptFileError, NotFoundError, UnsupportedError, about
from .formats import folder_format, onnx_format
from .limits import Limits
from .model_views import weight_files
from .nnzfile import NnzFile

# Protobuf's limit on a serialized message, less room for the graph around the tensors.
MAX_INLINE_BYTES = (2 << 30) - (64 << 20)


def _model_files(f: NnzFile, file: str | None) -> tuple[str, list[str]]:
    """The stored names of the ONNX model the file holds and of its external-data files."""
    fmt = f.meta.get("source", {}).get("format")
    if fmt == onnx_format.FORMAT and file is None:
        if not f.has_files:
            raise UnsupportedError("written before format 1.1, its model is rebuilt only on disk (nncodec decode); "
                                   "encode the model again to load it in memory")
        names = [name for name, _ in f.files()]
        return names[0], names[1:]
    if fmt != folder_format.FORMAT:
        raise UnsupportedError(f"it holds no ONNX model{' folder' if file else ''} (its source is {fmt or 'tensors'})")
    models = {m["path"]: m["files"] for m in weight_files(f) if m["format"] == onnx_format.FORMAT}
    if file is None and len(models) == 1:
        file = next(iter(models))
    if file not in models:
        raise NotFoundError(f"choose its ONNX model with file= among: {', '.join(sorted(models)) or 'none'}"
                            if file is None else f"the folder holds no ONNX model {file!r}")
    return models[file][0], models[file][1:]


def _restored(path: str | os.PathLike, file: str | None, threads: int | None,
              limits: Limits | None, base) -> tuple[bytes, dict[str, bytes]]:
    """The model's bytes and its external-data files' bytes by the location the model gives them."""
    with NnzFile(path, threads=threads, limits=limits, base=base) as f:
        model_name, others = _model_files(f, file)
        data = f.read_files([model_name, *others])
    model = data[model_name]
    onnx_format.check_external_locations(model_name, model, model_name, others)
    return model, {location: data[name] for location, name in onnx_format.external_names(model_name, others).items()}


def _inlined(model_bytes: bytes, external: dict[str, bytes], graph_initializers: bool = True) -> onnx.ModelProto:
    try:
        model = onnx.load_model_from_string(model_bytes)
    except DecodeError as exc:
        raise CorruptFileError(f"the restored model is not a readable ONNX model ({exc})") from None
    onnx_format.inline_external_bytes(model, external, graph_initializers=graph_initializers)
    return model


def load_model(path: str | os.PathLike, *, file: str | None = None, threads: int | None = None,
               limits: Limits | None = None, base=None) -> onnx.ModelProto:
    """The ONNX model of the .nnz file at ``path`` as an ``onnx.ModelProto``, its external data
    inside; ``base``: the base model of a file coded against one (as for :func:`nncodec.load`)."""
    with about(path):
        return _inlined(*_restored(path, file, threads, limits, base))


def inference_session(path: str | os.PathLike, *, file: str | None = None, max_inline_bytes: int = MAX_INLINE_BYTES,
                      threads: int | None = None, limits: Limits | None = None, base=None,
                      **session_kwargs: Any):
    """An ``onnxruntime.InferenceSession`` of the ONNX model of the .nnz file at ``path``, built
    from memory (see the module docstring for how); ``session_kwargs`` go to InferenceSession
    (``sess_options``, ``providers``...). A model handed over with its external-data files adds
    them to ``sess_options`` (a SessionOptions serves one such session)."""
    import onnxruntime

    with about(path):
        model_bytes, external = _restored(path, file, threads, limits, base)
        if not external:
            return onnxruntime.InferenceSession(model_bytes, **session_kwargs)
        if len(model_bytes) + sum(len(data) for data in external.values()) <= max_inline_bytes:
            return onnxruntime.InferenceSession(_inlined(model_bytes, external).SerializeToString(), **session_kwargs)
        options = session_kwargs.pop("sess_options", None) or onnxruntime.SessionOptions()
        options.add_external_initializers_from_files_in_memory(
            list(external), list(external.values()), [len(data) for data in external.values()])
        model = _inlined(model_bytes, external, graph_initializers=False)
        return onnxruntime.InferenceSession(model.SerializeToString(), sess_options=options, **session_kwargs)
