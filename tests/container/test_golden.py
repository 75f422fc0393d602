"""Committed golden files keep decoding to what they decoded to when they were written
(tests/golden/make_golden.py): of format 1.0 every codec and mode and a model of every source
format, of format 1.1 the same models and a model folder, of 1.2 delta coding, of 1.3 the codec dq,
of 1.4 the codec lossless-values, of 1.7 delta chunks in mode lanes.
libnnz decodes (and restores) the same files in test_libnnz.py."""

from __future__ import annotations

import hashlib
import json
import struct

import pytest
from checkers import GOLDEN, check_golden, golden_arrays
from nnz_reference import delta_chunks, delta_decode, parse

import nncodec

CODECS = GOLDEN / "v1" / "codecs"
CODEC_MANIFEST = json.loads((CODECS / "manifest.json").read_text())
CODECS_1_3 = GOLDEN / "v1.3" / "codecs"
CODEC_MANIFEST_1_3 = json.loads((CODECS_1_3 / "manifest.json").read_text())
CODECS_1_4 = GOLDEN / "v1.4" / "codecs"
CODEC_MANIFEST_1_4 = json.loads((CODECS_1_4 / "manifest.json").read_text())
CODECS_1_5 = GOLDEN / "v1.5" / "codecs"
CODEC_MANIFEST_1_5 = json.loads((CODECS_1_5 / "manifest.json").read_text())
MODEL_CASES = [(version, case) for version in ("v1", "v1.1")
               for case in sorted(json.loads((GOLDEN / version / "models" / "manifest.json").read_text()))]


def test_the_first_golden_file_still_decodes():
    check_golden(GOLDEN / "v1", "tensors", {"tensors": {"codecs": {
        "brain": "lossless", "conv.weight": "lossless", "double": "lossless", "empty": "raw", "half": "lossless",
        "mask": "lossless", "q": "raw", "scalar": "raw", "shape": "raw", "specials": "raw"}}})


def test_every_codec_and_mode_has_a_golden_file():
    stored = {codec for case in CODEC_MANIFEST.values() for codec in case["codecs"].values()}
    for codec in ("lossless", "raw", "eb", "pl"):
        assert codec in stored
        for mode in ("bitmap", "gaps", "runs"):
            assert f"sparse({codec}, {mode})" in stored
    assert {"pl-quantized", "pl-exact", "eb-error", "eb-rel-error", "lossless-rans"} <= set(CODEC_MANIFEST)


@pytest.mark.parametrize("case", sorted(CODEC_MANIFEST))
def test_codec_golden_file_decodes_to_its_arrays(case):
    check_golden(CODECS, case, CODEC_MANIFEST)


@pytest.mark.parametrize("case", sorted(CODEC_MANIFEST_1_3))
def test_format_1_3_codec_golden_file_decodes_to_its_arrays(case):
    check_golden(CODECS_1_3, case, CODEC_MANIFEST_1_3)
    with nncodec.load(CODECS_1_3 / f"{case}.nnz") as f:
        assert f._reader.version == (1, 3)
        assert {t.codec for t in f.tensors} <= {"dq", "sparse"}


@pytest.mark.parametrize("case", sorted(CODEC_MANIFEST_1_4))
def test_format_1_4_codec_golden_file_decodes_to_its_arrays(case):
    check_golden(CODECS_1_4, case, CODEC_MANIFEST_1_4)
    with nncodec.load(CODECS_1_4 / f"{case}.nnz") as f:
        assert f._reader.version == (1, 4)
        codecs = {t.name: t.codec for t in f.tensors}
    assert codecs["weights"] == "lossless"
    assert {codecs[name] for name in ("fake_quant", "fake_quant_f64", "repeated_rows")} == {"lossless-values"}


@pytest.mark.parametrize("case", sorted(CODEC_MANIFEST_1_5))
def test_format_1_5_codec_golden_file_decodes_to_its_arrays(case):
    check_golden(CODECS_1_5, case, CODEC_MANIFEST_1_5)
    with nncodec.load(CODECS_1_5 / f"{case}.nnz") as f:
        assert f._reader.version == (1, 5)
        layouts = {t.name: (t.params[1], int.from_bytes(t.params[2:6], "little")) for t in f.tensors
                   if t.codec == "lossless-grid"}
        codecs = {t.name: t.codec for t in f.tensors}
    assert codecs["weights"] == "lossless"
    # runs of an output channel, columns (one scale per column of 64), runs of a group of 32
    assert layouts["channels"] == (0, 64) and layouts["columns"] == (1, 64) and layouts["groups"] == (0, 32)
    assert {layouts[f"channels_{t}"] for t in ("bf16", "f16", "f64")} == {(0, 64)}


@pytest.mark.parametrize("version, case", MODEL_CASES, ids=[f"{v}/{c}" for v, c in MODEL_CASES])
def test_model_golden_file_decodes_to_the_same_files(version, case, tmp_path):
    models = GOLDEN / version / "models"
    nncodec.decode_file(models / f"{case}.nnz", tmp_path / "model")
    written = {p.relative_to(tmp_path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
               for p in sorted(tmp_path.rglob("*")) if p.is_file()}
    assert written == json.loads((models / "manifest.json").read_text())[case]["decoded"]


DELTA = GOLDEN / "v1.2" / "delta"
DELTA_1_6 = GOLDEN / "v1.6" / "delta"
DELTA_1_7 = GOLDEN / "v1.7" / "delta"
DELTA_CASES = [(folder, version, case)
               for folder, version in ((DELTA, (1, 2)), (DELTA_1_6, (1, 6)), (DELTA_1_7, (1, 7)))
               for case in sorted(json.loads((folder / "manifest.json").read_text()))]


@pytest.mark.parametrize("folder,version,case", DELTA_CASES)
def test_delta_golden_file_decodes_to_its_arrays_with_its_base(folder, version, case):
    manifest = json.loads((folder / "manifest.json").read_text())
    against = manifest[case]["base"]
    check_golden(folder, case, manifest, base=folder / against if against else None)
    with nncodec.load(folder / f"{case}.nnz") as f:
        assert f.needs_base == (against is not None) and f.base_name == against and f._reader.version == version


def test_format_1_6_copy_restores_its_files_from_the_patch_against_the_base(tmp_path):
    copy = DELTA_1_6 / "copy.nnz"
    data = copy.read_bytes()
    assert int.from_bytes(data[12:16], "little") == 1  # the index is a zlib stream
    with nncodec.load(copy) as f:
        assert f._reader.files_patched() and f.files_need_base and len(f) == 6
    back = nncodec.decode_file(copy, tmp_path / "copy.safetensors", base=DELTA_1_6 / "base.nnz")
    base = nncodec.decode_file(DELTA_1_6 / "base.nnz", tmp_path / "base.safetensors")
    assert back.read_bytes() == base.read_bytes()  # both were saved from the same tensors


def test_format_1_7_lane_chunks_decode_as_the_format_says():
    """The tuned file's delta tensors hold chunks in mode lanes (and in the other modes); the
    reference decoder of docs/FORMAT.md 5.6 and 12 gives the golden arrays from them."""
    base = golden_arrays(DELTA_1_7 / "base.npz")
    tuned = golden_arrays(DELTA_1_7 / "tuned.npz")
    modes = set()
    for t in parse((DELTA_1_7 / "tuned.nnz").read_bytes()).tensors:
        assert t.codec == "delta"
        chunk_elems = struct.unpack_from("<I", t.params, 7)[0]
        modes |= {t.payload[c.start] for c in delta_chunks(t.payload, tuned[t.name].size, chunk_elems)}
        decoded = delta_decode(t.payload, t.params, t.dtype_code, tuned[t.name].size, base[t.name].tobytes())
        assert decoded == tuned[t.name].tobytes(), t.name
    assert modes == {0, 1, 2}


def test_format_1_1_has_a_golden_model_of_every_source_format_and_a_folder():
    assert {c for v, c in MODEL_CASES if v == "v1.1"} >= {"onnx-external", "torch-zip", "torch-legacy", "torchscript",
                                                          "safetensors-sharded", "model-folder"}
    with nncodec.load(GOLDEN / "v1.1" / "models" / "onnx-external.nnz") as f:
        assert f.has_files and f._reader.version == (1, 1)
