"""Showing names from files on a terminal: escaped, so that a name cannot fake lines or tables."""

from __future__ import annotations


def printable(text: str) -> str:
    """``text`` with every character a terminal would act on escaped (newlines, ANSI escapes,
    bidirectional overrides, lone surrogates)."""
    return "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)


def name_width(names: list[str], most: int, header: str) -> int:
    """The width of a table's name column: its longest escaped name, at most ``most``."""
    return min(most, max([len(header)] + [len(printable(n)) for n in names]))


def fit(name: str, width: int) -> str:
    """A name for a table column: escaped, and its end kept when it is too long."""
    name = printable(name)
    return name if len(name) <= width else "…" + name[-(width - 1):]
