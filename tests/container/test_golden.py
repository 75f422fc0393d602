"""Committed golden files of format version 1.0 keep decoding to what they decoded to when they
were written (tests/golden/make_golden.py): every codec and mode, and a model of every source
format. libnnz decodes the same files in test_libnnz.py."""

from __future__ import annotations

import hashlib
import json

import pytest
from checkers import GOLDEN, check_golden

import nncodec

CODECS = GOLDEN / "v1" / "codecs"
MODELS = GOLDEN / "v1" / "models"
CODEC_MANIFEST = json.loads((CODECS / "manifest.json").read_text())
MODEL_MANIFEST = json.loads((MODELS / "manifest.json").read_text())


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


@pytest.mark.parametrize("case", sorted(MODEL_MANIFEST))
def test_model_golden_file_decodes_to_the_same_files(case, tmp_path):
    nncodec.decode_file(MODELS / f"{case}.nnz", tmp_path / "model")
    written = {p.relative_to(tmp_path).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
               for p in sorted(tmp_path.rglob("*")) if p.is_file()}
    assert written == MODEL_MANIFEST[case]["decoded"]
