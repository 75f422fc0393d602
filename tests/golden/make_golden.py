"""Writes tests/golden/v1: a .nnz file of format version 1.0 and the arrays it must decode to.

Run once per format version; the files are committed and must keep decoding forever.
"""

from pathlib import Path

import ml_dtypes
import numpy as np

from nncodec.model import ModelDocument
from nncodec.nnzfile import write_document
from nncodec.plan import EncodeOptions

rng = np.random.default_rng(20261122)
tensors = {
    "conv.weight": (rng.standard_normal((8, 3, 3, 3)) * 0.1).astype(np.float32),
    "half": (rng.standard_normal(700) * 0.02).astype(np.float16),
    "brain": (rng.standard_normal(900) * 0.02).astype(ml_dtypes.bfloat16),
    "double": rng.standard_normal(50),
    "q": rng.integers(-128, 128, 2000).astype(np.int8),
    "shape": np.array([1, 3, 224, 224], np.int64),
    "mask": rng.integers(0, 2, 33).astype(bool),
    "scalar": np.float32(-0.0).reshape(()),
    "empty": np.zeros((0, 4), np.float32),
    "specials": np.array([np.nan, -np.inf, np.inf, 1e-45, -0.0], np.float32),
}
here = Path(__file__).parent / "v1"
here.mkdir(exist_ok=True)
write_document(here / "tensors.nnz", ModelDocument("tensors", tensors), EncodeOptions(chunk_elems=512))
# npz cannot hold bfloat16: its bits are stored as uint16 (the test compares bytes).
np.savez(here / "tensors.npz", **{k: (v.view(np.uint16) if v.dtype == ml_dtypes.bfloat16 else v)
                                  for k, v in tensors.items()})
