"""libnnz decodes and restores the real corpus exactly like the Python decoder: every corpus model
(and the bundled example) is coded lossless with nncodec.encode_file, then decoded by the C example
(examples/c/nnz_checksums.c, FNV-1a per tensor) and by nnz-decode (xxh64 per tensor), both built
and installed here with CMake, their listings compared with the same checksums of the Python
decoder's arrays; then ``nnz-decode --restore`` must give the model's files byte for byte, and,
for the model coded lossily (eb, --rel-error 0.02), the very files ``nncodec decode`` writes.

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
sys.path.insert(0, str(ROOT / "tests" / "container"))


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

    print("| model | tensors | decoded MB | C example = Python | nnz-decode = Python | restore = original | "
          "restore (eb) = nncodec decode |")
    print("|---|---:|---:|---|---|---|---|")
    failures = 0
    models = {**corpus.models(), "example__tiny_cnn.onnx": ROOT / "examples" / "models" / "tiny_cnn.onnx"}
    for name, model in sorted(models.items()):
        nnz = nncodec.encode_file(model, work / (name + ".nnz"), force=True)
        with nncodec.load(nnz) as f:
            count, decoded = len(f.tensors), sum(t.decoded_bytes for t in f.tensors)
        c = subprocess.run([example, nnz], capture_output=True, text=True)
        d = subprocess.run([prefix / "bin" / "nnz-decode", nnz], capture_output=True, text=True)
        same_c = c.returncode == 0 and c.stdout == python_listing(nnz, fnv1a64)
        same_d = d.returncode == 0 and d.stdout == python_listing(
            nnz, lambda b: _core.xxhash64(np.frombuffer(b, np.uint8)))
        restored = restore_matches(prefix, nnz, work / "restored",
                                   lambda folder: (folder / model.name).read_bytes() == model.read_bytes())
        lossy = nncodec.encode_file(model, work / (name + ".eb.nnz"), force=True, codec="eb", params={"rel_error": 0.02})
        python = nncodec.decode_file(lossy, work / "python" / model.name, force=True)
        lossy_same = restore_matches(prefix, lossy, work / "restored-eb",
                                     lambda folder: (folder / model.name).read_bytes() == python.read_bytes())
        failures += sum(not ok for ok in (same_c, same_d, restored, lossy_same))
        print(f"| {name} | {count} | {decoded / 1e6:.1f} | " + " | ".join(
            "yes" if ok else "NO" for ok in (same_c, same_d, restored, lossy_same)) + " |")
    return 1 if failures else 0


def restore_matches(prefix: Path, nnz: Path, folder: Path, same) -> bool:
    """Whether ``nnz-decode --restore`` of ``nnz`` into ``folder`` gives what ``same(folder)`` wants."""
    import shutil

    shutil.rmtree(folder, ignore_errors=True)
    r = subprocess.run([prefix / "bin" / "nnz-decode", "--restore", "-o", folder, nnz], capture_output=True, text=True)
    return r.returncode == 0 and same(folder)


if __name__ == "__main__":
    sys.exit(main())
