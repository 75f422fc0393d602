"""`nncodec compare`, `nncodec verify`, `encode --codec pl` and `info` on a real (generated) ONNX
model run by onnxruntime."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import nncodec
from nncodec.cli import main
from nncodec.codecs import pl
from nncodec.errors import NnzError
from nncodec.tools.compare import compare_file
from nncodec.tools.verify import verify


def classifier(path: Path, seed: int = 0, inputs: int = 64, hidden: int = 128, classes: int = 10) -> Path:
    """x[N, inputs] -> MatMul -> Add -> Relu -> MatMul -> Add -> Softmax: probabilities[N, classes]."""
    rng = np.random.default_rng(seed)
    w1 = (rng.standard_normal((inputs, hidden)) / np.sqrt(inputs)).astype(np.float32)
    b1 = (0.1 * rng.standard_normal(hidden)).astype(np.float32)
    w2 = (rng.standard_normal((hidden, classes)) / np.sqrt(hidden)).astype(np.float32)
    b2 = (0.1 * rng.standard_normal(classes)).astype(np.float32)
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h0"]), helper.make_node("Add", ["h0", "b1"], ["h1"]),
             helper.make_node("Relu", ["h1"], ["h"]), helper.make_node("MatMul", ["h", "w2"], ["z0"]),
             helper.make_node("Add", ["z0", "b2"], ["z"]), helper.make_node("Softmax", ["z"], ["probs"], axis=-1)]
    graph = helper.make_graph(
        nodes, "classifier",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["batch", inputs])],
        [helper.make_tensor_value_info("probs", TensorProto.FLOAT, ["batch", classes])],
        [numpy_helper.from_array(a, n) for n, a in (("w1", w1), ("b1", b1), ("w2", w2), ("b2", b2))])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


@pytest.fixture
def model(tmp_path: Path) -> Path:
    return classifier(tmp_path / "clf.onnx")


def test_compare_json_totals_ratios_and_bound(model, capsys):
    assert main(["compare", str(model), "--p", "0.02std", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    rows = {t["name"]: t for t in result["tensors"]}
    weights = onnx.load(str(model)).graph.initializer
    for init in weights:
        a = numpy_helper.to_array(init)
        assert rows[init.name]["sizes"]["dense"] == a.nbytes
    assert rows["w1"]["codec"] == "pl" and rows["w1"]["max_error"] <= rows["w1"]["error_bound"]
    assert rows["b1"]["codec"] == "lossless"  # 1-D: never touched by PL
    for col in ("dense", "csr32", "csr", "cer", "cser", "lossless", "pl"):
        assert result["total"][col] == sum(t["sizes"][col] for t in result["tensors"])
        assert result["ratio_vs_dense"][col] == pytest.approx(result["total"]["dense"] / result["total"][col])
        assert result["size_vs_csr32"][col] == pytest.approx(result["total"][col] / result["total"]["csr32"])
    assert result["total"]["pl"] < result["total"]["lossless"] < result["total"]["dense"] < result["total"]["csr32"]
    assert 0 < result["pl_worst_error_over_p"] <= 1
    bpw = result["pl_bits_per_weight"]
    assert bpw["total"] == pytest.approx(sum(v for k, v in bpw.items() if k != "total"))


def test_compare_table_and_plot(model, tmp_path, capsys):
    png = tmp_path / "ratios.png"
    assert main(["compare", str(model), "--plot", str(png)]) == 0
    out = capsys.readouterr().out
    assert "ratio vs dense" in out and "size vs CSR32" in out and "PL bits per weight" in out
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_tighter_p_costs_more_bytes(model):
    loose = compare_file(model, {"p": "0.02std"}).total()["pl"]
    tight = compare_file(model, {"p": "0.0002std"}).total()["pl"]
    exact = compare_file(model, {"p": "0.02std", "positions": "exact", "pd": 0.05}).total()["pl"]
    assert loose < tight and loose < exact


def test_encode_pl_then_verify_and_info(model, tmp_path, capsys):
    nnz = tmp_path / "clf.nnz"
    assert main(["encode", str(model), "--codec", "pl", "--p", "0.01std", "-o", str(nnz), "-q"]) == 0
    assert main(["info", str(nnz), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    rows = {t["name"]: t for t in info["tensors"]}
    assert rows["w1"]["codec"] == "pl" and 0 < rows["w1"]["max_error"] <= rows["w1"]["error_bound"]
    assert rows["b1"]["max_error"] == 0
    assert main(["info", str(nnz)]) == 0
    assert "max err" in capsys.readouterr().out

    decoded = nncodec.decode_file(nnz, tmp_path / "out" / "clf.onnx")
    original = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(model)).graph.initializer}
    rebuilt = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(decoded)).graph.initializer}
    assert np.array_equal(original["b1"], rebuilt["b1"])
    bound = rows["w1"]["error_bound"]
    assert np.abs(original["w1"].astype(np.float64) - rebuilt["w1"]).max() <= bound

    report = verify(model, decoded)
    assert "generated from the input signature" in report.inputs
    (probs,) = report.outputs
    assert probs.top1 is not None and probs.top1 > 0.9
    assert report.min_cosine > 0.999 and report.max_rel_l2 < 0.05
    assert main(["verify", str(model), str(nnz)]) == 0  # a .nnz is decoded first
    assert "pass --inputs" in capsys.readouterr().out


def test_verify_with_inputs_file_identical_models_and_threshold(model, tmp_path, capsys):
    npz = tmp_path / "inputs.npz"
    np.savez(npz, x=np.random.default_rng(5).standard_normal((3, 64)).astype(np.float32))
    report = verify(model, model, npz)
    assert report.inputs == f"from {npz}" and report.samples == 1
    assert report.min_cosine == pytest.approx(1.0) and report.max_rel_l2 == 0
    other = classifier(tmp_path / "other.onnx", seed=1)
    assert main(["verify", str(model), str(other), "--inputs", str(npz), "--min-cosine", "0.9999"]) == 1
    capsys.readouterr()
    assert main(["verify", str(model), str(other), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["min_cosine"] < 0.9999


def test_verify_reads_the_runs_of_a_calibration_file(model, tmp_path):
    """The .npz given to `encode --inputs` (NAME#i per run) checks the decoded model too."""
    rng = np.random.default_rng(6)
    runs = [rng.standard_normal((2, 64)).astype(np.float32) for _ in range(3)]
    npz = tmp_path / "calib.npz"
    np.savez(npz, **{f"x#{i}": x for i, x in enumerate(runs)})
    other = classifier(tmp_path / "other.onnx", seed=1)
    report = verify(model, other, npz)
    direct = verify(model, other, feeds=[{"x": x} for x in runs])
    assert report.samples == 3 and report.min_cosine == direct.min_cosine < 0.9999
    np.savez(npz, **{"x#0": runs[0], "y#1": runs[1]})
    with pytest.raises(NnzError, match="run 1 lacks model input"):
        verify(model, other, npz)


def test_verify_errors_are_clear(model, tmp_path, capsys):
    bad = tmp_path / "bad.npz"
    np.savez(bad, y=np.zeros((1, 64), np.float32))
    with pytest.raises(NnzError, match="lacks model input"):
        verify(model, model, bad)
    wide = classifier(tmp_path / "wide.onnx", inputs=32)
    with pytest.raises(NnzError, match="inference failed"):
        verify(model, wide, shapes={"x": [1, 64]})
    assert main(["verify", str(model), str(tmp_path / "missing.onnx")]) == 1
    assert "no such file" in capsys.readouterr().err
    assert main(["encode", str(model), "--codec", "pl", "--p", "nonsense", "-q"]) == 1
    assert "p must be" in capsys.readouterr().err
    assert main(["encode", str(model), "--codec", "lossless", "--p", "0.1", "-q"]) == 2
    assert "apply to --codec pl" in capsys.readouterr().err
    assert main(["encode", str(model), "--p", "0.1", "-q", "-f"]) == 0  # pl's settings imply --codec pl
    with nncodec.load(model.with_suffix(".nnz")) as f:
        assert f.meta["codec"] == "pl"


def test_default_settings_are_documented_values():
    s = pl.PlSettings.from_params({})
    assert (s.p, s.relative, s.pm, s.exact_positions, s.block) == (0.0002, True, 1, False, 1 << 16)
    assert pl.PlSettings.from_params({"positions": "exact"}).block is None  # one row
