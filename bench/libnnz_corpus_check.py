"""libnnz decodes the real corpus exactly like the Python decoder: every corpus model is coded
lossless with nncodec.encode_file, then decoded by the C example (examples/c/nnz_checksums.c,
FNV-1a per tensor) and by nnz-decode (xxh64 per tensor), both built and installed here with CMake;
their listings are compared with the same checksums of the Python decoder's arrays.

    python bench/libnnz_corpus_check.py [--workdir bench/results]

Prints a table; exits non-zero on any difference.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()

    import corpus
    import nncodec
    from nncodec import _core
    from test_libnnz import fnv1a64, python_listing

    work = args.workdir / "libnnz"
    build, prefix = work / "build", work / "prefix"
    subprocess.run(["cmake", "-S", ROOT, "-B", build, "-DCMAKE_BUILD_TYPE=Release"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--build", build, "-j", "2"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(["cmake", "--install", build, "--prefix", prefix], check=True, stdout=subprocess.DEVNULL)
    example = work / "nnz_checksums"
    subprocess.run(["cc", "-std=c99", "-O2", ROOT / "examples" / "c" / "nnz_checksums.c", f"-I{prefix / 'include'}",
                    "-o", example, prefix / "lib" / "libnnz.a", "-lstdc++", "-lm", "-lpthread"], check=True)

    print("| model | tensors | decoded MB | C example = Python | nnz-decode = Python |")
    print("|---|---:|---:|---|---|")
    failures = 0
    for name, model in sorted(corpus.models().items()):
        nnz = nncodec.encode_file(model, work / (name + ".nnz"), force=True)
        with nncodec.load(nnz) as f:
            count, decoded = len(f.tensors), sum(t.decoded_bytes for t in f.tensors)
        c = subprocess.run([example, nnz], capture_output=True, text=True)
        d = subprocess.run([prefix / "bin" / "nnz-decode", nnz], capture_output=True, text=True)
        same_c = c.returncode == 0 and c.stdout == python_listing(nnz, fnv1a64)
        same_d = d.returncode == 0 and d.stdout == python_listing(
            nnz, lambda b: _core.xxhash64(np.frombuffer(b, np.uint8)))
        failures += (not same_c) + (not same_d)
        print(f"| {name} | {count} | {decoded / 1e6:.1f} | {'yes' if same_c else 'NO'} | {'yes' if same_d else 'NO'} |")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
