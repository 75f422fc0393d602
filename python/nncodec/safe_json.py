"""JSON from files, parsed within budgets of size, nesting depth and value count.

Python's parser recurses once per nesting level and keeps every value it builds: a few kilobytes
of ``[[[[...`` raise RecursionError, and a zlib-packed document of empty lists takes gigabytes.
Here the document's shape is measured first, in time and memory linear in its size (strings
removed by one regular expression, brackets counted in blocks), and only a document within the
limits is handed to ``json.loads``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

import numpy as np

from .errors import CorruptFileError, LimitExceededError
from .limits import DEFAULT_LIMITS, Limits

# A possessive quantifier: the pattern runs in linear time on any input.
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_NOT_STRUCTURE = bytes(c for c in range(256) if c not in b"[]{},")
_BLOCK = 1 << 20
_OPENING = np.frombuffer(b"[{", np.uint8)


def _shape(text: bytes) -> tuple[int, int] | None:
    """(maximum nesting depth, number of values) of a JSON text, or None where a string is not
    terminated (its quote is left once the strings are taken out)."""
    outside = _STRING.sub(b"0", text)
    if b'"' in outside:
        return None
    structure = outside.translate(None, _NOT_STRUCTURE)
    values = 1 + structure.count(b",") + structure.count(b"[") + structure.count(b"{")
    brackets = structure.translate(None, b",")
    depth = level = 0
    for start in range(0, len(brackets), _BLOCK):
        block = np.frombuffer(brackets, np.uint8, min(_BLOCK, len(brackets) - start), start)
        opening = np.isin(block, _OPENING)  # a call, not ==: fuzzers that trace compares keep no copies
        levels = np.cumsum(opening.astype(np.int32) * 2 - 1) + level
        depth = max(depth, int(levels.max()))
        level = int(levels[-1])
    return depth, values


def loads(data: bytes | bytearray | memoryview, what: str, limits: Limits = DEFAULT_LIMITS,
          object_pairs_hook: Callable[[list[tuple[str, Any]]], Any] | None = None) -> Any:
    """The JSON value of ``data`` (UTF-8), or CorruptFileError / LimitExceededError naming ``what``."""
    text = bytes(data)
    if len(text) > limits.max_json_bytes:
        raise LimitExceededError(f"{what}: {len(text):,} bytes of JSON, over the limit of {limits.max_json_bytes:,}")
    shape = _shape(text)
    if shape is None:
        raise CorruptFileError(f"{what}: not valid JSON (a string is not terminated)")
    depth, values = shape
    if depth > limits.max_json_depth:
        raise LimitExceededError(f"{what}: JSON nested {depth} deep, over the limit of {limits.max_json_depth}")
    if values > limits.max_json_values:
        raise LimitExceededError(f"{what}: {values:,} JSON values, over the limit of {limits.max_json_values:,}")
    try:
        return json.loads(text.decode("utf-8"), object_pairs_hook=object_pairs_hook)
    except UnicodeDecodeError:
        raise CorruptFileError(f"{what}: not valid UTF-8") from None
    except CorruptFileError as exc:  # raised by a hook
        raise CorruptFileError(f"{what}: {exc}") from None
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, integers too long to convert
        raise CorruptFileError(f"{what}: not valid JSON ({exc})") from None
