"""The model's files coded against the base model's own (docs/FORMAT.md 9.5, format 1.6): a fine-tune
or a copy of a model keeps its base's file layout and the bytes around its tensors (a safetensors
header, an ONNX graph, a zip's directory), so its section ``nncodec/files`` is stored as a patch:
runs copied from the base's section and the bytes between them. The core applies it (restore).

The encoder's search is greedy and bounded: copies are extended byte by byte from where the last
one ended; where they stop, the next 32-byte window of the model's section found anywhere in the
base's starts the next copy (at most ``_MAX_SEARCHES`` searches; after that the rest is literal).
"""

from __future__ import annotations

import struct

import numpy as np

from . import _core

PATCH_MAGIC = b"NNZP"
PATCH_VERSION = 1
LITERAL = (1 << 64) - 1          # an operation's base offset when its bytes follow in the patch
MAX_BASE_BYTES = 1 << 28         # a base section above this is not patched against (the core's limit)
_MIN_COPY = 32                   # shorter runs are cheaper as literal bytes than as an operation
_ANCHOR = 32
_MAX_SEARCHES = 4096


def _common_prefix(a: bytes, i: int, b: bytes, j: int) -> int:
    """Length of the common run of a[i:] and b[j:], compared in growing windows."""
    n, done, step = min(len(a) - i, len(b) - j), 0, 64
    while done < n:
        k = min(step, n - done)
        differ = np.flatnonzero(np.frombuffer(a, np.uint8, k, i + done) != np.frombuffer(b, np.uint8, k, j + done))
        if differ.size:
            return done + int(differ[0])
        done, step = done + k, min(step * 4, 1 << 24)
    return n


def _resync(base: bytes, new: bytes, p: int, budget: list[int]) -> tuple[int, int] | None:
    """(position in new, position in base) of the next copy at or after p, or None."""
    for q in range(p, len(new) - _ANCHOR + 1, _ANCHOR // 2):
        if budget[0] <= 0:
            return None
        budget[0] -= 1
        at = base.find(new[q:q + _ANCHOR])
        if at >= 0:
            while q > p and at > 0 and new[q - 1] == base[at - 1]:
                q, at = q - 1, at - 1
            return q, at
    return None


def make_patch(base: bytes, new: bytes) -> bytes:
    """``new`` (a section nncodec/files) as a patch against ``base`` (the base model's section)."""
    ops: list[tuple[int, int]] = []  # (length, base offset or LITERAL)
    literals: list[bytes] = []
    p = b = lit_start = 0
    budget = [_MAX_SEARCHES]

    def flush_literal(end: int) -> None:
        if end > lit_start:
            ops.append((end - lit_start, LITERAL))
            literals.append(new[lit_start:end])

    while p < len(new):
        n = _common_prefix(base, b, new, p) if b < len(base) else 0
        if n >= _MIN_COPY or (n and p + n == len(new)):
            flush_literal(p)
            ops.append((n, b))
            p, b = p + n, b + n
            lit_start = p
            continue
        found = _resync(base, new, p, budget)  # a run of at least _ANCHOR bytes starts there
        if found is None:
            break
        p, b = found
    flush_literal(len(new))
    head = PATCH_MAGIC + bytes([PATCH_VERSION, 0, 0, 0]) + struct.pack(
        "<QQI", len(base), int(_core.xxhash64(np.frombuffer(base, np.uint8))), len(ops))
    return b"".join([head, *(struct.pack("<QQ", n, at) for n, at in ops), *literals])

