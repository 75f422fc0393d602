"""Which tensors a lossy codec may touch (Plan.lossy_allowed), end to end through .nnz files."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

from eb_models import mlp
from nncodec import codecs as nncodec_codecs
from nncodec import decode_file, encode_file, load
from nncodec.cli import main
from nncodec.errors import NnzError
from nncodec.plan import Plan


def codecs_of(path) -> dict[str, str]:
    with load(path) as f:
        return {t.name: t.codec for t in f.tensors}


def test_default_rule_protects_biases_norms_small_and_integer_tensors(tmp_path):
    model = tmp_path / "m.onnx"
    inits = mlp(model, hidden=64)
    out = encode_file(model, tmp_path / "m.nnz", codec="eb", params={"rel_error": 0.05, "min_lossy_elems": 256})
    codecs = codecs_of(out)
    assert codecs["fc1.weight"] == "eb" and codecs["fc2.weight"] == "eb" and codecs["side.weight"] == "eb"
    with load(out) as f:
        for name in ("fc1.bias", "norm.weight", "norm.bias", "gain", "steps"):
            assert codecs[name] != "eb"
            assert np.array_equal(f[name], inits[name]), name  # bit-exact


def test_min_size_keep_lossy_and_no_protect_override(tmp_path):
    model = tmp_path / "m.onnx"
    mlp(model, hidden=64)
    # 32 x 16 = 512 elements: below the default minimum of 1024.
    assert codecs_of(encode_file(model, tmp_path / "a.nnz", codec="eb", params={"rel_error": 0.05}))["side.weight"] != "eb"
    codecs = codecs_of(encode_file(model, tmp_path / "b.nnz", codec="eb",
                                   params={"rel_error": 0.05, "min_lossy_elems": 1, "keep": ["fc2.*"], "lossy": ["norm.weight"]}))
    assert codecs["fc2.weight"] != "eb" and codecs["norm.weight"] == "eb" and codecs["side.weight"] == "eb"
    assert codecs["norm.bias"] != "eb"
    codecs = codecs_of(encode_file(model, tmp_path / "c.nnz", codec="eb", params={"rel_error": 0.05, "protect": False}))
    assert codecs["norm.bias"] == "eb"
    assert codecs["steps"] != "eb"  # integers are never lossy


@pytest.mark.parametrize("name", ["conv1.bias", "encoder.layer.0.LayerNorm.weight", "bn1.running_var", "ln_f.weight",
                                  "model.norm.weight", "blocks.3.norm1.weight", "bn.num_batches_tracked"])
def test_protected_names(name):
    assert not Plan().lossy_allowed(name, np.zeros((64, 64), np.float32))


@pytest.mark.parametrize("name", ["conv1.weight", "onnx::Conv_123", "encoder.layer.0.attention.self.query.weight",
                                  "backbone.stem.weight", "embeddings.word_embeddings.weight"])
def test_weights_are_lossy(name):
    assert Plan().lossy_allowed(name, np.zeros((64, 64), np.float32))


def test_cli_error_bound_round_trip(tmp_path, capsys):
    model = tmp_path / "m.onnx"
    inits = mlp(model, hidden=64)
    assert main(["encode", str(model), "-o", str(tmp_path / "m.nnz"), "--error", "0.01", "-q"]) == 0
    back = decode_file(tmp_path / "m.nnz", tmp_path / "back.onnx")
    decoded = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(back)).graph.initializer}
    assert np.abs(decoded["fc1.weight"].astype(np.float64) - inits["fc1.weight"]).max() <= 0.01
    assert not np.array_equal(decoded["fc1.weight"], inits["fc1.weight"])
    assert np.array_equal(decoded["fc1.bias"], inits["fc1.bias"])


@pytest.mark.parametrize("args", [["--codec", "eb"], ["--codec", "lossless", "--error", "0.1"], ["--error", "0"],
                                  ["--rel-error", "-1"], ["--error", "0.1", "--rel-error", "0.1"],
                                  ["--inputs", "x.npz"]])
def test_cli_refuses_bad_lossy_options(tmp_path, capsys, args):
    model = tmp_path / "m.onnx"
    mlp(model)
    assert main(["encode", str(model), "-o", str(tmp_path / "m.nnz"), "-q", *args]) != 0
    assert "error" in capsys.readouterr().err
    assert not (tmp_path / "m.nnz").exists()


def test_api_refuses_missing_bound(tmp_path):
    model = tmp_path / "m.onnx"
    mlp(model)
    with pytest.raises(NnzError):
        encode_file(model, tmp_path / "m.nnz", codec="eb")


@pytest.mark.parametrize("codec,params", [("eb", {"rel_error": 0.05}), ("pl", {"p": "0.05std"})])
def test_lossy_and_min_lossy_size_apply_to_every_lossy_codec(tmp_path, codec, params):
    model = tmp_path / "m.onnx"
    inits = mlp(model, hidden=256)  # side.weight: 32 x 16 = 512 elements, norm.weight a vector of 256
    default = codecs_of(encode_file(model, tmp_path / "a.nnz", codec=codec, params=params))
    assert default["fc1.weight"] == codec and default["side.weight"] != codec and default["norm.weight"] != codec
    out = encode_file(model, tmp_path / "b.nnz", codec=codec,
                      params={**params, "min_lossy_elems": 256, "lossy": ["norm.weight"]})
    codecs = codecs_of(out)
    assert codecs["side.weight"] == codec and codecs["norm.weight"] == codec and codecs["norm.bias"] != codec
    with load(out) as f:
        bound = {t.name: nncodec_codecs.describe(t.codec, t.params)["error_bound"] for t in f.tensors
                 if t.codec == codec}
        for name in ("side.weight", "norm.weight"):
            assert np.abs(f[name].astype(np.float64) - inits[name]).max() <= bound[name]


def test_cli_lossy_and_min_lossy_size_reach_pl(tmp_path):
    model = tmp_path / "m.onnx"
    mlp(model, hidden=256)
    out = tmp_path / "m.nnz"
    assert main(["encode", str(model), "-o", str(out), "--codec", "pl", "--min-lossy-size", "100",
                 "--lossy", "norm.weight", "-q"]) == 0
    codecs = codecs_of(out)
    assert codecs["side.weight"] == "pl" and codecs["norm.weight"] == "pl"
    with load(out) as f:
        assert f.meta["plan"]["lossy"] == ["norm.weight"] and f.meta["plan"]["min_lossy_elems"] == 100
