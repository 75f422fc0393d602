"""How long each crafted input of the negative corpus (tests/hostile/) takes to end, and the most
memory it makes nncodec hold, under the address-space limit the tests use.

    .venv-test/bin/python bench/hostile_inputs.py [--limit-mb 1536] [--markdown]

Each input runs through the command line (``python -m nncodec ...``) in a child process; the
table gives its exit status, wall time, peak resident memory (the child's VmHWM) and the
first words of its error line.
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOSTILE = ROOT / "tests" / "hostile"
sys.path.insert(0, str(HOSTILE))
from decoys import make_decoys  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from peak_memory import child_command, peak_bytes  # noqa: E402




def run(case: dict, limit: int) -> tuple[int, float, float, str]:
    with tempfile.TemporaryDirectory() as tmp:
        work, out = Path(tmp) / "in", Path(tmp) / "out"
        work.mkdir()
        make_decoys(out, Path(tmp) / "victim")
        for name in [case["name"], *case["files"]]:
            (work / name).write_bytes((HOSTILE / "corpus" / name).read_bytes())
        args = [a.format(file=str(work / case["name"]), out=str(out)) for a in case["args"]]

        def limit_memory() -> None:
            resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

        peak_file = Path(tmp) / "peak"
        start = time.perf_counter()
        result = subprocess.run(child_command(peak_file, args), cwd=work, capture_output=True, text=True,
                                preexec_fn=limit_memory)
        seconds = time.perf_counter() - start
        peak_b = peak_bytes(peak_file)
        peak = peak_b / 2**20 if peak_b is not None else float("nan")
        message = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "ok"
        message = message.replace(str(work) + "/", "")
    return result.returncode, seconds, peak, message


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit-mb", type=int, default=1536, help="address-space limit of each run (MB)")
    args = parser.parse_args()
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    cases = json.loads((HOSTILE / "expected.json").read_text())
    print(f"machine: {cpu}, {platform.python_implementation()} {platform.python_version()}, "
          f"limit {args.limit_mb} MB address space; command: python bench/hostile_inputs.py")
    print()
    print("| input | attack | exit | seconds | peak RSS MB | outcome |")
    print("|---|---|---:|---:|---:|---|")
    worst = 0.0
    for case in cases:
        status, seconds, peak, message = run(case, args.limit_mb << 20)
        worst = max(worst, seconds)
        print(f"| {case['name']} | {case['attack'].split(': ', 1)[1]} | {status} | {seconds:.2f} | {peak:.0f} | "
              f"{message[:90].replace('|', '/')} |")
    print()
    print(f"slowest: {worst:.2f} s")


if __name__ == "__main__":
    main()
