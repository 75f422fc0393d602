"""The negative corpus (tests/hostile/): every crafted input ends in its one-line error, under a
memory limit, without a signal, and touches no file the model does not own.

Each case runs the real command line in a child process limited to 1.5 GB of address space, with
its output folder full of decoys: a symlink to a victim folder, dot-files, a user's source folder,
a symlinked file. The same inputs are then run through the API to check the error class.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import nncodec
from nncodec import errors
from nncodec.cli import main as cli_main
from nncodec.limits import Limits

HOSTILE = Path(__file__).resolve().parent
sys.path.insert(0, str(HOSTILE))
from decoys import make_decoys  # noqa: E402
CASES = json.loads((HOSTILE / "expected.json").read_text())
MEMORY_LIMIT = 1536 << 20
TIMEOUT_S = 60  # a generous guard; bench/hostile_inputs.py measures the real times


def _limit_memory() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "nncodec", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=TIMEOUT_S, preexec_fn=_limit_memory)


def snapshot(*roots: Path) -> dict[str, tuple]:
    """Every entry under the roots (symlinks not followed): its kind and content or target."""
    state: dict[str, tuple] = {}
    for root in roots:
        for folder, dirs, files in os.walk(root):
            for name in dirs + files:
                path = Path(folder) / name
                if path.is_symlink():
                    state[str(path)] = ("link", os.readlink(path))
                elif path.is_dir():
                    state[str(path)] = ("dir",)
                else:
                    state[str(path)] = ("file", hashlib.sha256(path.read_bytes()).hexdigest())
    return state


def staged_leftovers(*roots: Path) -> list[Path]:
    return [p for root in roots for p in root.rglob("*") if p.name.startswith(".nncodec-")]


def prepare(case: dict, tmp_path: Path) -> tuple[Path, Path, Path, list[str]]:
    work = tmp_path / "in"
    work.mkdir()
    for name in [case["name"], *case["files"]]:
        shutil.copy(HOSTILE / "corpus" / name, work / name)
    out, victim = tmp_path / "out", tmp_path / "victim"
    make_decoys(out, victim)
    args = [a.format(file=str(work / case["name"]), out=str(out)) for a in case["args"]]
    return work, out, victim, args


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_crafted_input_ends_cleanly_and_touches_nothing_it_does_not_own(case, tmp_path):
    work, out, victim, args = prepare(case, tmp_path)
    before = snapshot(out, victim)
    result = run_cli(args, work)
    assert result.returncode >= 0, f"killed by signal {-result.returncode}"
    assert "Traceback" not in result.stderr and "internal error" not in result.stderr, result.stderr
    if case["error"]:
        assert result.returncode == 1, result.stderr
        lines = result.stderr.splitlines()
        assert len(lines) == 1 and lines[0].startswith("nncodec: error: "), result.stderr
        assert re.search(case["match"], lines[0]), lines[0]
        assert case["name"] in lines[0], f"the message does not name the file: {lines[0]}"
    else:
        assert result.returncode == 0, result.stderr
    after = snapshot(out, victim)
    changed = {p: (s, after.get(p)) for p, s in before.items() if after.get(p) != s}
    assert not changed, f"files the model does not own were changed: {changed}"
    if case["error"]:  # nothing partial is left behind
        assert set(after) == set(before), set(after) - set(before)
    assert [p.name for p in victim.iterdir()] == ["secret.txt"]
    assert not staged_leftovers(work, out), staged_leftovers(work, out)


def _api_call(case: dict, work: Path, out: Path):
    args = [a.format(file=str(work / case["name"]), out=str(out)) for a in case["args"]]
    command, path = args[0], args[1]
    budget = Limits(max_memory=MEMORY_LIMIT)
    if command == "encode":
        return nncodec.encode_file(path, out / "encoded.nnz", limits=budget)
    if command == "info":
        with nncodec.load(path, limits=budget) as f:  # what info shows: the tensors and the metadata
            return [t.name for t in f.tensors], f.meta
    output = args[args.index("-o") + 1] if "-o" in args else None
    to = args[args.index("--to") + 1] if "--to" in args else None
    return nncodec.decode_file(path, output, force=True, to=to, limits=budget)


@pytest.mark.parametrize("case", [c for c in CASES if c["error"]], ids=[c["name"] for c in CASES if c["error"]])
def test_crafted_input_raises_its_nnzerror_subclass(case, tmp_path):
    work, out, _, _ = prepare(case, tmp_path)
    expected = tuple(getattr(errors, name) for name in case["error"].split("|"))
    with pytest.raises(expected, match=case["match"]):
        _api_call(case, work, out)


def test_info_escapes_names_that_would_fake_rows(capsys):
    assert cli_main(["info", str(HOSTILE / "corpus" / "names_with_escapes.nnz")]) == 0
    shown = capsys.readouterr().out
    assert "\x1b" not in shown and "\u202e" not in shown
    assert len(shown.splitlines()) == 1 + 3 + 1  # header, one row per tensor, total
    assert "a\\nfake row" in shown and "\\x1b[31mred" in shown and "\\u202eevil" in shown
