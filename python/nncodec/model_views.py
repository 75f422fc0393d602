"""The tensors of the model a .nnz file holds, by the names its framework gives them, each as a
view of one coded tensor: what the framework loaders (``nncodec.torch``, ``nncodec.safe_open``)
build their tensors from, one coded tensor at a time, without rebuilding the model's files.

Names, by the format of the source:

- PyTorch file: the tensors' paths in the pickled object (a state dict's keys; nested containers
  joined with "/"), each a view (offset, shape, stride) of its storage, several views sharing one
  storage where the file had them share it.
- safetensors file or sharded checkpoint: the tensors' names in the files.
- ONNX model: every tensor nncodec coded, by its name (graph initializers; ``Constant`` values by
  the name of their output); strings and other tensors kept in the model's bytes are not given.
- model folder: the tensors of its weight files, each by its file's own names, prefixed with the
  file's path and ":" (``model.safetensors:lm_head.weight``) when the folder has several weight
  files, unless ``files`` chooses which ones to give (then unprefixed, names unique across them).
- a file of tensors only: its tensors.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from .dtypes import dtype_name
from .errors import CorruptFileError, NotFoundError, UnsupportedError
from .formats import byte_layout, folder_format, torch_format
from .limits import Budget
from .model import ModelDocument
from .nnzfile import MEMORY_FLAG, SKELETON_BLOB, NnzFile, TensorInfo

View = torch_format.StoredView


def _contiguous_strides(shape: tuple[int, ...]) -> tuple[int, ...]:
    strides, step = [], 1
    for n in reversed(shape):
        strides.append(step)
        step *= n
    return tuple(reversed(strides))


def _whole(name: str, info: TensorInfo, dtype: str | None) -> View:
    """The coded tensor ``name`` (of its model file) as it is."""
    return View(name, name, dtype, 0, info.shape, _contiguous_strides(info.shape))


def is_whole(view: View, coded: np.ndarray) -> bool:
    """Whether the view is the decoded coded tensor ``coded`` as it is (no copy needed)."""
    return (view.dtype == dtype_name(coded.dtype) and view.offset == 0 and view.shape == coded.shape
            and view.stride == _contiguous_strides(coded.shape))


def _format_views(fmt: str, attrs: Mapping[str, Any], coded: Mapping[str, TensorInfo]) -> dict[str, View]:
    """The views of one model file of format ``fmt``, its coded tensors by their names in that file
    (which the views' ``coded`` give)."""
    if fmt == torch_format.FORMAT:
        views = {}
        for view in torch_format.stored_views(attrs):
            if view.coded not in coded:
                raise CorruptFileError(f"tensor {view.coded!r} is missing from the file")
            views[view.path] = view
        return views
    if fmt in ("safetensors", "onnx", "tensors"):
        raw = attrs.get("raw", []) if fmt == "safetensors" else []
        raw = set(raw) if isinstance(raw, list) else set()
        return {name: _whole(name, info, None if name in raw else info.dtype) for name, info in coded.items()}
    raise UnsupportedError(f"no framework loader for models of format {fmt!r}")


def source_attrs(f: NnzFile, fmt: str) -> dict[str, Any]:
    """The format's recorded attributes (files of format 1.0 keep torch and safetensors ones in the
    skeleton's layout)."""
    attrs = f.meta.get("source", {}).get("attrs", {})
    attrs = attrs if isinstance(attrs, dict) else {}
    if f.has_files or fmt not in (torch_format.FORMAT, "safetensors"):
        return attrs
    return byte_layout.format_attrs(ModelDocument(fmt, {}, f.blob(SKELETON_BLOB), attrs), f.limits)


def weight_files(f: NnzFile) -> list[dict[str, Any]]:
    """The weight files of a model folder (path, format, files, tensors, attrs), checked; [] for a
    single model file."""
    source = f.meta.get("source", {})
    if source.get("format") != folder_format.FORMAT:
        return []
    attrs = source.get("attrs", {})
    return folder_format.members(ModelDocument(folder_format.FORMAT, {}, attrs=attrs if isinstance(attrs, dict) else {}))


def _folder_views(f: NnzFile, files: Sequence[str] | None) -> dict[str, View]:
    members = weight_files(f)
    if files is not None:
        known = {m["path"] for m in members}
        for path in files:
            if path not in known:
                raise NotFoundError(f"{f.path.name} holds no weight file {path!r} (it holds: {', '.join(sorted(known))})")
        members = [m for m in members if m["path"] in files]
    prefixed = files is None and len(members) > 1
    views: dict[str, View] = {}
    for member in members:
        # In the container's order, which is the file's (the stored map is sorted by name).
        own = {member["tensors"][t.name]: t for t in f.tensors if t.name in member["tensors"]}
        folder_name = {name: coded for coded, name in member["tensors"].items()}
        for name, view in _format_views(member["format"], member["attrs"], own).items():
            key = f"{member['path']}:{name}" if prefixed else name
            if key in views:
                raise CorruptFileError(f"two weight files of the folder hold a tensor named {key!r}")
            views[key] = replace(view, path=key, coded=folder_name[view.coded])
    return views


def model_views(f: NnzFile, files: Sequence[str] | None = None) -> dict[str, View]:
    """Every tensor of the model by its framework name (see the module docstring), in file order.
    ``files``: for a model folder, the weight files to take (their paths in the folder)."""
    fmt = f.meta.get("source", {}).get("format") if f.holds_model else "tensors"
    if fmt == folder_format.FORMAT:
        return _folder_views(f, files)
    if files is not None:
        raise UnsupportedError(f"{f.path.name} holds one model file, not a folder: leave out the weight files")
    return _format_views(fmt, source_attrs(f, fmt), {t.name: t for t in f.tensors})


def unsupported_dtype(view: View) -> UnsupportedError:
    return UnsupportedError(f"tensor {view.path!r} has a dtype ({view.dtype or 'raw bytes'}) that only its original "
                            "format can hold")


def check_loadable(view: View) -> str:
    """The view's dtype name, unless only its original format can hold the tensor: quantized ones
    (their scales and zero points live in the file's pickle) and those coded as raw bytes."""
    if view.quantized:
        raise UnsupportedError(f"tensor {view.path!r} is quantized; it can only be decoded to its original format")
    if not view.dtype:
        raise unsupported_dtype(view)
    return view.dtype


def numpy_tensor(f: NnzFile, view: View) -> np.ndarray:
    """The tensor as a numpy array (its coded tensor decoded; a view of it copied out)."""
    dtype = torch_format.VIEW_DTYPES.get(check_loadable(view))
    if dtype is None:
        raise unsupported_dtype(view)
    coded = f[view.coded]
    if is_whole(view, coded):
        return coded
    view.check_size(f.limits)
    Budget(f.limits.memory, "memory budget", MEMORY_FLAG).take(view.nbytes, f"tensor {view.path!r}")
    return torch_format.view_array(view, coded, dtype)
