"""The in-memory form of a model file between a format reader and the codec."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

TENSORS_ONLY = "tensors"  # the format of a document read from a .nnz file that holds tensors, no model


@dataclass
class ModelDocument:
    """A model file split into what gets coded and what does not.

    format:   id of the format module that read it and can write it back ("onnx", ...).
    tensors:  the tensor data, in file order; names are unique.
    skeleton: everything else of the file(s), in the format's own encoding, opaque to the codec.
    attrs:    small JSON-able facts the writer needs to put tensors back where they were.
    """

    format: str
    tensors: dict[str, np.ndarray]
    skeleton: bytes = b""
    attrs: dict[str, Any] = field(default_factory=dict)
