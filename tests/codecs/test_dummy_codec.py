"""Adding a codec takes its module alone (docs/ADDING_A_CODEC.md, Python): a codec defined in this
file, registered through the interface, goes through the writer and the container, the CLI (its
own flag from add_cli_args, --codec, info), meta.json (its settings typed by its Settings) and
the corruption harness, with no other file edited.

Its coding is the C++ raw codec's (a new id needs its C++ folder too: tests/cpp/
codec_unit_tests.cpp shows that half); everything on the Python side is its own."""

from __future__ import annotations

import argparse
import io
import json
from contextlib import redirect_stdout
from dataclasses import dataclass

import numpy as np
import onnx
import pytest
from checkers import check_corruption, check_roundtrip, file_decoder, same_bits
from onnx import numpy_helper
from onnx_models import mlp

import nncodec
from nncodec import _core, codecs
from nncodec.cli import main
from nncodec.codecs.coding import EncodeOptions, encode_array
from nncodec.dtypes import dtype_name, element_bytes
from nncodec.errors import NnzError


@dataclass(frozen=True)
class CopySettings(codecs.Settings):
    """``tag``: a label of 1 to 32 characters, recorded in meta.json."""

    tag: str = "copy"

    def __post_init__(self) -> None:
        if not isinstance(self.tag, str) or not 1 <= len(self.tag) <= 32:
            raise NnzError("tag must be 1 to 32 characters")


class Copy(codecs.Codec):
    id = "copy-test"
    Settings = CopySettings
    summary = "the elements as they are (a test codec)"

    def encode(self, array, settings, options):
        return _core.encode_raw(element_bytes(array), dtype_name(array.dtype))

    def add_cli_args(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument_group("copy-test settings").add_argument("--copy-tag", default=None)

    def params_from_args(self, args: argparse.Namespace) -> dict:
        return {"tag": args.copy_tag} if getattr(args, "copy_tag", None) is not None else {}


@pytest.fixture
def copy_codec(monkeypatch):
    monkeypatch.setattr(codecs, "_REGISTRY", dict(codecs._REGISTRY))  # registered for this test only
    return codecs.register(Copy())


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(mlp(hidden=64), path)
    return path


def initializers(path) -> dict[str, np.ndarray]:
    return {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}


def test_round_trip_through_the_writer_and_the_container(copy_codec, model, tmp_path):
    w = np.where(np.random.default_rng(0).random((64, 64)) < 0.9, 0, 1.5).astype(np.float32)
    assert encode_array("w", w, EncodeOptions(codec="copy-test")).codec == "sparse"  # the layer over it
    check_roundtrip(copy_codec.encode(w, CopySettings(), EncodeOptions()), w)
    out = nncodec.encode_file(model, tmp_path / "m.nnz", codec="copy-test", params={"tag": "mine"})
    with nncodec.load(out) as f:
        assert f.meta["codec"] == "copy-test" and f.meta["codec_params"] == {"tag": "mine"}
        assert {t.codec for t in f.tensors} <= {"raw", "sparse"}
    back = nncodec.decode_file(out, tmp_path / "back.onnx")
    for name, array in initializers(model).items():
        assert same_bits(initializers(back)[name], array)


def test_cli_takes_its_flag_and_lists_it(copy_codec, model, tmp_path, capsys):
    nnz = tmp_path / "m.nnz"
    assert main(["encode", str(model), "-o", str(nnz), "--copy-tag", "cli", "-q"]) == 0  # its flag implies it
    assert main(["info", "--json", str(nnz)]) == 0
    rows = json.loads(capsys.readouterr().out)["tensors"]
    assert all(r["max_error"] == 0 for r in rows)
    with nncodec.load(nnz) as f:
        assert f.meta["codec_params"] == {"tag": "cli"}
    assert main(["encode", str(model), "-o", str(nnz), "--codec", "lossless", "--copy-tag", "x", "-q", "-f"]) == 2
    assert "apply to --codec copy-test" in capsys.readouterr().err
    with redirect_stdout(io.StringIO()) as help_text, pytest.raises(SystemExit):
        main(["encode", "--help"])
    assert "copy-test: the elements as they are" in " ".join(help_text.getvalue().split())  # however it wraps


def test_bad_settings_and_damaged_files(copy_codec, model, tmp_path):
    with pytest.raises(NnzError, match="tag"):
        nncodec.encode_file(model, tmp_path / "bad.nnz", codec="copy-test", params={"tag": ""})
    out = nncodec.encode_file(model, tmp_path / "m.nnz", codec="copy-test")
    with nncodec.load(out) as f:
        expected = f.read_all()
    intact = lambda got: all(same_bits(got[k], v) for k, v in expected.items())  # noqa: E731
    assert check_corruption(out.read_bytes(), file_decoder(tmp_path / "damaged.nnz"), intact) > 0.9
