"""The WebAssembly decoder (web/nnz.mjs + nnz.wasm) in Node.js against the Python decoder: the
same tensor bytes for every committed golden file, the model files restored byte for byte from
freshly encoded files (format 1.1 and later), and every failure an NnzError with the library's code."""

from __future__ import annotations

import hashlib
import json
import re
import struct
from pathlib import Path

import pytest
from conftest import GOLDEN, ROOT, golden_files, node_report, python_tensors

import nncodec
from nncodec.atomic import check_member_name
from nncodec.errors import NnzError, error_class

# The array type decodeTensor returns for each dtype (web/README.md).
ARRAY_TYPES = {"float32": "Float32Array", "float64": "Float64Array", "float16": "Uint16Array",
               "bfloat16": "Uint16Array", "int8": "Int8Array", "uint8": "Uint8Array", "int16": "Int16Array",
               "uint16": "Uint16Array", "int32": "Int32Array", "uint32": "Uint32Array", "int64": "BigInt64Array",
               "uint64": "BigUint64Array", "bool": "Uint8Array"}
# torch.jit.script, writing the TorchScript model (golden.make_golden.model_sources)
pytestmark = pytest.mark.filterwarnings(r"ignore:.*deprecated.*:DeprecationWarning")


# nnz_status of the C API, as nnz.h declares it: {"CORRUPT": 1, ...}.
STATUS = {m[1].removeprefix("ERR_"): int(m[2]) for m in
          re.finditer(r"NNZ_(OK|ERR_\w+) = (\d+)", (ROOT / "csrc" / "include" / "nnz" / "nnz.h").read_text())}


def check_tensors_like_python(result: dict, base: Path | None = None) -> None:
    expected = python_tensors(result["path"], base)
    assert [t["name"] for t in result["tensors"]] == list(expected), result["path"]
    for t in result["tensors"]:
        want = expected[t["name"]]
        where = f"{result['path']}: {t['name']}"
        assert {k: t[k] for k in ("dtype", "shape", "codec", "codedBytes")} == {k: want[k] for k in
                                                                             ("dtype", "shape", "codec", "codedBytes")}, where
        assert t["decoded"].get("sha256") == want["sha256"], f"{where}: {t['decoded']}"
        assert t["viewed"] == t["decoded"], where  # withTensor's view: the same elements, no copy
        assert t["decoded"]["array"] == ARRAY_TYPES[t["dtype"]], where
        count = 1
        for d in t["shape"]:
            count *= d
        assert t["decoded"]["length"] == count, where


def check_closed_and_missing(result: dict) -> None:
    assert result["missing"]["error"]["code"] == STATUS["NOT_FOUND"]
    assert result["closed"]["error"]["code"] == STATUS["INVALID_ARGUMENT"]
    assert result["closed"]["error"]["name"] == "NnzError"


@pytest.fixture(scope="module")
def golden_report(wasm) -> dict:
    return node_report(golden_files("v1"))


@pytest.fixture(scope="module")
def golden_1_1_report(wasm) -> dict:
    return node_report(golden_files("v1.1"))


@pytest.fixture(scope="module")
def restore_report(wasm, restorable) -> dict[str, dict]:
    report = node_report([case.nnz for case in restorable.values()])
    return dict(zip(restorable, report["files"]))


def test_golden_files_of_every_codec_decode_to_the_python_decoders_bytes(golden_report):
    files = golden_report["files"]
    assert len(files) >= 16 and {r["formatVersion"] for r in files} == {"1.0"}
    codecs = set()
    for result in files:
        check_tensors_like_python(result)
        check_closed_and_missing(result)
        codecs |= {t["codec"] for t in result["tensors"]}
    assert {"lossless", "raw", "pl", "eb", "sparse"} <= codecs


@pytest.mark.parametrize("version, codec, files", [("1.3", "dq", 3), ("1.4", "lossless-values", 1),
                                                  ("1.5", "lossless-grid", 1)])
def test_golden_files_of_each_later_format_decode_to_the_python_decoders_bytes(wasm, version, codec, files):
    """The codec each minor version added, in its golden files."""
    results = node_report(golden_files(f"v{version}"))["files"]
    assert len(results) >= files and {r["formatVersion"] for r in results} == {version}
    for result in results:
        check_tensors_like_python(result)
    assert codec in {t["codec"] for r in results for t in r["tensors"]}


def test_the_modules_status_codes_are_the_c_apis(golden_report):
    assert STATUS["OK"] == 0 and STATUS["CORRUPT"] == 1 and len(STATUS) >= 10
    assert golden_report["status"] == STATUS


def test_golden_files_of_format_1_1_restore_to_the_files_their_manifest_lists(golden_1_1_report):
    manifest = json.loads((GOLDEN / "v1.1" / "models" / "manifest.json").read_text())
    assert len(golden_1_1_report["files"]) == len(manifest) >= 6
    for result in golden_1_1_report["files"]:
        check_tensors_like_python(result)
        decoded = manifest[Path(result["path"]).stem]["decoded"]  # as `nncodec decode f.nnz -o DIR/model` writes
        files = result["restore"]["files"]
        if all(name.startswith("model/") for name in decoded):  # a model folder: DIR/model/<names>
            names = [f"model/{f['name']}" for f in files]
        else:  # a model file: DIR/model, the files it refers to beside it
            names = ["model"] + [f["name"] for f in files[1:]]
        assert dict(zip(names, (f["sha256"] for f in files))) == decoded, result["path"]


def test_golden_files_of_format_1_0_cannot_be_restored_by_the_core(golden_report):
    for result in golden_report["files"]:
        error = result["restore"]["error"]
        assert (error["name"], error["code"]) == ("NnzError", STATUS["UNSUPPORTED"]), result["path"]
        assert "1.1" in error["message"]


@pytest.mark.parametrize("case", ["onnx-external", "torch-zip", "torch-legacy", "torchscript", "safetensors-sharded",
                                  "all-dtypes", "large", "example"])
def test_lossless_files_restore_byte_for_byte_to_the_original_model_files(restore_report, restorable, case):
    result = restore_report[case]
    major, minor = struct.unpack_from("<HH", restorable[case].nnz.read_bytes(), 8)  # as the encoder wrote it
    assert result["formatVersion"] == f"{major}.{minor}" and (major, minor) >= (1, 1)
    files = result["restore"]["files"]
    got = {f["name"]: f["sha256"] for f in files}
    assert got == restorable[case].originals == restorable[case].decoded
    check_tensors_like_python(result)
    check_closed_and_missing(result)


@pytest.mark.parametrize("case", ["example-eb", "example-pl"])
def test_lossy_files_restore_to_what_nncodec_decode_writes(restore_report, restorable, case):
    result = restore_report[case]
    got = {f["name"]: f["sha256"] for f in result["restore"]["files"]}
    assert got == restorable[case].decoded
    assert {t["codec"] for t in result["tensors"]} & {"eb", "pl", "sparse"}, "nothing was coded lossy"
    check_tensors_like_python(result)


def test_restore_reports_progress_up_to_the_total_size(restore_report):
    for case, result in restore_report.items():
        progress = result["restore"]["progress"]
        total = sum(f["size"] for f in result["restore"]["files"])
        assert progress["monotonic"] and progress["calls"] >= 1, case
        assert progress["last"] == [total, total], case
    assert restore_report["large"]["restore"]["progress"]["calls"] > 1


def python_outcome(path) -> type[Exception] | None:
    """The class of what the Python package raises reading every tensor of `path` (None: nothing)."""
    try:
        with nncodec.load(path, threads=1) as f:
            f.read_all()
    except NnzError as exc:
        return type(exc)
    return None


def test_damaged_files_raise_the_same_error_class_as_in_python(wasm, restorable, tmp_path):
    data = restorable["example"].nnz.read_bytes()
    middle = len(data) // 2
    cases = {"truncated.nnz": data[: len(data) // 3], "magic.nnz": b"XXXX" + data[4:],
             "flipped.nnz": data[:middle] + bytes([data[middle] ^ 0x40]) + data[middle + 1:]}
    for name, payload in cases.items():
        (tmp_path / name).write_bytes(payload)
    report = node_report([tmp_path / name for name in cases])
    for result in report["files"]:
        errors = [result.get("error")] + [t["decoded"].get("error") for t in result.get("tensors", [])]
        error = next(e for e in errors if e)  # the first failure: at open, else while decoding
        assert error["name"] == "NnzError" and error["message"], result["path"]
        assert error_class(error["code"]) is python_outcome(result["path"]), (result["path"], error)


def test_hostile_inputs_give_errors_never_traps_and_only_safe_names(wasm):
    paths = sorted((ROOT / "tests" / "hostile" / "corpus").glob("*.nnz"))
    paths += sorted((ROOT / "tests" / "fuzz" / "corpus" / "container").iterdir())
    assert len(paths) >= 20
    for result in node_report(paths)["files"]:
        outcomes = [result] + [t["decoded"] for t in result.get("tensors", [])] + [result.get("restore", {})]
        for outcome in outcomes:
            if "error" in outcome:
                assert outcome["error"]["name"] == "NnzError" and outcome["error"]["code"] in STATUS.values(), (
                    result["path"], outcome["error"])
        for f in result.get("restore", {}).get("files", []):
            check_member_name(f["name"])



DELTA = GOLDEN / "v1.2" / "delta"
# Golden files coded against a base: each one's chain of bases, nearest first.
DELTA_CHAINS = {"tuned": ["base.nnz"], "chain": ["tuned.nnz", "base.nnz"]}


def with_bases(path: Path, bases: list[Path], attach_as: str = "file", tamper: bool = False) -> str:
    """report.mjs's spec of a file to open with its chain of bases attached."""
    return json.dumps({"path": str(path), "bases": [str(b) for b in bases], "as": attach_as, "tamper": tamper})


def test_files_coded_against_a_base_list_their_tensors_and_refuse_the_delta_ones_without_it(wasm):
    """Without a base, a delta file's listing is the Python decoder's, and its delta tensors and
    its restore throw BASE."""
    path = DELTA / "tuned.nnz"
    with nncodec.load(path) as f:
        listing = {t.name: {"dtype": t.dtype, "shape": list(t.shape), "codec": t.codec, "codedBytes": t.coded_bytes}
                   for t in f.tensors}
        base = {"name": f.base_name, "tensorCount": len(f.base_tensors)}
    (result,) = node_report([path])["files"]
    assert result["formatVersion"] == "1.2" and result["base"] == base and base["tensorCount"] > 0
    assert {t["name"]: {k: t[k] for k in ("dtype", "shape", "codec", "codedBytes")} for t in result["tensors"]} == listing
    delta = [t for t in result["tensors"] if t["codec"] == "delta"]
    assert delta and all(t["decoded"]["error"]["code"] == STATUS["BASE"] for t in delta)
    assert result["restore"]["error"]["code"] == STATUS["BASE"]
    (plain,) = node_report([DELTA / "base.nnz"])["files"]
    assert plain["base"] is None


@pytest.mark.parametrize("attach_as", ["file", "tensors"])
def test_files_coded_against_a_base_decode_with_it_attached_to_the_python_decoders_bytes(wasm, attach_as):
    """A base attached as an open file (with its own base: a chain) or as tensors in JavaScript
    memory: every tensor decodes to the bytes Python decodes with the same base."""
    specs = [with_bases(DELTA / f"{name}.nnz", [DELTA / b for b in chain], attach_as) for name, chain in DELTA_CHAINS.items()]
    for result, (name, chain) in zip(node_report(specs)["files"], DELTA_CHAINS.items()):
        assert result["attach"] == {"attached": True}, result["attach"]
        assert result["base"]["name"] == chain[0]
        check_tensors_like_python(result, base=DELTA / chain[0])
        assert {t["codec"] for t in result["tensors"]} == {"delta"}


def test_delta_chunks_in_mode_lanes_decode_without_simd_to_the_python_decoders_bytes(wasm):
    """Format 1.7's lane chunks in every element width, decoded by the module's portable code (the
    native one decodes them with AVX2)."""
    lanes = GOLDEN / "v1.7" / "delta"
    (result,) = node_report([with_bases(lanes / "tuned.nnz", [lanes / "base.nnz"])])["files"]
    assert result["attach"] == {"attached": True} and result["formatVersion"] == "1.7", result["attach"]
    check_tensors_like_python(result, base=lanes / "base.nnz")
    assert {t["dtype"] for t in result["tensors"]} == {"float32", "float16", "bfloat16", "float64", "int8", "int32"}


@pytest.mark.parametrize("attach_as,tamper", [("file", False), ("tensors", True)])
def test_a_wrong_or_changed_base_is_refused_and_the_delta_tensors_stay_undecodable(wasm, attach_as, tamper):
    """Other tensors (the 1.0 golden file's), or the right ones with one bit flipped: attaching
    throws BASE naming a tensor, and the file's delta tensors still throw BASE."""
    wrong = [GOLDEN / "v1" / "tensors.nnz"] if not tamper else [DELTA / "base.nnz"]
    (result,) = node_report([with_bases(DELTA / "tuned.nnz", wrong, attach_as, tamper)])["files"]
    error = result["attach"]["error"]
    assert error["name"] == "NnzError" and error["code"] == STATUS["BASE"], error
    with nncodec.load(DELTA / "tuned.nnz") as f:
        assert any(f"'{name}'" in error["message"] for name, *_ in f.base_tensors), error["message"]
    delta = [t for t in result["tensors"] if t["codec"] == "delta"]
    assert delta and all(t["decoded"]["error"]["code"] == STATUS["BASE"] for t in delta)


@pytest.mark.parametrize("attach_as", ["file", "tensors"])
def test_a_checkpoint_coded_against_the_one_before_restores_byte_for_byte_with_its_chain(wasm, checkpoints, attach_as):
    """Safetensors checkpoints, each coded with --base the one before's .nnz: restored in the
    module with its chain of bases attached, each model file comes back byte for byte. Their files
    are a patch against the base's (format 1.6): with the base attached as tensors alone, the
    tensors decode and the restore throws BASE, asking for the base's files."""
    specs = [with_bases(c.nnz, [b.nnz for b in reversed(checkpoints[:i])], attach_as)
             for i, c in enumerate(checkpoints) if i]
    for result, c in zip(node_report(specs)["files"], checkpoints[1:]):
        assert result["attach"] == {"attached": True}, result["attach"]
        assert "delta" in {t["codec"] for t in result["tensors"]}
        if attach_as == "tensors":
            error = result["restore"]["error"]
            assert error["code"] == STATUS["BASE"] and "base model's files" in error["message"], error
        else:
            (restored,) = result["restore"]["files"]
            assert restored["sha256"] == hashlib.sha256(c.model.read_bytes()).hexdigest()
        check_tensors_like_python(result, base=Path(result["path"]).parent / result["base"]["name"])
