"""libnnz as an embedder sees it: built and installed with CMake into a temporary prefix (no
Python), the C example compiled against it with the system compiler, and its output compared with
the Python decoder on .nnz files of a real ONNX model built here with onnx.helper."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import nncodec
from nncodec import _core
from nncodec.codecs.coding import EncodeOptions
from nncodec.dtypes import NUMPY_DTYPES
from nncodec.model import TENSORS_ONLY, ModelDocument
from nncodec.nnzfile import write_document

ROOT = Path(__file__).resolve().parents[2]
JOBS = str(min(2, os.cpu_count() or 1))


def run(cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kw)


def check(cmd, **kw) -> str:
    r = run(cmd, **kw)
    assert r.returncode == 0, f"{cmd} failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return r.stdout


@pytest.fixture(scope="session")
def prefix(tmp_path_factory) -> Path:
    """libnnz configured, built and installed from this source tree, as an embedder would."""
    if not (ROOT / "csrc" / "include" / "nnz" / "nnz.h").is_file():
        pytest.fail("the source tree (csrc/) is needed to build libnnz")
    work = tmp_path_factory.mktemp("libnnz")
    check(["cmake", "-S", ROOT, "-B", work / "build", "-DCMAKE_BUILD_TYPE=Release", "-DNNZ_BUILD_LIBRARY=ON",
           "-DNNZ_BUILD_PYTHON=OFF", "-DNNZ_WERROR=ON"])
    check(["cmake", "--build", work / "build", "-j", JOBS])
    check(["cmake", "--install", work / "build", "--prefix", work / "prefix"])
    return work / "prefix"


def libdir(prefix: Path) -> Path:
    return next(p.parent for p in prefix.rglob("libnnz.a"))


def c_compiler() -> str:
    cc = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc") or shutil.which("clang")
    if not cc:
        pytest.fail("no C compiler found (set CC)")
    return cc


def build_model(path: Path) -> Path:
    """A small convolutional classifier with the tensor kinds real models have: float32 conv and
    dense weights, float16 and bfloat16 weights, int8 quantized weights with scales, int64 shapes,
    a bool flag, a scalar, and a Constant inside an If branch."""
    rng = np.random.default_rng(6)
    f32 = lambda *s: (rng.normal(0, 0.1, s)).astype(np.float32)  # noqa: E731
    bf16 = f32(24, 8).astype(NUMPY_DTYPES["bfloat16"])
    bf16_proto = helper.make_tensor("fc2.weight_bf16", TensorProto.BFLOAT16, [24, 8], bf16.view(np.uint16).tobytes(),
                                    raw=True)
    inits = [
        numpy_helper.from_array(f32(16, 3, 3, 3), "conv1.weight"),
        numpy_helper.from_array(f32(16), "conv1.bias"),
        numpy_helper.from_array(f32(32, 16, 3, 3), "conv2.weight"),
        numpy_helper.from_array(np.zeros(32, np.float32), "conv2.bias"),
        numpy_helper.from_array(f32(128, 64).astype(np.float16), "fc1.weight_f16"),
        numpy_helper.from_array(rng.integers(-127, 128, (64, 64), dtype=np.int8), "fc1.weight_q"),
        numpy_helper.from_array(np.abs(f32(64)) + 1e-3, "fc1.scale"),
        numpy_helper.from_array(np.array([-1, 512], np.int64), "flatten.shape"),
        numpy_helper.from_array(np.array(0.5, np.float32), "temperature"),
        numpy_helper.from_array(np.array(True), "use_branch"),
        bf16_proto,
    ]
    branch = lambda v: helper.make_graph(  # noqa: E731
        [helper.make_node("Constant", [], ["b"], value=numpy_helper.from_array(np.full(10, v, np.float32), "bv"))],
        "branch", [], [helper.make_tensor_value_info("b", TensorProto.FLOAT, [10])])
    nodes = [
        helper.make_node("Conv", ["x", "conv1.weight", "conv1.bias"], ["c1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["c1"], ["r1"]),
        helper.make_node("Conv", ["r1", "conv2.weight", "conv2.bias"], ["c2"], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Reshape", ["c2", "flatten.shape"], ["flat"]),
        helper.make_node("Mul", ["flat", "temperature"], ["y0"]),
        helper.make_node("If", ["use_branch"], ["offset"], then_branch=branch(1.0), else_branch=branch(0.0)),
    ]
    graph = helper.make_graph(nodes, "classifier", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y0", TensorProto.FLOAT, [1, 512]),
                               helper.make_tensor_value_info("offset", TensorProto.FLOAT, [10])], initializer=inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


@pytest.fixture(scope="session")
def nnz_files(tmp_path_factory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("models")
    model = build_model(work / "classifier.onnx")
    return {codec: nncodec.encode_file(model, work / f"classifier.{codec}.nnz", codec=codec, threads=2)
            for codec in ("lossless", "raw")}


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    return h


def xxh64(data: bytes) -> int:
    return _core.xxhash64(np.frombuffer(data, np.uint8))


def shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape)) if shape else "scalar"


def python_listing(path: Path, checksum) -> str:
    """The listing the C programs print, computed from the Python decoder's arrays."""
    with nncodec.load(path) as f:
        return "".join(f"{checksum(np.ascontiguousarray(f[t.name]).tobytes()):016x}  {t.dtype}  {shape_text(t.shape)}  "
                       f"{t.name}\n" for t in f.tensors)


@pytest.fixture(scope="session")
def example(prefix, tmp_path_factory) -> dict[str, Path]:
    """The C example built three ways: cc against the shared library, cc against the static one,
    and CMake's find_package(nnz)."""
    out = tmp_path_factory.mktemp("example")
    src = ROOT / "examples" / "c" / "nnz_checksums.c"
    lib = libdir(prefix)
    flags = ["-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror", f"-I{prefix / 'include'}"]
    check([c_compiler(), *flags, src, "-o", out / "shared", f"-L{lib}", "-lnnz", f"-Wl,-rpath,{lib}"])
    check([c_compiler(), *flags, src, "-o", out / "static", lib / "libnnz.a", "-lstdc++", "-lm", "-lpthread"])
    check(["cmake", "-S", ROOT / "examples" / "c", "-B", out / "cmake", f"-DCMAKE_PREFIX_PATH={prefix}",
           "-DNNZ_EXAMPLE_STATIC=ON"])
    check(["cmake", "--build", out / "cmake"])
    return {"shared": out / "shared", "static": out / "static", "cmake": out / "cmake" / "nnz_checksums"}


@pytest.mark.parametrize("codec", ["lossless", "raw"])
@pytest.mark.parametrize("build", ["shared", "static", "cmake"])
def test_c_example_output_matches_python_decoder(example, nnz_files, codec, build):
    path = nnz_files[codec]
    expected = python_listing(path, fnv1a64)
    assert expected.count("\n") == 13  # every tensor of the model, the If branch constants included
    out = check([example[build], path])
    assert out == expected


GOLDEN_FILES = sorted(p for p in (ROOT / "tests" / "golden").rglob("*.nnz") if not nncodec.load(p).needs_base)
DELTA = ROOT / "tests" / "golden" / "v1.2" / "delta"


def golden_listing(path: Path) -> str:
    """The listing the C programs must print for a golden file: from its committed arrays where
    it has them (the .npz beside it), else from the Python decoder (models: their decoded files
    are checked in container/test_golden.py)."""
    npz = path.with_suffix(".npz")
    if not npz.exists():
        return python_listing(path, fnv1a64)
    expected = np.load(npz)
    with nncodec.load(path) as f:
        return "".join(f"{fnv1a64(expected[t.name].tobytes()):016x}  {t.dtype}  {shape_text(t.shape)}  {t.name}\n"
                       for t in f.tensors)


@pytest.mark.parametrize("path", GOLDEN_FILES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_c_example_decodes_every_golden_file(example, path):
    assert len(GOLDEN_FILES) >= 16
    assert check([example["shared"], path]) == golden_listing(path)


@pytest.mark.parametrize("case, bases", [("tuned", ["base.nnz"]), ("chain", ["tuned.nnz"]),
                                         ("chain", ["tuned.nnz", "base.nnz"])])
def test_nnz_decode_decodes_delta_golden_files_with_their_base(prefix, case, bases, tmp_path):
    expected = np.load(DELTA / f"{case}.npz")
    with nncodec.load(DELTA / f"{case}.nnz") as f:
        want = "".join(f"{_core.xxhash64(np.frombuffer(expected[t.name].tobytes(), np.uint8)):016x}  {t.dtype}  "
                       f"{shape_text(t.shape)}  {t.name}\n" for t in f.tensors)
    args = [a for b in bases for a in ("--base", DELTA / b)]
    assert check([prefix / "bin" / "nnz-decode", *args, DELTA / f"{case}.nnz"]) == want
    r = run([prefix / "bin" / "nnz-decode", DELTA / f"{case}.nnz"])
    assert r.returncode == 1 and "give it with --base" in r.stderr
    wrong = tmp_path / "other.nnz"  # other weights of the same names, dtypes and shapes, no base of its own
    with nncodec.load(DELTA / "base.nnz") as f:
        write_document(wrong, ModelDocument(TENSORS_ONLY, {k: np.ascontiguousarray(v[::-1]) for k, v in
                                                           f.read_all().items()}), EncodeOptions())
    r = run([prefix / "bin" / "nnz-decode", "--base", wrong, DELTA / f"{case}.nnz"])
    assert r.returncode == 1 and "wrong base model" in r.stderr and len(r.stderr.splitlines()) == 1
    out = tmp_path / "restored"
    check([prefix / "bin" / "nnz-decode", "--restore", "-o", out, *args, DELTA / f"{case}.nnz"])
    restored = tmp_path / "py"
    nncodec.decode_file(DELTA / f"{case}.nnz", restored, base=DELTA / bases[0])
    assert (out / f"{case}.safetensors").read_bytes() == restored.read_bytes()


def test_nnz_decode_decodes_delta_chunks_in_mode_lanes_with_their_base(prefix):
    """Format 1.7: lane chunks in every element width, listed with the hashes of the golden arrays."""
    lanes = ROOT / "tests" / "golden" / "v1.7" / "delta"
    expected = np.load(lanes / "tuned.npz")
    with nncodec.load(lanes / "tuned.nnz") as f:
        want = "".join(f"{_core.xxhash64(np.frombuffer(expected[t.name].tobytes(), np.uint8)):016x}  {t.dtype}  "
                       f"{shape_text(t.shape)}  {t.name}\n" for t in f.tensors)
    assert check([prefix / "bin" / "nnz-decode", "--base", lanes / "base.nnz", lanes / "tuned.nnz"]) == want


def test_c_example_output_is_the_same_for_any_thread_count(example, nnz_files):
    outputs = {check([example["shared"], nnz_files["lossless"], threads]) for threads in (1, 2, 5, 0)}
    assert len(outputs) == 1


def test_c_example_reports_a_damaged_file(example, nnz_files, tmp_path):
    data = bytearray(nnz_files["lossless"].read_bytes())
    with nncodec.load(nnz_files["lossless"]) as f:
        info = f._reader.tensors()[2]  # damage the payload of one tensor
    data[info["offset"] + info["coded_bytes"] // 2] ^= 0x10
    bad = tmp_path / "bad.nnz"
    bad.write_bytes(bytes(data))
    r = run([example["shared"], bad])
    assert r.returncode == 1
    assert "checksum mismatch" in r.stderr and info["name"] in r.stderr


def test_nnz_decode_checksums_match_python_xxh64(prefix, nnz_files):
    for path in nnz_files.values():
        out = check([prefix / "bin" / "nnz-decode", path])
        assert out == python_listing(path, lambda b: _core.xxhash64(np.frombuffer(b, np.uint8)))


def test_nnz_decode_output_is_identical_for_any_thread_count_and_batch_size(prefix, nnz_files):
    path = nnz_files["lossless"]
    runs = {check([prefix / "bin" / "nnz-decode", "-j", j, "--max-memory", m, path])
            for j in (1, 2, 7) for m in (0, 5000, 1 << 30)}
    assert len(runs) == 1


def test_nnz_decode_writes_raw_files_and_manifest(prefix, nnz_files, tmp_path):
    path = nnz_files["lossless"]
    out = tmp_path / "tensors"
    check([prefix / "bin" / "nnz-decode", "-o", out, path])
    manifest = json.loads((out / "manifest.json").read_text())
    with nncodec.load(path) as f:
        assert [e["name"] for e in manifest["tensors"]] == [t.name for t in f.tensors]
        for entry, t in zip(manifest["tensors"], f.tensors):
            raw = (out / entry["file"]).read_bytes()
            assert raw == np.ascontiguousarray(f[t.name]).tobytes()
            assert entry["dtype"] == t.dtype and tuple(entry["shape"]) == t.shape and entry["bytes"] == len(raw)
    # An existing output is never touched.
    r = run([prefix / "bin" / "nnz-decode", "-o", out, path])
    assert r.returncode == 1 and "already exists" in r.stderr


def test_nnz_decode_selected_tensors_and_listing(prefix, nnz_files):
    path = nnz_files["lossless"]
    full = check([prefix / "bin" / "nnz-decode", path]).splitlines()
    one = check([prefix / "bin" / "nnz-decode", "-t", "conv2.weight", "-t", "temperature", path]).splitlines()
    assert one == [line for line in full if line.endswith(("  conv2.weight", "  temperature"))]
    listing = check([prefix / "bin" / "nnz-decode", "--list", path]).splitlines()
    with nncodec.load(path) as f:
        assert [line.split("  ")[-1] for line in listing] == [t.name for t in f.tensors]
        assert [int(line.split("  ")[3]) for line in listing] == [t.coded_bytes for t in f.tensors]
    r = run([prefix / "bin" / "nnz-decode", "-t", "no.such.tensor", path])
    assert r.returncode == 1 and "no tensor named 'no.such.tensor'" in r.stderr


def test_nnz_decode_failure_leaves_no_output(prefix, nnz_files, tmp_path):
    data = bytearray(nnz_files["lossless"].read_bytes())
    data[-len(data) // 3] ^= 0xFF  # inside the last payloads or the index
    bad = tmp_path / "bad.nnz"
    bad.write_bytes(bytes(data))
    out = tmp_path / "tensors"
    r = run([prefix / "bin" / "nnz-decode", "-o", out, bad])
    assert r.returncode == 1 and r.stderr.startswith("nnz-decode: error: ")
    assert list(tmp_path.iterdir()) == [bad]  # neither the folder nor its staging folder remains
    r = run([prefix / "bin" / "nnz-decode", bad])
    assert r.returncode == 1 and r.stdout == ""  # the listing is all or nothing
    r = run([prefix / "bin" / "nnz-decode", "--max-tensor-bytes", "100", nnz_files["lossless"]])
    assert r.returncode == 1 and "exceeds the configured limit" in r.stderr
    assert run([prefix / "bin" / "nnz-decode", "--threads", "0", bad]).returncode == 2


def test_installed_package_has_headers_config_and_pkgconfig(prefix):
    lib = libdir(prefix)
    assert (prefix / "include" / "nnz" / "nnz.h").is_file() and (prefix / "include" / "nnz" / "nnz.hpp").is_file()
    assert (lib / "cmake" / "nnz" / "nnzConfig.cmake").is_file()
    pc = (lib / "pkgconfig" / "nnz.pc").read_text()
    assert "-lnnz" in pc and f"Version: {nncodec.__version__}" in pc
    if sys.platform.startswith("linux"):
        exported = [s.split("@")[0] for s in check(["nm", "-D", "--defined-only", lib / "libnnz.so"]).split()]
        names = [s for s in exported if s.startswith("nnz_")]
        assert "nnz_open_file" in names and "nnz_decode_all" in names
        assert not [s for s in exported if s.startswith("_Z")]  # no C++ symbols leak
    out = check([prefix / "bin" / "nnz-decode", "--version"])
    assert out.strip() == f"nnz-decode (libnnz {nncodec.__version__})"


def test_nnz_decode_fails_when_its_listing_cannot_be_written(prefix, nnz_files):
    for args in ([], ["--list"]):
        with open("/dev/full", "w") as full:
            r = subprocess.run([str(prefix / "bin" / "nnz-decode"), *args, str(nnz_files["lossless"])], stdout=full,
                               stderr=subprocess.PIPE, text=True)
        assert r.returncode == 1 and "cannot write to standard output" in r.stderr


def test_nnz_decode_removes_staging_folders_of_runs_killed_a_day_ago(prefix, nnz_files, tmp_path):
    from checkers import staging_left_by

    stale, fresh = staging_left_by(tmp_path, "tensors.partial-AAAAAA", "tensors.partial-BBBBBB")
    check([prefix / "bin" / "nnz-decode", "-o", tmp_path / "tensors", nnz_files["lossless"]])
    assert not stale.exists() and fresh.exists() and (tmp_path / "tensors" / "manifest.json").is_file()
    restored = tmp_path / "restored"
    restored.mkdir()
    stale, fresh = staging_left_by(restored, ".nncodec-killed", ".nncodec-running")
    check([prefix / "bin" / "nnz-decode", "--restore", "-o", restored, nnz_files["lossless"]])
    assert not stale.exists() and fresh.exists()


@pytest.fixture(scope="session")
def restore_example(prefix, tmp_path_factory) -> Path:
    """examples/c/nnz_restore_memory.c built against the shared library."""
    out = tmp_path_factory.mktemp("restore_example") / "nnz_restore_memory"
    lib = libdir(prefix)
    check([c_compiler(), "-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror", f"-I{prefix / 'include'}",
           ROOT / "examples" / "c" / "nnz_restore_memory.c", "-o", out, f"-L{lib}", "-lnnz", f"-Wl,-rpath,{lib}"])
    return out


@pytest.fixture(scope="session")
def model_files(tmp_path_factory) -> dict[str, list[Path]]:
    """Source models of every format, each as its list of files (the model first)."""
    import torch
    from safetensors.numpy import save_file

    work = tmp_path_factory.mktemp("sources")
    onnx_dir = work / "onnx"
    onnx_dir.mkdir()
    model = onnx.load(str(build_model(work / "plain.onnx")))
    onnx.save_model(model, str(onnx_dir / "model.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
                    location="model.onnx.data", size_threshold=256)
    torch.save({"w": torch.randn(32, 16), "b": torch.arange(4, dtype=torch.int64)}, work / "model.pt")
    rng = np.random.default_rng(3)
    shards = work / "shards"
    shards.mkdir()
    save_file({"a": rng.standard_normal((64, 8)).astype(np.float32)}, str(shards / "m-1.safetensors"))
    save_file({"b": rng.standard_normal((8,)).astype(np.float32)}, str(shards / "m-2.safetensors"))
    (shards / "m.safetensors.index.json").write_text(json.dumps(
        {"metadata": {}, "weight_map": {"a": "m-1.safetensors", "b": "m-2.safetensors"}}))
    return {"plain-onnx": [work / "plain.onnx"], "onnx-external": [onnx_dir / "model.onnx", onnx_dir / "model.onnx.data"],
            "torch": [work / "model.pt"],
            "safetensors-sharded": [shards / "m.safetensors.index.json", shards / "m-1.safetensors",
                                    shards / "m-2.safetensors"]}


@pytest.mark.parametrize("kind", ["plain-onnx", "onnx-external", "torch", "safetensors-sharded"])
def test_nnz_decode_restore_gives_every_file_back_byte_for_byte(prefix, model_files, kind, tmp_path):
    files = model_files[kind]
    nnz = nncodec.encode_file(files[0], tmp_path / "m.nnz")
    out = tmp_path / "restored"
    check([prefix / "bin" / "nnz-decode", "--restore", "-o", out, nnz])
    assert sorted(p.name for p in out.rglob("*") if p.is_file()) == sorted(f.name for f in files)
    for f in files:
        assert (out / f.name).read_bytes() == f.read_bytes(), f.name
    r = run([prefix / "bin" / "nnz-decode", "--restore", "-o", out, nnz])
    assert r.returncode == 1 and "already exists" in r.stderr
    check([prefix / "bin" / "nnz-decode", "--restore", "--force", "-j", "1", "-o", out, nnz])


def test_nnz_decode_restore_of_a_lossy_file_equals_the_python_decoder(prefix, model_files, tmp_path):
    nnz = nncodec.encode_file(model_files["plain-onnx"][0], tmp_path / "m.nnz", codec="eb", params={"rel_error": 0.05})
    python = nncodec.decode_file(nnz, tmp_path / "python" / "plain.onnx")
    check([prefix / "bin" / "nnz-decode", "--restore", "-o", tmp_path / "c", nnz])
    assert (tmp_path / "c" / "plain.onnx").read_bytes() == python.read_bytes()


def test_c_example_restores_an_onnx_model_into_memory_that_onnxruntime_runs(restore_example, model_files, tmp_path):
    import onnxruntime as ort

    source = model_files["plain-onnx"][0]
    nnz = nncodec.encode_file(source, tmp_path / "m.nnz")
    listing = check([restore_example, nnz, tmp_path / "model.onnx"])
    data = source.read_bytes()
    assert listing == f"{len(data)}  {xxh64(data):016x}  plain.onnx\n"
    restored = ort.InferenceSession((tmp_path / "model.onnx").read_bytes(), providers=["CPUExecutionProvider"])
    original = ort.InferenceSession(str(source), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(0).standard_normal((1, 3, 8, 8)).astype(np.float32)
    for a, b in zip(original.run(None, {"x": x}), restored.run(None, {"x": x})):
        assert np.array_equal(a, b)


def test_c_example_lists_the_external_data_too(restore_example, model_files, tmp_path):
    files = model_files["onnx-external"]
    listing = check([restore_example, nncodec.encode_file(files[0], tmp_path / "m.nnz")])
    assert listing == "".join(f"{f.stat().st_size}  {xxh64(f.read_bytes()):016x}  {f.name}\n" for f in files)


def test_restoring_a_format_1_0_file_is_unsupported_with_a_clear_message(prefix, tmp_path):
    golden = next(p for p in GOLDEN_FILES if "onnx" in p.stem and p.parent.parent.name == "v1")
    r = run([prefix / "bin" / "nnz-decode", "--restore", "-o", tmp_path / "out", golden])
    assert r.returncode == 1 and "before format 1.1" in r.stderr


def test_nnz_decode_restore_refuses_every_hostile_file_and_touches_no_decoy(prefix, tmp_path):
    """The negative corpus's decode cases, through libnnz's restore into a folder of decoys. (One is
    left out: an ONNX model that names external data outside its files is refused by the Python
    package, which checks what the restored files hold; libnnz restores bytes, whatever the format.)"""
    sys.path.insert(0, str(ROOT / "tests" / "hostile"))
    from decoys import make_decoys

    cases = json.loads((ROOT / "tests" / "hostile" / "expected.json").read_text())
    decode_cases = [c for c in cases if c["args"][0] == "decode" and c["error"] and "--to" not in c["args"]
                    and c["name"] != "files_reference_outside.nnz"]
    assert len(decode_cases) >= 10
    for k, case in enumerate(decode_cases):
        out, victim = tmp_path / f"out{k}", tmp_path / f"victim{k}"
        make_decoys(out, victim)
        before = sorted((str(p), p.is_symlink(), p.read_bytes() if p.is_file() and not p.is_symlink() else b"")
                        for p in out.rglob("*"))
        r = run([prefix / "bin" / "nnz-decode", "--restore", "--force", "-o", out,
                 ROOT / "tests" / "hostile" / "corpus" / case["name"]])
        assert r.returncode == 1 and r.stderr.startswith("nnz-decode: error: "), (case["name"], r.stderr)
        after = sorted((str(p), p.is_symlink(), p.read_bytes() if p.is_file() and not p.is_symlink() else b"")
                       for p in out.rglob("*"))
        assert after == before, case["name"]
        assert [p.name for p in victim.iterdir()] == ["secret.txt"], case["name"]


@pytest.mark.parametrize("case", sorted(json.loads((ROOT / "tests" / "golden" / "v1.1" / "models" / "manifest.json")
                                                   .read_text())))
def test_nnz_decode_restores_every_format_1_1_golden_model(prefix, case, tmp_path):
    import hashlib

    manifest = json.loads((ROOT / "tests" / "golden" / "v1.1" / "models" / "manifest.json").read_text())[case]
    out = tmp_path / "restored"
    check([prefix / "bin" / "nnz-decode", "--restore", "-o", out, ROOT / "tests" / "golden" / "v1.1" / "models" /
           f"{case}.nnz"])
    written = {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
               for p in sorted(out.rglob("*")) if p.is_file()}
    # The Python decoder wrote the model file under the name "model" (or the folder as "model/").
    expected = {name.removeprefix("model/"): digest for name, digest in manifest["decoded"].items()}
    if "model" in expected:
        with nncodec.load(ROOT / "tests" / "golden" / "v1.1" / "models" / f"{case}.nnz") as f:
            expected[f.files()[0][0]] = expected.pop("model")
    assert written == expected
