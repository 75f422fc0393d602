"""atheris target: the Python-side model readers (nncodec.formats) on arbitrary bytes.

    PYTHONPATH=python python tests/fuzz/fuzz_readers.py [libFuzzer options] [CORPUS...]

Input: one byte choosing the reader (index into READERS, modulo), then the model file's bytes.
A reader must either return a ModelDocument or raise an NnzError subclass; any other exception
is a bug (atheris reports it as a crash). When a file reads, it is written back with the same
format module and read again: the tensors must come back bit for bit.

To fuzz a new format, add its format name and file suffix to READERS and seeds to
tests/fuzz/corpus/readers/ (see make_corpus.py).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["nncodec"]):
    from nncodec import formats
    from nncodec.atomic import Staging
    from nncodec.errors import NnzError

# format name -> file suffix (the readers sniff by suffix first).
READERS: tuple[tuple[str, str], ...] = (("onnx", ".onnx"),)

_WORK = Path(tempfile.mkdtemp(prefix="nncodec-fuzz-"))


def same_tensors(a, b) -> bool:
    return list(a) == list(b) and all(
        a[k].dtype == b[k].dtype and a[k].shape == b[k].shape and a[k].tobytes() == b[k].tobytes() for k in a)


def TestOneInput(data: bytes) -> None:
    if not data:
        return
    fmt, suffix = READERS[data[0] % len(READERS)]
    module = formats.by_name(fmt)
    path = _WORK / f"input{suffix}"
    path.write_bytes(data[1:])
    try:
        doc = module.read(path)
    except NnzError:
        return
    out_dir = _WORK / "out"
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir()
    module.write(doc, out_dir / path.name, Staging(out_dir, out_dir))
    again = module.read(out_dir / path.name)
    if not same_tensors(doc.tensors, again.tensors):
        raise AssertionError(f"{fmt}: tensors changed in a write/read round trip")


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
