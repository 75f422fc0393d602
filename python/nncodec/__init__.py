"""nncodec: compress neural-network model files (.onnx, ...) into .nnz and back.

    import nncodec
    nncodec.encode_file("model.onnx")            # -> model.nnz
    nncodec.decode_file("model.nnz")             # -> model.onnx, as it was
    weights = nncodec.load("model.nnz")          # name -> numpy array, decoded on access

Straight into frameworks, with no decoded file on disk (each imports its framework on first use):
``nncodec.torch.load_state_dict``, ``nncodec.safe_open``, ``nncodec.transformers.from_pretrained``,
``nncodec.onnx.load_model`` and ``nncodec.onnx.inference_session``.
"""

from __future__ import annotations

import importlib

from .errors import (
    BaseMismatchError,
    ChecksumError,
    CorruptFileError,
    LimitExceededError,
    NnzError,
    NotFoundError,
    UnsafeInputError,
    UnsupportedError,
)

__version__ = "0.1.0"

# Public names -> the module that defines them, imported on first use: ``import nncodec`` stays
# cheap (no numpy, onnx or native module until something is coded).
_LAZY = {
    "encode_file": "api",
    "decode_file": "api",
    "load": "api",
    "NnzFile": "nnzfile",
    "TensorInfo": "nnzfile",
    "EncodeOptions": "codecs.coding",
    "safe_open": "safetensors_interface",
}
# Submodules named after the framework they load into, imported on first use (``nncodec.torch``).
_FRAMEWORK_MODULES = ("torch", "transformers", "onnx")


def __getattr__(name: str) -> object:
    if name in _FRAMEWORK_MODULES:
        return importlib.import_module(f"{__name__}.{name}")
    if name not in _LAZY:
        raise AttributeError(f"module 'nncodec' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_LAZY, *_FRAMEWORK_MODULES})


__all__ = [
    "__version__",
    "encode_file",
    "decode_file",
    "load",
    "safe_open",
    "NnzFile",
    "TensorInfo",
    "EncodeOptions",
    "NnzError",
    "CorruptFileError",
    "ChecksumError",
    "UnsupportedError",
    "LimitExceededError",
    "UnsafeInputError",
    "NotFoundError",
    "BaseMismatchError",
]
