"""atheris targets: the pickle interpreter or the JSON readers, with structure-aware mutations.

    PYTHONPATH=python python tests/fuzz/fuzz_structured.py pickle|json -max_len=262144 [libFuzzer options] [CORPUS...]

Half the mutations are structural (nesting, floods, colliding keys: ``mutate_<target>`` in
structured.py), half libFuzzer's own byte-level ones. The property is ``check_<target>`` there.
"""

from __future__ import annotations

import sys

import atheris

with atheris.instrument_imports(include=["nncodec", "structured"]):
    import structured

TARGETS = ("pickle", "json")


def main() -> None:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        sys.exit(f"usage: {sys.argv[0]} {'|'.join(TARGETS)} [libFuzzer options] [CORPUS...]")
    target = sys.argv.pop(1)
    check, mutate = getattr(structured, f"check_{target}"), getattr(structured, f"mutate_{target}")

    def custom_mutator(data: bytes, max_size: int, seed: int) -> bytes:
        return atheris.Mutate(data, max_size) if seed % 2 else mutate(data, seed)[:max_size]

    atheris.Setup(sys.argv, check, custom_mutator=custom_mutator)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
