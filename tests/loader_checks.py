"""Checks that a framework loader of nncodec gives what the framework gives on the original file
(shared by the tests of tests/api and bench/loaders_corpus_check.py)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

import nncodec
from torch_checkpoints import assert_same, flat_tensors, storage_groups


def check_as_torch_load(original, loaded: Mapping[str, torch.Tensor]) -> None:
    """``loaded`` holds every tensor of the object torch.load gave, by its path, in order: each
    the same tensor (dtype, shape, stride, offset, storage bytes), sharing storages as they do."""
    flat = flat_tensors(original)
    paths = [path for path, _ in flat]
    if len(set(paths)) == len(paths):  # nncodec makes repeated paths unique; their order is the check then
        assert list(loaded) == paths
    assert len(loaded) == len(flat)
    for (path, tensor), got in zip(flat, loaded.values()):
        assert_same(tensor, got, path)
        assert not got.requires_grad
    assert storage_groups([t for _, t in flat]) == storage_groups(list(loaded.values()))


def check_same_tensors(want: Mapping[str, torch.Tensor], got: Mapping[str, torch.Tensor], ordered: bool = True) -> None:
    """The same names (in the same order if ``ordered``) and the same tensors, bit for bit."""
    assert (list(got) == list(want)) if ordered else (sorted(got) == sorted(want))
    for name in want:
        assert_same(want[name], got[name], name)


def check_as_safetensors(original: Path, nnz: Path, framework: str) -> None:
    """Every call of nncodec.safe_open answers as safetensors.safe_open does on the original file."""
    from safetensors import safe_open

    with safe_open(str(original), framework) as want, nncodec.safe_open(nnz, framework) as got:
        assert got.keys() == want.keys()
        assert got.metadata() == want.metadata()
        for name in want.keys():
            a, b = want.get_tensor(name), got.get_tensor(name)
            if framework == "pt":
                assert_same(a, b, name)
            else:
                assert a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes(), name


def same_outputs(want: Sequence[np.ndarray], got: Sequence[np.ndarray]) -> bool:
    """Session outputs equal bit for bit (NaNs included)."""
    return [g.dtype for g in got] == [w.dtype for w in want] and [g.tobytes() for g in got] == [w.tobytes() for w in want]
