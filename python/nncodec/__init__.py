"""nncodec: compress neural-network model files (.onnx, ...) into .nnz and back.

    import nncodec
    nncodec.encode_file("model.onnx")            # -> model.nnz
    nncodec.decode_file("model.nnz")             # -> model.onnx, as it was
    weights = nncodec.load("model.nnz")          # name -> numpy array, decoded on access
"""

__version__ = "0.1.0"

from .api import decode_file, encode_file, load  # noqa: E402
from .errors import (  # noqa: E402
    ChecksumError,
    CorruptFileError,
    LimitExceededError,
    NnzError,
    NotFoundError,
    UnsafeInputError,
    UnsupportedError,
)
from .nnzfile import NnzFile, TensorInfo  # noqa: E402
from .plan import EncodeOptions  # noqa: E402

__all__ = [
    "__version__",
    "encode_file",
    "decode_file",
    "load",
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
]
