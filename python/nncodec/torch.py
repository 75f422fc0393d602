"""PyTorch tensors straight from a .nnz file, with no decoded file on disk.

    import nncodec.torch
    state = nncodec.torch.load_state_dict("model.nnz")        # name -> torch.Tensor
    model.load_state_dict(state)

For a PyTorch checkpoint the result equals ``torch.load(original, weights_only=True)`` (a state
dict; a nested checkpoint gives its tensors by their paths, joined with "/"): the same names,
dtypes (bfloat16 included), shapes, strides and storage offsets, and tensors that shared a
storage in the file share one here. For safetensors (single or sharded) it equals
``safetensors.torch.load_file`` (over every shard); for ONNX it gives the initializers by name.
Names of the other sources: :mod:`nncodec.model_views`.

Memory stays bounded by the result: the coded tensors are decoded one at a time, each straight
into the bytes of its torch storage.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import numpy as np
import torch

from .errors import about
from .limits import Limits
from .model_views import View, check_loadable, model_views, unsupported_dtype
from .nnzfile import NnzFile


def torch_dtype(view: View) -> torch.dtype:
    """The torch dtype of a view's elements (see :func:`check_loadable` for those refused)."""
    dtype = getattr(torch, check_loadable(view), None)
    if not isinstance(dtype, torch.dtype):
        raise unsupported_dtype(view)
    return dtype


def storage_of(decoded: np.ndarray, device: torch.device) -> torch.UntypedStorage:
    """A torch storage holding the bytes of a decoded coded tensor (sharing them on the CPU)."""
    data = torch.from_numpy(decoded.reshape(-1).view(np.uint8))
    if device.type != "cpu":
        data = torch.empty(data.shape, dtype=torch.uint8, device=device).copy_(data)
    return data.untyped_storage()


def view_of(storage: torch.UntypedStorage, view: View) -> torch.Tensor:
    """The tensor ``view`` on ``storage`` (bounds checked first: the view comes from the file)."""
    dtype = torch_dtype(view)
    view.check_bounds(storage.nbytes())
    return torch.empty(0, dtype=dtype, device=storage.device).set_(storage, view.offset, view.shape, view.stride)


def tensors(f: NnzFile, views: Sequence[View], device: torch.device) -> dict[str, torch.Tensor]:
    """The tensors of ``views`` by path, in their order; each coded tensor is decoded once, into
    the one storage all its views share."""
    by_coded: dict[str, list[View]] = {}
    for view in views:
        torch_dtype(view)  # refused before anything is decoded
        by_coded.setdefault(view.coded, []).append(view)
    built: dict[str, torch.Tensor] = {}
    for coded, shared in by_coded.items():
        storage = storage_of(f[coded], device)
        for view in shared:
            built[view.path] = view_of(storage, view)
    return {view.path: built[view.path] for view in views}


def state_dict(f: NnzFile, files: Sequence[str] | None, device: str | torch.device) -> dict[str, torch.Tensor]:
    """The tensors of the open .nnz file ``f`` (see :func:`load_state_dict`)."""
    return tensors(f, list(model_views(f, files).values()), torch.device(device))


def load_state_dict(path: str | os.PathLike, device: str | torch.device = "cpu", *,
                    files: Sequence[str] | None = None, threads: int | None = None,
                    limits: Limits | None = None, base=None) -> dict[str, torch.Tensor]:
    """The model's tensors as ``dict[str, torch.Tensor]`` on ``device``, decoded from the .nnz file
    at ``path`` one coded tensor at a time (see the module docstring for what it equals).

    ``files``: for a model folder, the weight files to take (paths in the folder, or one path); by
    default all of them, names prefixed with the file's path when there are several
    (:mod:`nncodec.model_views`). ``base``: the base model of a file coded against one (as for
    :func:`nncodec.load`).
    """
    with about(path), NnzFile(path, threads=threads, limits=limits, base=base) as f:
        return state_dict(f, [files] if isinstance(files, str) else files, device)
