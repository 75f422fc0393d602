"""Calibrated rounding: the patches it sees, its grid and one-step bound, and what it buys."""

from __future__ import annotations

import json

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from onnx import TensorProto, helper, numpy_helper

from nncodec import encode_file, load
from nncodec.calibrated import CalibratedRounding, Feedback, LayerInputs, conv_vectors, round_rows
from nncodec.cli import main
from nncodec.fidelity import APART_SUFFIX, OnnxEvaluator
from nncodec.formats import onnx_format


def _session(nodes, inputs, outputs, inits) -> ort.InferenceSession:
    graph = helper.make_graph(nodes, "g", inputs, outputs, [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])


@settings(max_examples=30, deadline=None)
@given(rank=st.sampled_from([1, 2]), groups=st.sampled_from([1, 2, 4]), kernel=st.integers(1, 3),
       stride=st.integers(1, 2), dilation=st.integers(1, 2), pads=st.lists(st.integers(0, 2), min_size=4, max_size=4),
       seed=st.integers(0, 2**16))
def test_conv_vectors_are_what_onnxruntime_convolves(rank, groups, kernel, stride, dilation, pads, seed):
    rng = np.random.default_rng(seed)
    cin, cout, size = 4, 2 * groups, 7
    x = rng.standard_normal((2, cin, *([size] * rank))).astype(np.float32)
    w = rng.standard_normal((cout, cin // groups, *([kernel] * rank))).astype(np.float32)
    attrs = dict(group=groups, strides=[stride] * rank, dilations=[dilation] * rank, pads=pads[:2 * rank])
    session = _session([helper.make_node("Conv", ["x", "w"], ["y"], **attrs)],
                       [helper.make_tensor_value_info("x", TensorProto.FLOAT, x.shape)],
                       [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], {"w": w})
    y = session.run(["y"], {"x": x})[0]                      # [N, cout, *out]
    vectors = conv_vectors(x.astype(np.float64), w.shape[2:], groups, attrs["strides"], attrs["pads"],
                           attrs["dilations"])               # [groups, N * positions, cols]
    rows = w.reshape(groups, cout // groups, -1).astype(np.float64)
    mine = np.matmul(vectors, rows.transpose(0, 2, 1))        # [groups, N * positions, cout/groups]
    n = x.shape[0]
    expected = y.reshape(n, groups, cout // groups, -1).transpose(1, 0, 3, 2).reshape(mine.shape)
    np.testing.assert_allclose(mine, expected, rtol=1e-4, atol=1e-4)


def _moments(x: np.ndarray, layout: str = "in_out") -> LayerInputs:
    """The LayerInputs of input vectors x ([groups, n, cols] or [n, cols])."""
    x = x if x.ndim == 3 else x[None]
    return LayerInputs(layout, np.matmul(x.transpose(0, 2, 1), x), samples=x.shape[1], sums=x.sum(axis=1))


def _correlated_inputs(rng, n: int, cols: int, rank: int) -> np.ndarray:
    """Input vectors concentrated in a few directions, as layer inputs are; some columns dead."""
    x = rng.standard_normal((n, rank)) @ rng.standard_normal((rank, cols)) + 0.05 * rng.standard_normal((n, cols))
    x[:, rng.random(cols) < 0.1] = 0.0
    return x


@settings(max_examples=60, deadline=None)
@given(rows=st.integers(1, 12), cols=st.integers(1, 40), groups=st.integers(1, 3),
       log_step=st.floats(-12, 3), scale=st.sampled_from([1e-30, 1e-3, 1.0, 1e6]), seed=st.integers(0, 2**16))
def test_every_weight_goes_to_its_floor_or_ceiling_on_the_grid(rows, cols, groups, log_step, scale, seed):
    rng = np.random.default_rng(seed)
    step = 2.0 ** log_step
    w = rng.standard_normal((groups, rows, cols)) * scale
    w[..., 0] = np.round(w[..., 0] / step) * step  # some weights exactly on the grid
    x = np.stack([_correlated_inputs(rng, 3 * cols + 1, cols, max(1, cols // 4)) for _ in range(groups)])
    q = round_rows(w, Feedback.of(_moments(x)), step)
    assert np.all((q == np.floor(w / step)) | (q == np.ceil(w / step)))
    assert np.all(np.abs(q * step - w) <= step * (1 + 1e-12))


@pytest.mark.parametrize("seed", range(6))
def test_layer_outputs_move_less_than_with_nearest_rounding(seed):
    rng = np.random.default_rng(seed)
    rows, cols = 24, 64
    x = _correlated_inputs(rng, 4000, cols, 8)
    w = rng.standard_normal((rows, cols))
    step = 0.2
    q = round_rows(w[None], Feedback.of(_moments(x)), step)[0]
    calibrated = np.linalg.norm((q * step - w) @ x.T)
    nearest = np.linalg.norm((np.rint(w / step) * step - w) @ x.T)
    assert calibrated < 0.6 * nearest


def _after_relu(rng, n: int, mix: np.ndarray) -> np.ndarray:
    """Inputs as a layer after a ReLU meets them: correlated, all >= 0, so their mean is far from 0."""
    return np.maximum(rng.standard_normal((n, mix.shape[0])) @ mix + 0.3 * rng.standard_normal((n, mix.shape[1])), 0)


@pytest.mark.parametrize("seed", range(6))
def test_with_few_vectors_the_rounding_cancels_the_mean_error_on_new_inputs(seed):
    """As many calibration vectors as columns: H is shrunk all the way to its mean part and
    diagonal, which such a sample pins down. Rows' errors then cancel through the mean input, also
    on inputs the rounding never saw, and the outputs there move less than with nearest rounding."""
    rng = np.random.default_rng(seed)
    rows, cols = 32, 128
    mix = rng.standard_normal((8, cols))
    seen, new = _after_relu(rng, cols, mix), _after_relu(rng, 5000, mix)
    w = rng.standard_normal((rows, cols))
    step = 0.2
    q = round_rows(w[None], Feedback.of(_moments(seen)), step)[0]
    nearest = np.rint(w / step)
    mean_shift = {k: np.abs((v * step - w) @ new.mean(axis=0)).mean() for k, v in (("cal", q), ("near", nearest))}
    moved = {k: np.linalg.norm((v * step - w) @ new.T) for k, v in (("cal", q), ("near", nearest))}
    assert mean_shift["cal"] < 0.3 * mean_shift["near"]
    assert moved["cal"] < 0.9 * moved["near"]


def test_tensors_it_cannot_round_are_returned_unchanged():
    rng = np.random.default_rng(1)
    x = rng.standard_normal((100, 8))
    enough = _moments(x[:8])
    too_few = _moments(x[:7])
    rounding = CalibratedRounding({"a": enough, "b": too_few})
    w = rng.standard_normal((8, 3)).astype(np.float32)
    assert "a" in rounding and "b" not in rounding
    assert rounding("b", w, 0.1) is w and rounding("c", w, 0.1) is w
    nan = w.copy()
    nan[0, 0] = np.nan
    assert rounding("a", nan, 0.1) is nan
    assert rounding("a", w.astype(np.float16), 0.1).dtype == np.float16  # not float32/64: unchanged
    rounded = rounding("a", w, 0.1)
    assert rounded.dtype == np.float32 and np.all(np.abs(rounded.astype(np.float64) - w) <= 0.2 * (1 + 1e-6))


# ---------------------------------------------------------------------------------------------
# ONNX: layer inputs gathered with onnxruntime, and fidelity-targeted encoding end to end


def _cnn(path, rng) -> dict[str, np.ndarray]:
    """conv 3x3 (3 -> 16) relu, grouped conv 3x3 (16 -> 32, 2 groups) relu, global pool, Gemm (transB)
    and a MatMul head."""
    inits = {
        "c1.w": (rng.standard_normal((16, 3, 3, 3)) * 0.3).astype(np.float32),
        "c1.b": (rng.standard_normal(16) * 0.1).astype(np.float32),
        "c2.w": (rng.standard_normal((32, 8, 3, 3)) * 0.15).astype(np.float32),
        "fc.w": (rng.standard_normal((48, 32)) * 0.2).astype(np.float32),
        "head.w": (rng.standard_normal((48, 10)) * 0.2).astype(np.float32),
    }
    nodes = [
        helper.make_node("Conv", ["x", "c1.w", "c1.b"], ["a1"], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["a1"], ["r1"]),
        helper.make_node("Conv", ["r1", "c2.w"], ["a2"], pads=[1, 1, 1, 1], strides=[2, 2], group=2),
        helper.make_node("Relu", ["a2"], ["r2"]),
        helper.make_node("GlobalAveragePool", ["r2"], ["p"]),
        helper.make_node("Flatten", ["p"], ["f"]),
        helper.make_node("Gemm", ["f", "fc.w"], ["g"], transB=1),
        helper.make_node("Relu", ["g"], ["rg"]),
        helper.make_node("MatMul", ["rg", "head.w"], ["y"]),
    ]
    graph = helper.make_graph(nodes, "cnn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 10])],
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return inits


def _smooth_images(rng, n: int) -> np.ndarray:
    """Images whose neighbouring pixels are correlated, as in photographs."""
    x = np.cumsum(np.cumsum(rng.standard_normal((n, 3, 16, 16)), axis=2), axis=3)
    return ((x - x.mean()) / x.std()).astype(np.float32)


@pytest.fixture
def cnn(tmp_path):
    rng = np.random.default_rng(3)
    model = tmp_path / "cnn.onnx"
    inits = _cnn(model, rng)
    x = _smooth_images(rng, 60)
    inputs = tmp_path / "calib.npz"
    np.savez(inputs, **{f"x#{i}": x[20 * i:20 * i + 20] for i in range(3)})
    return model, inputs, x, inits


def test_layer_inputs_are_the_second_moments_of_what_each_layer_meets(cnn):
    model, inputs, x, inits = cnn
    layers = OnnxEvaluator(onnx_format.read(model), inputs).layer_inputs(["c1.w", "c2.w", "fc.w", "head.w", "c1.b"])
    assert {n: li.layout for n, li in layers.items()} == {"c1.w": "conv", "c2.w": "conv", "fc.w": "out_in",
                                                           "head.w": "in_out"}
    v1 = conv_vectors(x.astype(np.float64), (3, 3), 1, [1, 1], [1, 1, 1, 1], [1, 1])
    np.testing.assert_allclose(layers["c1.w"].hessians, np.matmul(v1.transpose(0, 2, 1), v1), rtol=1e-9)
    assert layers["c1.w"].samples == 60 * 16 * 16
    # The second conv meets relu(conv1(x)): built from the verified patches.
    r1 = np.maximum(v1[0] @ inits["c1.w"].reshape(16, -1).T.astype(np.float64) + inits["c1.b"], 0)
    r1 = r1.reshape(60, 16, 16, 16).transpose(0, 3, 1, 2)
    v2 = conv_vectors(r1, (3, 3), 2, [2, 2], [1, 1, 1, 1], [1, 1])
    np.testing.assert_allclose(layers["c2.w"].hessians, np.matmul(v2.transpose(0, 2, 1), v2), rtol=1e-4)
    assert layers["c2.w"].hessians.shape == (2, 72, 72) and layers["fc.w"].hessians.shape == (1, 32, 32)
    np.testing.assert_allclose(layers["c2.w"].sums, v2.sum(axis=1), rtol=1e-6)
    # From the runs given: the first of three (20 images).
    evaluator = OnnxEvaluator(onnx_format.read(model), inputs)
    first = evaluator.layer_inputs(["c1.w"], evaluator.runs[:1])["c1.w"]
    v1_first = conv_vectors(x[:20].astype(np.float64), (3, 3), 1, [1, 1], [1, 1, 1, 1], [1, 1])
    assert first.samples == 20 * 16 * 16
    np.testing.assert_allclose(first.hessians, np.matmul(v1_first.transpose(0, 2, 1), v1_first), rtol=1e-9)
    np.testing.assert_allclose(first.sums, v1_first.sum(axis=1), rtol=1e-9)


def _run(path, x) -> np.ndarray:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(["y"], {"x": x})[0]


def _cosine(a, b) -> float:
    a, b = a.astype(np.float64).reshape(-1), b.astype(np.float64).reshape(-1)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def test_calibrated_rounding_meets_the_target_in_a_smaller_file(tmp_path, cnn, capsys):
    model, inputs, x, inits = cnn
    params = {"min_lossy_elems": 256}
    sizes, weights = {}, {}
    for rounding in ("nearest", "calibrated"):
        out = encode_file(model, tmp_path / f"{rounding}.nnz", target_cosine=0.9995, inputs=inputs,
                          rounding=rounding, params=params)
        sizes[rounding] = out.stat().st_size
        with load(out) as f:
            fidelity = f.meta["fidelity"]
            bounds = {t.name: np.frombuffer(t.params[:8], "<f8")[0] for t in f.tensors if t.codec == "eb"}
            weights[rounding] = {n: f[n] for n in bounds}
        assert fidelity["achieved"] >= 0.9995 and fidelity["rounding"].startswith(rounding)
        decoded = tmp_path / f"{rounding}.onnx"
        assert main(["decode", str(out), "-o", str(decoded), "-q"]) == 0
        measured = {"y": _cosine(_run(model, x), _run(decoded, x))}
        if rounding == "calibrated":  # the target also holds on run 1 alone, which it did not learn from
            measured["y" + APART_SUFFIX] = _cosine(_run(model, x[20:40]), _run(decoded, x[20:40]))
        assert fidelity["per_output"] == pytest.approx(measured, abs=1e-6)
        assert fidelity["achieved"] == pytest.approx(min(measured.values()), abs=1e-9)
        calibrated = set(fidelity["calibrated_tensors"])
        # Calibrated rounding learns from runs 0 and 2: 40 vectors reach fc.w and head.w, enough
        # for fc.w's 32 columns, too few for head.w's 48 (nearest rounding).
        assert calibrated == ({"c1.w", "c2.w", "fc.w"} if rounding == "calibrated" else set())
        for n, bound in bounds.items():
            err = np.abs(weights[rounding][n].astype(np.float64) - inits[n]).max()
            assert err <= (2 if n in calibrated else 1) * bound * (1 + 1e-6)
        assert main(["info", str(out)]) == 0
        said = capsys.readouterr().out
        assert ("calibrated rounding of 3 tensor(s)" in said) == (rounding == "calibrated")
        assert ("on the runs calibrated rounding did not learn from alone" in said) == (rounding == "calibrated")
        assert main(["info", str(out), "--json"]) == 0
        rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)["tensors"]}
        assert all(rows[n]["max_error"] == (2 if n in calibrated else 1) * bounds[n] for n in bounds)
    assert sizes["calibrated"] < 0.95 * sizes["nearest"]


def test_rounding_is_refused_without_a_target(tmp_path, cnn, capsys):
    model, _, _, _ = cnn
    assert main(["encode", str(model), "-o", str(tmp_path / "a.nnz"), "--rounding", "nearest"]) != 0
    assert "--rounding is used with --target-cosine" in capsys.readouterr().err
    with pytest.raises(Exception, match="rounding must be"):
        encode_file(model, tmp_path / "b.nnz", target_cosine=0.999, rounding="stochastic")
    assert not any(tmp_path.glob("*.nnz"))


def test_calibrated_rounding_needs_two_runs(tmp_path, cnn, capsys):
    model, _, x, _ = cnn
    one_run = tmp_path / "one.npz"
    np.savez(one_run, x=x)
    assert main(["encode", str(model), "-o", str(tmp_path / "a.nnz"), "--target-cosine", "0.999",
                 "--inputs", str(one_run), "--rounding", "calibrated"]) != 0
    assert "at least 2 calibration runs" in capsys.readouterr().err
    assert not any(tmp_path.glob("*.nnz"))


def test_layers_it_cannot_describe_are_left_out(tmp_path):
    """A weight shared by two layers, a convolution with auto_pad, a weight used by another op and a
    layer applied to an initializer (listed among the graph inputs, as older models do) get no layer
    inputs (they are rounded to nearest); the model still runs and encodes."""
    rng = np.random.default_rng(5)
    inits = {"shared": (rng.standard_normal((8, 8)) * 0.3).astype(np.float32),
             "auto.w": (rng.standard_normal((4, 2, 3, 3)) * 0.3).astype(np.float32),
             "scale": (rng.standard_normal((1, 8)) * 0.3).astype(np.float32),
             "table": (rng.standard_normal((3, 8)) * 0.3).astype(np.float32),
             "on_table.w": (rng.standard_normal((8, 8)) * 0.3).astype(np.float32)}
    nodes = [helper.make_node("MatMul", ["v", "shared"], ["a"]), helper.make_node("MatMul", ["a", "shared"], ["b"]),
             helper.make_node("Mul", ["b", "scale"], ["y"]),
             helper.make_node("Conv", ["img", "auto.w"], ["z"], auto_pad="SAME_UPPER"),
             helper.make_node("MatMul", ["table", "on_table.w"], ["t"])]
    graph = helper.make_graph(nodes, "odd", [helper.make_tensor_value_info("v", TensorProto.FLOAT, ["n", 8]),
                                             helper.make_tensor_value_info("img", TensorProto.FLOAT, ["n", 2, 6, 6]),
                                             helper.make_tensor_value_info("table", TensorProto.FLOAT, [3, 8])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
                               helper.make_tensor_value_info("z", TensorProto.FLOAT, None),
                               helper.make_tensor_value_info("t", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(v, k) for k, v in inits.items()])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    path = tmp_path / "odd.onnx"
    onnx.save(model, str(path))
    inputs = tmp_path / "in.npz"
    np.savez(inputs, **{f"{name}#{i}": rng.standard_normal(shape).astype(np.float32)
                        for i in range(2) for name, shape in (("v", (64, 8)), ("img", (4, 2, 6, 6)))})
    assert OnnxEvaluator(onnx_format.read(path), inputs).layer_inputs(list(inits)) == {}
    out = encode_file(path, tmp_path / "odd.nnz", target_cosine=0.999, inputs=inputs, rounding="calibrated",
                      params={"min_lossy_elems": 8})
    with load(out) as f:
        assert f.meta["fidelity"]["calibrated_tensors"] == [] and f.meta["fidelity"]["achieved"] >= 0.999
