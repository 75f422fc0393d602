"""``nncodec.safe_open``: the interface of ``safetensors.safe_open`` over a .nnz file.

    with nncodec.safe_open("model.nnz", framework="pt") as f:
        for name in f.keys():
            tensor = f.get_tensor(name)     # decoded now, this tensor only

Any model nncodec codes can be opened this way (its tensors by the names of
:mod:`nncodec.model_views`); for a safetensors source ``keys``, ``get_tensor`` and ``metadata``
give what ``safetensors.safe_open`` gives on the original file (a sharded checkpoint: all its
shards as one, the metadata of the first).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch

from .errors import NnzError, NotFoundError, about
from .limits import Limits
from .model_views import model_views, numpy_tensor, source_attrs, weight_files
from .nnzfile import NnzFile

FRAMEWORKS = {"np": "np", "numpy": "np", "pt": "pt", "torch": "pt"}


class SafeOpen:
    """An open .nnz file read like a safetensors file: ``keys()``, ``get_tensor(name)``,
    ``metadata()``; a context manager (``close`` releases the file)."""

    def __init__(self, path: str | os.PathLike, framework: str = "np", device: str | torch.device = "cpu", *,
                 threads: int | None = None, limits: Limits | None = None, base=None):
        if framework not in FRAMEWORKS:
            raise NnzError(f"framework {framework!r} is not one of {', '.join(FRAMEWORKS)}")
        self.framework = FRAMEWORKS[framework]
        if self.framework == "np" and str(device) != "cpu":
            raise NnzError(f"numpy arrays live on the CPU, not on device {device!r}")
        self.device = device
        self._path = path
        with about(path):
            self._file = NnzFile(path, threads=threads, limits=limits, base=base)
            self._views = model_views(self._file)

    def keys(self) -> list[str]:
        """The tensors' names, sorted (as safetensors gives them)."""
        return sorted(self._views)

    def get_tensor(self, name: str) -> np.ndarray | torch.Tensor:
        """The tensor ``name``, decoded now: a numpy array, or a torch.Tensor on the device for "pt"."""
        view = self._views.get(name)
        if view is None:
            raise NotFoundError(f"{self._path}: no tensor named {name!r}")
        with about(self._path):
            if self.framework == "np":
                return numpy_tensor(self._file, view)
            import torch

            from .torch import tensors

            return tensors(self._file, [view], torch.device(self.device))[name]

    def metadata(self) -> dict[str, str] | None:
        """The safetensors metadata of a safetensors source (None when it has none, or for
        other sources); of a model folder's one safetensors weight file."""
        if self._file.meta.get("source", {}).get("format") == "safetensors":
            attrs = source_attrs(self._file, "safetensors")
        else:
            members = [m for m in weight_files(self._file) if m["format"] == "safetensors"]
            attrs = members[0]["attrs"] if len(members) == 1 else {}
        metadata = attrs.get("metadata") if isinstance(attrs, dict) else None
        if not isinstance(metadata, dict) or not metadata:
            return None
        return {str(k): str(v) for k, v in metadata.items()}

    def close(self) -> None:
        self._file.close()

    def __enter__(self) -> SafeOpen:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def safe_open(path: str | os.PathLike, framework: str = "np", device: str | torch.device = "cpu", *,
              threads: int | None = None, limits: Limits | None = None, base=None) -> SafeOpen:
    """Open the .nnz file at ``path`` as ``safetensors.safe_open`` opens a safetensors file:
    ``framework`` "np" (numpy arrays) or "pt" (torch tensors on ``device``); each tensor is
    decoded when it is asked for. ``base``: the base model of a file coded against one (as for
    :func:`nncodec.load`)."""
    return SafeOpen(path, framework, device, threads=threads, limits=limits, base=base)
