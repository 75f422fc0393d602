"""The property the readers fuzz target checks, importable without atheris (the pytest replay of
tests/fuzz/regressions/readers/ uses it too).

Input: one byte choosing the reader (index into READERS, modulo), then the model file's bytes. A
reader must return a ModelDocument or raise an NnzError subclass; a file that reads is written
back with the same format module and read again, and must give the same tensors bit for bit.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from nncodec import formats
from nncodec.atomic import Staging
from nncodec.errors import NnzError

# format name -> file suffix (formats pick their reader by suffix). Append new formats: the
# first input byte indexes this table, so existing seeds keep their meaning.
READERS: tuple[tuple[str, str], ...] = (("onnx", ".onnx"), ("torch", ".pt"), ("safetensors", ".safetensors"))


def same_tensors(a, b) -> bool:
    return list(a) == list(b) and all(
        a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and a[k].tobytes() == b[k].tobytes() for k in a)


def check_reader_input(data: bytes, work: Path) -> None:
    """Raises AssertionError (or whatever the reader raised that is not an NnzError) on a bug."""
    if not data:
        return
    fmt, suffix = READERS[data[0] % len(READERS)]
    module = formats.by_name(fmt)
    path = work / f"input{suffix}"
    path.write_bytes(data[1:])
    try:
        doc = module.read(path)
    except NnzError:
        return
    out_dir = work / "out"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir()
    module.write(doc, out_dir / path.name, Staging(out_dir, out_dir))
    again = module.read(out_dir / path.name)
    if not same_tensors(doc.tensors, again.tensors):
        raise AssertionError(f"{fmt}: tensors changed in a write/read round trip")
