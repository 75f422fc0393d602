"""Budgets for what a file can make nncodec spend: memory, nesting, opcodes, output bytes.

Model files come from the internet. Every size, count and depth read from one is checked against
these budgets before it costs memory, disk or time; going over raises
:class:`~nncodec.errors.LimitExceededError` naming the budget, so a user with a legitimate file
that needs more knows what to raise (``Limits(...)`` in the API, ``--max-memory`` on the command
line). docs/SECURITY.md lists them with their defaults.
"""

from __future__ import annotations

import os
import resource
from dataclasses import dataclass, fields
from pathlib import Path

from .errors import LimitExceededError, NnzError

_MiB = 1 << 20
_GiB = 1 << 30
MAX_THREADS = 1024


def _cgroup_memory_limit() -> int | None:
    """The memory limit of this process's cgroup (v2 or v1), if one is set."""
    for candidate in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            text = Path(candidate).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 1 << 60:
            return int(text)
    return None


def machine_memory() -> int:
    """Bytes this process can hold: the physical memory, or less where a cgroup limit or an
    address-space limit (``ulimit -v``) says so."""
    try:
        total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        total = 16 * _GiB
    candidates = [total]
    cgroup = _cgroup_memory_limit()
    if cgroup:
        candidates.append(cgroup)
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        candidates.append(soft)
    return max(_MiB, min(candidates))


@dataclass(frozen=True)
class Limits:
    """Budgets applied while reading, encoding and decoding files (all sizes in bytes).

    max_memory:         decoded tensor data held at once (decode, ``read_all``, tensor views);
                        None: what :func:`machine_memory` reports.
    max_tensor_bytes:   one decoded tensor.
    max_section_bytes:  one zlib-compressed section of a .nnz file once inflated (the model skeleton).
    max_json_bytes:     one JSON document (metadata, file layouts, safetensors headers and indexes).
    max_json_depth:     nesting of arrays and objects in one JSON document.
    max_json_values:    values (scalars, arrays, objects) in one JSON document.
    max_pickle_bytes:   one pickle stream of a PyTorch file (after inflating its zip record).
    max_pickle_ops:     opcodes run for one pickle stream.
    max_pickle_memory:  estimated bytes of the objects one pickle stream builds (memo, stack, values).
    max_depth:          nesting of containers built from a pickle (tuples used as keys included).
    max_equal_hashes:   dict keys or set items of one pickle with the same hash (quadratic insertion).
    max_base_depth:     .nnz files in a chain of bases (a file coded against a .nnz coded against ...).
    """

    max_memory: int | None = None
    max_tensor_bytes: int = 1 << 36
    max_section_bytes: int = 2 * _GiB
    max_json_bytes: int = 100_000_000  # safetensors' own header limit
    max_json_depth: int = 64
    max_json_values: int = 10_000_000
    max_pickle_bytes: int = 256 * _MiB
    max_pickle_ops: int = 8_000_000
    max_pickle_memory: int = 512 * _MiB
    max_depth: int = 1000
    max_equal_hashes: int = 1000
    max_base_depth: int = 16

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if value is None and f.name == "max_memory":
                continue
            if type(value) is not int or value < 1:
                raise NnzError(f"limit {f.name} must be a whole number >= 1, not {value!r}")

    @property
    def memory(self) -> int:
        """The decode memory budget in effect (``max_memory``, else the machine's memory)."""
        return self.max_memory if self.max_memory is not None else machine_memory()


DEFAULT_LIMITS = Limits()


class Budget:
    """Bytes drawn from one budget over a run; ``take`` refuses before the caller allocates."""

    def __init__(self, total: int, what: str, flag: str):
        self.total = total
        self.used = 0
        self.what = what
        self.flag = flag

    def take(self, nbytes: int, purpose: str) -> None:
        if nbytes < 0 or nbytes > self.total - self.used:
            raise LimitExceededError(
                f"{purpose} needs {nbytes:,} bytes, over the {self.what} of {self.total:,} bytes "
                f"({self.used:,} already used; raise it with {self.flag})")
        self.used += nbytes


def check_threads(threads: int | None) -> int | None:
    """``threads`` if it is a sensible thread count (None: the default)."""
    if threads is None:
        return None
    if type(threads) is not int or not 1 <= threads <= MAX_THREADS:
        raise NnzError(f"threads must be a whole number from 1 to {MAX_THREADS}, not {threads!r}")
    return threads
