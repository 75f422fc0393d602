"""Fidelity-targeted encoding: the decoded model meets the cosine target on the calibration inputs."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eb_models import mlp, run
from nncodec import decode_file, encode_file, load
from nncodec.cli import main
from nncodec.errors import NnzError, UnsupportedError
from nncodec.fidelity import GENERATED_HELD_OUT_RUNS, HELD_OUT_SEED, choose_error_bounds


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a.astype(np.float64).reshape(-1), b.astype(np.float64).reshape(-1)
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.fixture
def model_and_inputs(tmp_path):
    model = tmp_path / "m.onnx"
    mlp(model, hidden=256, sensitive_gain=30.0)
    x = np.random.default_rng(7).standard_normal((64, 32)).astype(np.float32)
    inputs = tmp_path / "calib.npz"
    np.savez(inputs, **{"x#0": x[:32], "x#1": x[32:]})
    return model, inputs, x


def test_target_is_met_on_the_calibration_inputs_and_recorded(tmp_path, model_and_inputs):
    model, inputs, x = model_and_inputs
    out = encode_file(model, tmp_path / "m.nnz", target_cosine=0.9995, inputs=inputs)
    with load(out) as f:
        fidelity = f.meta["fidelity"]
        codecs = {t.name: t.codec for t in f.tensors}
    assert fidelity["target"] == 0.9995 and fidelity["achieved"] >= 0.9995
    assert "calib.npz (2 run(s))" in fidelity["inputs"]
    assert codecs["fc1.weight"] == "eb" and codecs["fc1.bias"] != "eb"
    back = decode_file(out, tmp_path / "back.onnx")
    measured = cosine(run(model, x), run(back, x))
    assert measured >= 0.9995
    assert measured == pytest.approx(fidelity["achieved"], abs=1e-9)
    # It is lossy, and much smaller than lossless.
    lossless = encode_file(model, tmp_path / "lossless.nnz")
    assert out.stat().st_size < 0.5 * lossless.stat().st_size
    assert measured < 1.0


def test_codec_dq_takes_rmse_bounds_from_the_target(tmp_path, model_and_inputs):
    model, inputs, x = model_and_inputs
    out = encode_file(model, tmp_path / "m.nnz", codec="dq", target_cosine=0.9995, inputs=inputs)
    with load(out) as f:
        fidelity = f.meta["fidelity"]
        codecs = {t.name: t.codec for t in f.tensors}
    assert fidelity["codec"] == "dq" and fidelity["achieved"] >= 0.9995
    assert codecs["fc1.weight"] == "dq" and "eb" not in codecs.values()
    measured = cosine(run(model, x), run(decode_file(out, tmp_path / "back.onnx"), x))
    assert measured == pytest.approx(fidelity["achieved"], abs=1e-9)
    with pytest.raises(NnzError, match="calibrated rounding"):
        encode_file(model, tmp_path / "c.nnz", codec="dq", target_cosine=0.9995, inputs=inputs,
                    rounding="calibrated")
    assert not (tmp_path / "c.nnz").exists()


def test_sensitive_tensors_get_tighter_bounds(tmp_path, model_and_inputs):
    model, inputs, _ = model_and_inputs
    out = encode_file(model, tmp_path / "m.nnz", target_cosine=0.999, inputs=inputs,
                      params={"min_lossy_elems": 256})
    with load(out) as f:
        rel = {t.name: np.frombuffer(t.params[:8], np.float64)[0] / float(np.std(f[t.name]))
               for t in f.tensors if t.codec == "eb"}
    # side.weight is multiplied by 30 in the model: its errors count 900 times more.
    assert rel["side.weight"] < rel["fc2.weight"] / 4


def test_without_inputs_they_are_generated_and_the_cli_says_so(tmp_path, capsys):
    model = tmp_path / "m.onnx"
    mlp(model, hidden=256)
    assert main(["encode", str(model), "-o", str(tmp_path / "m.nnz"), "--target-cosine", "0.999"]) == 0
    captured = capsys.readouterr()
    assert "generated from the input signature" in captured.err
    assert "fidelity: output cosine" in captured.out
    assert main(["info", str(tmp_path / "m.nnz")]) == 0
    said = capsys.readouterr().out
    assert "fidelity: output cosine" in said and f"{GENERATED_HELD_OUT_RUNS} held-out runs of seed {HELD_OUT_SEED}" in said
    assert "on the held-out generated runs alone" in said
    assert main(["info", "--json", str(tmp_path / "m.nnz")]) == 0
    fidelity = json.loads(capsys.readouterr().out)["summary"]["fidelity"]
    assert fidelity["achieved"] >= 0.999
    # The target held on the held-out runs on their own too.
    assert fidelity["per_output"]["y (held-out generated runs)"] >= 0.999
    assert "held-out generated runs alone" in fidelity["metric"]


def test_bad_targets_and_inputs_are_refused(tmp_path, model_and_inputs):
    model, inputs, _ = model_and_inputs
    with pytest.raises(NnzError):
        encode_file(model, tmp_path / "a.nnz", target_cosine=1.5, inputs=inputs)
    bad = tmp_path / "bad.npz"
    np.savez(bad, y=np.zeros((1, 3), np.float32))
    with pytest.raises(NnzError):
        encode_file(model, tmp_path / "b.nnz", target_cosine=0.999, inputs=bad)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(NnzError):
        encode_file(model, tmp_path / "c.nnz", target_cosine=0.999, inputs=tmp_path / "junk.npz")
    assert not any(tmp_path.glob("[abc].nnz"))


def test_fidelity_targets_need_a_runnable_model(tmp_path):
    from nncodec.api import _fidelity_plan
    from nncodec.model import ModelDocument
    from nncodec.codecs.coding import EncodeOptions

    doc = ModelDocument("safetensors", {"w": np.zeros((4, 4), np.float32)})
    with pytest.raises(UnsupportedError):
        _fidelity_plan(doc, EncodeOptions(codec="eb"), 0.999, None, "calibrated", None)


def test_the_search_crosses_a_target_its_measurements_sit_just_past():
    """Measured distortion that stays just past the target while the bounds shrink a little (as a
    real model's can): the search must still move far enough to meet it, not give up and fall back
    to the finest bound everywhere."""
    rng = np.random.default_rng(0)
    tensors = {f"t{i}": rng.standard_normal(256).astype(np.float32) for i in range(300)}
    gain = {k: float(rng.uniform(0.1, 10)) for k in tensors}
    ref, other = rng.standard_normal(64), rng.standard_normal(64)
    other -= other @ ref / (ref @ ref) * ref
    other *= np.linalg.norm(ref) / np.linalg.norm(other)
    target = 0.9995
    slack = 1 - target

    def evaluate(replaced):
        d = 1e-3 * sum(gain[k] * float(np.mean((v.astype(np.float64) - tensors[k]) ** 2)) for k, v in replaced.items())
        if 0.9 * slack < d <= slack:  # the last 10% before the target: stuck just past it
            d = 1.002 * slack
        c = 1 - min(d, 0.5)
        return {"y": c * ref + np.sqrt(1 - c * c) * other}

    plan = choose_error_bounds(tensors, list(tensors), evaluate, target)
    finest = sum(plan.measurements.rate[n][-1] for n in tensors)
    assert plan.achieved >= target
    assert plan.coded_bytes < 0.7 * finest


@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), noise=st.sampled_from([0.0, 0.1, 0.5, 2.0]))
def test_a_stricter_target_never_gives_a_smaller_file(seed, noise):
    """Whatever the measured distortions (here: the predicted ones times seeded noise that need not
    grow with the bounds), the search's answers are ordered like the targets."""
    rng = np.random.default_rng(seed)
    tensors = {f"t{i}": rng.standard_normal(int(rng.integers(64, 2048))).astype(np.float32) for i in range(12)}
    gain = {k: float(rng.uniform(0.01, 10)) for k in tensors}
    ref, other = rng.standard_normal(64), rng.standard_normal(64)
    other -= other @ ref / (ref @ ref) * ref
    other *= np.linalg.norm(ref) / np.linalg.norm(other)

    def evaluate(replaced):
        d = 1e-3 * sum(gain[k] * float(np.mean((v.astype(np.float64) - tensors[k]) ** 2)) for k, v in replaced.items())
        # The same choice always measures the same (a real model is deterministic), but not monotonically.
        jitter = np.random.default_rng([seed, *(zlib.crc32(v.tobytes()) for v in replaced.values())])
        c = 1 - min(d * float(np.exp(noise * jitter.standard_normal())), 0.5)
        return {"y": c * ref + np.sqrt(1 - c * c) * other}

    measurements, sizes = None, []
    for target in (0.99, 0.995, 0.999, 0.9995, 0.9999):
        plan = choose_error_bounds(tensors, list(tensors), evaluate, target, measurements=measurements)
        measurements = plan.measurements
        assert plan.achieved >= target
        sizes.append(plan.coded_bytes)
    assert sizes == sorted(sizes)
