"""The in-memory form of a model file between a format reader and the codec."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .formats.byte_layout import FileLayout

TENSORS_ONLY = "tensors"  # the format of a document read from a .nnz file that holds tensors, no model


@dataclass
class ModelDocument:
    """A model file split into what gets coded and what does not.

    format:   id of the format module that read it and can write it back ("onnx", ...).
    tensors:  the tensor data, in file order; names are unique.
    files:    the model's files as read, with the holes its tensors fill (byte_layout.FileLayout);
              stored in the section nncodec/files, from which the core restores them.
    attrs:    small JSON-able facts of the format (torch tensor views, safetensors metadata), kept
              in the file's metadata.
    skeleton: files written before format 1.1 only: the rest of the model in an older form
              (a JSON layout, or an ONNX ModelProto without tensor data).
    """

    format: str
    tensors: dict[str, np.ndarray]
    skeleton: bytes = b""
    attrs: dict[str, Any] = field(default_factory=dict)
    files: list[FileLayout] = field(default_factory=list)
