"""atheris target: the Python-side model readers (nncodec.formats) on arbitrary bytes.

    PYTHONPATH=python python tests/fuzz/fuzz_readers.py [libFuzzer options] [CORPUS...]

The property checked is in reader_roundtrip.py (a reader returns a document or raises NnzError;
a document survives write + read). To fuzz a new format, add it to READERS there and seeds to
tests/fuzz/corpus/readers/ (make_corpus.py).
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import atheris

with atheris.instrument_imports(include=["nncodec", "reader_roundtrip"]):
    from reader_roundtrip import check_reader_input

_WORK = Path(tempfile.mkdtemp(prefix="nncodec-fuzz-"))


def TestOneInput(data: bytes) -> None:
    check_reader_input(data, _WORK)


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
