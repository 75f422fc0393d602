"""Exceptions raised by nncodec. All derive from :class:`NnzError` (a ``ValueError``)."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator


class NnzError(ValueError):
    """Base class of every error nncodec raises on bad input or a failed operation."""


class CorruptFileError(NnzError):
    """The bytes are malformed: not a .nnz file, truncated, or damaged."""


class ChecksumError(CorruptFileError):
    """A stored checksum does not match: the file was damaged after it was written."""


class UnsupportedError(NnzError):
    """Valid, but not supported here: a newer format version, an unknown codec or dtype."""


class LimitExceededError(NnzError):
    """A size in the file exceeds a configured safety limit."""


class UnsafeInputError(NnzError):
    """The input asks for something nncodec refuses to do (run code, read outside a folder)."""


class BaseMismatchError(NnzError):
    """A delta file's base model is missing, or is not the one the file was coded against."""


class NotFoundError(NnzError, KeyError):
    """No tensor or section with that name."""

    def __str__(self) -> str:  # KeyError would add quotes around the message
        return str(self.args[0]) if self.args else ""


class InternalError(NnzError):
    """A bug in nncodec: please report it."""


# Codes pinned by the C++ core (csrc/common/error.hpp, ErrorCode).
_BY_CODE = {
    1: CorruptFileError,
    2: ChecksumError,
    3: UnsupportedError,
    4: LimitExceededError,
    5: NnzError,
    6: OSError,
    7: NotFoundError,
    8: InternalError,
    9: MemoryError,
    10: UnsafeInputError,
    11: BaseMismatchError,
}


def error_class(code: int) -> type[Exception]:
    """The Python exception class for a core error code (used by the native module)."""
    return _BY_CODE.get(code, InternalError)


def _with_prefix(exc: NnzError, prefix: str) -> NnzError:
    """``exc`` with its message prefixed by ``prefix`` (the file it is about), same class."""
    message = str(exc)
    if message.startswith(prefix):
        return exc
    base = os.path.basename(prefix)
    if base and message.startswith(base + ": "):  # a reader named the file by its name alone
        message = message[len(base) + 2:]
    try:
        renamed = type(exc)(f"{prefix}: {message}")
    except TypeError:  # a class with another constructor: keep it as it is
        return exc
    return renamed


def naming_the_file(method: Callable) -> Callable:
    """A method of an object with a ``path`` whose NnzErrors name that file (as ``about``)."""
    @functools.wraps(method)
    def named(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except NnzError as exc:
            renamed = _with_prefix(exc, os.fspath(self.path))
            if renamed is exc:
                raise
            raise renamed from None
    return named


@contextlib.contextmanager
def about(path: str | os.PathLike) -> Iterator[None]:
    """Errors raised inside name the file ``path``: one line, an NnzError subclass.

    Exhausted memory and recursion (which a hostile file can cause in code nncodec does not own,
    such as a protobuf parser) become LimitExceededError and CorruptFileError."""
    shown = os.fspath(path)
    try:
        yield
    except NnzError as exc:
        renamed = _with_prefix(exc, shown)
        if renamed is exc:
            raise
        raise renamed from None
    except MemoryError:
        raise LimitExceededError(f"{shown}: out of memory (the file needs more memory than this process may use)") from None
    except RecursionError:
        raise CorruptFileError(f"{shown}: nested too deeply") from None
