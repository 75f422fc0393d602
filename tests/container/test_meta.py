"""meta.json is written from typed records (JSON values, docs/FORMAT.md 9.1) and read through
nncodec.meta, which types codec_params by the codec's Settings; files of meta_version 1, whose
codec_params held Python reprs as strings, still read."""

from __future__ import annotations

import json
import zlib

import numpy as np
import onnx
import pytest
from onnx_models import mlp

import nnz_reference
import nncodec
from nncodec import meta
from nncodec.cli import main
from nncodec.errors import CorruptFileError
from nncodec.nnzfile import META_BLOB


@pytest.fixture
def model(tmp_path):
    path = tmp_path / "m.onnx"
    onnx.save(mlp(hidden=64), path)
    return path


def raw_meta(path) -> dict:
    container = nnz_reference.parse(path.read_bytes())
    blob = next(b for b in container.blobs if b.name == META_BLOB)
    return json.loads(zlib.decompress(blob.data) if blob.encoding == 1 else blob.data)


def with_meta(path, record: dict, out):
    container = nnz_reference.parse(path.read_bytes())
    blob = next(b for b in container.blobs if b.name == META_BLOB)
    blob.encoding, blob.data = 0, json.dumps(record).encode()
    out.write_bytes(nnz_reference.build(container))
    return out


def strings_in(value) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings_in(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings_in(v)]
    return [value] if isinstance(value, str) else []


@pytest.mark.parametrize("codec,params", [("lossless", {"keep": ["a*"]}), ("eb", {"error": 0.01}),
                                          ("pl", {"p": "0.02std", "positions": "exact"}), ("raw", {})])
def test_meta_holds_json_values(model, tmp_path, codec, params):
    record = raw_meta(nncodec.encode_file(model, tmp_path / "m.nnz", codec=codec, params=params))
    assert record["meta_version"] == meta.META_VERSION == 2 and record["codec"] == codec
    assert record["plan"] == {"keep": list(params.get("keep", [])), "lossy": [], "protect": True,
                              "min_lossy_elems": 1024, "sparse": "auto"}
    settings = nncodec.codecs.get(codec).settings({k: v for k, v in params.items() if k != "keep"})
    assert record["codec_params"] == settings.to_json()
    for text in strings_in({"codec_params": record["codec_params"], "plan": record["plan"]}):
        assert not text.startswith(("[", "{", "(")), text  # no repr of a list or dict
    meta.checked(record)


def test_fidelity_bounds_are_an_object_of_numbers(model, tmp_path):
    out = nncodec.encode_file(model, tmp_path / "m.nnz", target_cosine=0.999)
    bounds = raw_meta(out)["codec_params"]["error_by_tensor"]
    assert bounds and all(isinstance(v, float) and v > 0 for v in bounds.values())


def test_old_files_with_reprs_still_read(model, tmp_path, capsys):
    out = nncodec.encode_file(model, tmp_path / "m.nnz", codec="eb", params={"error": 0.01})
    record = raw_meta(out)
    old = {k: v for k, v in record.items() if k != "plan"}
    old.update(meta_version=1, codec_params={"keep": "[]", "lossy": "[]", "protect": True, "sparse": "auto",
                                             "error_by_tensor": "{'fc1.weight': 0.0052}"})
    crafted = with_meta(out, old, tmp_path / "old.nnz")
    with nncodec.load(crafted) as f:
        assert f.meta["codec_params"]["keep"] == "[]"
        f.read_all()
    assert main(["info", "--json", str(crafted)]) == 0
    summary = json.loads(capsys.readouterr().out)["summary"]
    assert summary["codec"] == "eb" and summary["codec_params"]["keep"] == "[]"  # shown as stored
    assert main(["decode", str(crafted), "-o", str(tmp_path / "back.onnx"), "-q"]) == 0


def test_codec_params_are_typed_by_the_codec(model, tmp_path):
    out = nncodec.encode_file(model, tmp_path / "m.nnz", codec="eb", params={"error": 0.01})
    record = raw_meta(out)
    assert meta.codec_fields(record)["codec_params.error_by_tensor{}"] == (int, float)
    for bad in ({"error": "0.01"}, {"error_by_tensor": {"w": "x"}}, {"error_by_tensor": []}):
        crafted = with_meta(out, {**record, "codec_params": bad}, tmp_path / "bad.nnz")
        with nncodec.load(crafted) as f, pytest.raises(CorruptFileError, match="bad.nnz: .*codec_params"):
            f.meta  # read on first use
    assert meta.codec_fields({**record, "meta_version": 1}) == {}
    assert meta.codec_fields({**record, "codec": "unknown"}) == {}
    assert np.isfinite(record["codec_params"]["error"])
