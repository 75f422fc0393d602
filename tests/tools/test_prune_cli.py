"""`nncodec prune` end to end on real ONNX models, checked with onnxruntime."""

from __future__ import annotations

import json
import math

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import TensorProto, helper, numpy_helper

from nncodec import formats
from nncodec.cli import main
from nncodec.errors import NnzError
from nncodec.tools.prunable import matrix_view, weight_roles
from nncodec.tools.prune import PruneOptions, prune_document, prune_file


def _model(tmp_path, name="model.onnx", nan=False):
    """x(1,1,8,8) -> Conv 6x1x3x3 -> Relu -> Flatten -> MatMul (216x40) + b -> Relu -> Gemm(transB) 10x40
    plus a token path: ids -> Gather(embedding 30x16) -> MatMul(16x10)."""
    rng = np.random.default_rng(0)
    tensors = {
        "conv.weight": rng.standard_normal((6, 1, 3, 3)),
        "conv.bias": rng.standard_normal(6),
        "fc1.weight": rng.standard_normal((216, 40)) * 0.1,
        "fc1.bias": rng.standard_normal(40),
        "fc2.weight": rng.standard_normal((10, 40)),
        "fc2.bias": rng.standard_normal(10),
        "embedding": rng.standard_normal((30, 16)),
        "proj": rng.standard_normal((16, 10)),
        "shape": np.array([1, -1], dtype=np.int64),
    }
    if nan:
        tensors["fc2.weight"][3, 4] = np.nan
    inits = [numpy_helper.from_array(v if v.dtype == np.int64 else v.astype(np.float32), k) for k, v in tensors.items()]
    nodes = [
        helper.make_node("Conv", ["x", "conv.weight", "conv.bias"], ["c"]),
        helper.make_node("Relu", ["c"], ["cr"]),
        helper.make_node("Reshape", ["cr", "shape"], ["f"]),
        helper.make_node("MatMul", ["f", "fc1.weight"], ["h"]),
        helper.make_node("Add", ["h", "fc1.bias"], ["hb"]),
        helper.make_node("Relu", ["hb"], ["hr"]),
        helper.make_node("Gemm", ["hr", "fc2.weight", "fc2.bias"], ["y"], transB=1),
        helper.make_node("Gather", ["embedding", "ids"], ["e"]),
        helper.make_node("MatMul", ["e", "proj"], ["z"]),
    ]
    graph = helper.make_graph(
        nodes, "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 1, 8, 8]),
         helper.make_tensor_value_info("ids", TensorProto.INT64, [3])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 10]),
         helper.make_tensor_value_info("z", TensorProto.FLOAT, [3, 10])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)], ir_version=8)
    path = tmp_path / name
    onnx.save(model, str(path))
    return path


def _weights(path):
    return {t.name: numpy_helper.to_array(t) for t in onnx.load(str(path)).graph.initializer}


def _run(path):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    x = np.random.default_rng(1).standard_normal((1, 1, 8, 8)).astype(np.float32)
    return session.run(None, {"x": x, "ids": np.array([0, 5, 29])})


PRUNABLE = {"conv.weight", "fc1.weight", "fc2.weight", "proj"}


def test_roles_follow_the_graph(tmp_path):
    doc = formats.detect(_model(tmp_path)).read(_model(tmp_path))
    roles, skipped = weight_roles(doc)
    assert set(roles) == PRUNABLE
    assert roles["fc1.weight"].out_axis == 1 and roles["fc2.weight"].out_axis == 0
    assert roles["conv.weight"].kind == "conv" and roles["conv.weight"].out_axis == 0
    assert "embedding" in skipped["embedding"] and "bias" in skipped["fc1.bias"]
    roles, skipped = weight_roles(doc, include="^embedding$", exclude="proj")
    assert set(roles) == PRUNABLE - {"proj"} | {"embedding"}


@pytest.mark.parametrize("method", ["magnitude", "norm", "rowcol"])
@pytest.mark.parametrize("scope", ["layer", "global"])
@pytest.mark.parametrize("sparsity", [0.0, 0.5, 0.9, 1.0])
def test_prune_writes_a_working_model_that_meets_the_budget(tmp_path, method, scope, sparsity):
    model = _model(tmp_path)
    out = tmp_path / "pruned.onnx"
    assert main(["prune", str(model), "--method", method, "--sparsity", str(sparsity), "--scope", scope,
                 "-o", str(out), "-q", "--anneal-iterations", "500"]) == 0
    before, after = _weights(model), _weights(out)
    for name in before:
        if name not in PRUNABLE:
            assert np.array_equal(before[name], after[name]), name
        else:
            kept = after[name] != 0
            # Nothing is changed but set to zero.
            assert np.array_equal(after[name][kept], before[name][kept])
    removed = {n: int((after[n] == 0).sum()) for n in PRUNABLE}
    total = sum(before[n].size for n in PRUNABLE)
    if scope == "layer":
        for n in PRUNABLE:
            assert removed[n] >= math.ceil(round(sparsity * before[n].size, 9)), n
    else:
        assert sum(removed.values()) >= math.ceil(round(sparsity * total, 9))
    if method == "magnitude" and scope == "global":
        assert sum(removed.values()) == math.ceil(round(sparsity * total, 9))
    y, z = _run(out)
    assert np.isfinite(y).all() and z.shape == (3, 10)


def test_rowcol_removes_whole_rows_and_columns_and_norm_whole_units(tmp_path):
    model = _model(tmp_path)
    doc = formats.detect(model).read(model)
    roles, _ = weight_roles(doc)
    rc, report = prune_document(doc, PruneOptions(method="rowcol", sparsity=0.75, anneal_iterations=2000))
    for layer in report.layers:
        view = matrix_view(rc.tensors[layer.name], roles[layer.name]) == 0
        rows, cols = view.all(axis=1), view.all(axis=0)
        assert np.array_equal(view, rows[:, None] | cols[None, :])  # zeros are exactly rows x columns
        assert (view.shape[0] - rows.sum()) * (view.shape[1] - cols.sum()) <= 0.25 * view.size
        d = layer.detail
        assert d["loss_anneal"] <= min(d["loss_line_sums"], d["loss_conditional"]) + 1e-9
        assert layer.removed_magnitude == pytest.approx(d["loss_anneal"], rel=1e-6)
    nm, report = prune_document(doc, PruneOptions(method="norm", sparsity=0.5))
    for layer in report.layers:
        view = matrix_view(nm.tensors[layer.name], roles[layer.name]) == 0
        if layer.kind == "conv":  # kernels: (out, in) slices, all or nothing
            kernels = view.reshape(-1, 9)
            assert (kernels.all(axis=1) | ~kernels.any(axis=1)).all()
            assert layer.detail["unit"] == "kernel"
        else:  # neurons: rows of the view (out units), all or nothing
            assert (view.all(axis=1) | ~view.any(axis=1)).all()
            assert layer.detail["groups_removed"] == math.ceil(0.5 * view.shape[0])


def test_rowcol_is_reproducible_by_seed(tmp_path):
    model = _model(tmp_path)
    outs = []
    for k, seed in enumerate([5, 5]):
        out = tmp_path / f"p{k}.onnx"
        main(["prune", str(model), "--method", "rowcol", "--sparsity", "0.8", "--seed", str(seed), "-o", str(out), "-q"])
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


def test_json_report(tmp_path, capsys):
    model = _model(tmp_path)
    assert main(["prune", str(model), "--method", "rowcol", "--sparsity", "0.5", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["output"].endswith("model.pruned.onnx")
    assert {x["name"] for x in report["layers"]} == PRUNABLE
    assert all(x["removed_magnitude"] <= x["magnitude"] for x in report["layers"])
    assert report["skipped"]["fc1.bias"]


def test_refuses_overwrite_without_force(tmp_path, capsys):
    model = _model(tmp_path)
    out = tmp_path / "model.pruned.onnx"
    out.write_bytes(b"keep me")
    assert main(["prune", str(model), "--sparsity", "0.5"]) == 1
    assert "exists" in capsys.readouterr().err
    assert out.read_bytes() == b"keep me"
    assert main(["prune", str(model), "--sparsity", "0.5", "--force", "-q"]) == 0
    assert out.read_bytes() != b"keep me"


def test_bad_inputs_fail_cleanly_without_output(tmp_path, capsys):
    model = _model(tmp_path)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"\x08\x07garbage\xff\xff")
    cases = [
        [str(tmp_path / "missing.onnx"), "--sparsity", "0.5"],
        [str(junk), "--sparsity", "0.5"],
        [str(model), "--sparsity", "1.5"],
        [str(model), "--sparsity", "nan"],
        [str(model), "--sparsity", "0.5", "--include", "("],
        [str(model), "--sparsity", "0.5", "--anneal-iterations", "-1", "--method", "rowcol"],
    ]
    for args in cases:
        assert main(["prune", *args]) == 1, args
        err = capsys.readouterr().err
        assert err.startswith("nncodec: error:") and err.count("\n") == 1, err
    nan_model = _model(tmp_path, "nan.onnx", nan=True)
    assert main(["prune", str(nan_model), "--method", "rowcol", "--sparsity", "0.5"]) == 1
    assert "NaN or Inf" in capsys.readouterr().err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["junk.onnx", "model.onnx", "nan.onnx"]
    # Magnitude pruning treats NaN as the most important weight: it stays.
    out, _ = prune_file(nan_model, options=PruneOptions(sparsity=0.99))
    assert np.isnan(_weights(out)["fc2.weight"][3, 4])


def test_external_data_of_the_input_is_never_overwritten(tmp_path):
    model = _model(tmp_path)
    m = onnx.load(str(model))
    onnx.save(m, str(tmp_path / "ext.onnx"), save_as_external_data=True, all_tensors_to_one_file=True,
              location="ext.data", size_threshold=64)
    data = (tmp_path / "ext.data").read_bytes()
    with pytest.raises(NnzError, match="another folder"):
        prune_file(tmp_path / "ext.onnx", tmp_path / "ext2.onnx", options=PruneOptions(sparsity=0.5), force=True)
    assert (tmp_path / "ext.data").read_bytes() == data and not (tmp_path / "ext2.onnx").exists()
    other = tmp_path / "out"
    out, _ = prune_file(tmp_path / "ext.onnx", other / "ext.onnx", options=PruneOptions(sparsity=0.5))
    assert (other / "ext.data").exists() and _run(out)[0].shape == (1, 10)
