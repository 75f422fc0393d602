"""atheris target: the json readers, with structure-aware mutations (structured.py).

    PYTHONPATH=python python tests/fuzz/fuzz_json.py -max_len=262144 [libFuzzer options] [CORPUS...]

Half the mutations are structural (nesting, floods, colliding keys: mutate_json), half libFuzzer's
own byte-level ones. The property is check_json in structured.py.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["nncodec", "structured"]):
    from structured import check_json, mutate_json


def TestOneInput(data: bytes) -> None:
    check_json(data)


def CustomMutator(data: bytes, max_size: int, seed: int) -> bytes:
    if seed % 2:
        return atheris.Mutate(data, max_size)
    return mutate_json(data, seed)[:max_size]


def main() -> None:
    atheris.Setup(sys.argv, TestOneInput, custom_mutator=CustomMutator)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
