"""Peak resident memory of nncodec's command line run in a child process.

The child reads its own VmHWM from /proc/self/status when it exits: the high-water mark of the
memory it mapped after exec. ``ru_maxrss`` would not do: Linux carries the forked copy of the
parent's resident set into it across exec, so a child of a large bench reports the bench's size.
"""

from __future__ import annotations

import sys
from pathlib import Path

CHILD = ("import atexit, re, runpy, sys; peak = sys.argv[1]; "
         "atexit.register(lambda: open(peak, 'w').write("
         "re.search(r'VmHWM:\\s+(\\d+) kB', open('/proc/self/status').read()).group(1))); "
         "sys.argv = ['nncodec', *sys.argv[2:]]; runpy.run_module('nncodec', run_name='__main__')")


def child_command(peak_file: Path, args: list[str]) -> list[str]:
    """``python -m nncodec ARGS`` that writes its peak resident KiB to ``peak_file`` as it exits."""
    return [sys.executable, "-c", CHILD, str(peak_file), *args]


def peak_bytes(peak_file: Path) -> int | None:
    """What the child wrote (None if it ended without writing: killed, or exited past atexit)."""
    text = peak_file.read_text() if peak_file.exists() else ""
    return int(text) * 1024 if text else None
