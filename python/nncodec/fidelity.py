"""Fidelity-targeted encoding: per-tensor error bounds chosen so that the decoded model's outputs
stay within a cosine-similarity target of the original's, at the smallest file size.

Layers are not equally sensitive: a bound that is harmless in one tensor ruins the next. The
search works on measurements, never on assumptions alone:

1. the reference outputs of the original model on the calibration inputs;
2. for each tensor a lossy codec may touch, its sensitivity s: the output distortion
   d = 1 - cosine when only that tensor is coded with a probe bound E0 (d ~ s E^2 for small E);
3. for each tensor, the coded size at a ladder of bounds E = std * 2^(-k/2) (real encodings);
4. for a Lagrange multiplier lam, each tensor takes the bound minimising size + lam * s * E^2; lam
   is searched so that the whole decoded model, evaluated for real, meets the target: the answer
   is the smallest file among the evaluated choices that met it.

The fidelity metric: for each model output, the cosine similarity of the original and decoded
outputs over all calibration runs (flattened together); the model's fidelity is the smallest
over its outputs.
"""

from __future__ import annotations

import math
import tempfile
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import codecs
from .calibrated import LayerInputs, conv_vectors, matmul_vectors
from .codecs.base import finite_std
from .codecs.coding import EncodeOptions
from .errors import NnzError, UnsupportedError
from .model import ModelDocument

# Evaluates the model with some tensors replaced; returns each output over all runs, flattened.
Evaluator = Callable[[Mapping[str, np.ndarray]], dict[str, np.ndarray]]
# Puts a tensor on eb's grid for a bound before coding: (name, tensor, E) -> tensor.
Rounding = Callable[[str, np.ndarray, float], np.ndarray]

PROBE_REL_ERROR = 0.05        # E0 = 0.05 x std for the sensitivity probes, moved while the
PROBE_MAX_DISTORTION = 1e-3   # distortion is outside [1e-8, 1e-3] (at most PROBE_ATTEMPTS probes)
PROBE_MIN_DISTORTION = 1e-8
PROBE_ATTEMPTS = 4
LADDER_STEPS = 25             # E = std * 2^(-k/2), k = 0 .. 24
SEARCH_EVALUATIONS = 10       # real evaluations of the whole decoded model in the search
APART_SUFFIX = " (runs calibrated rounding did not learn from)"


def judged_apart(per_output: Mapping[str, Any]) -> bool:
    """Whether a fidelity record's outputs include some judged on the unlearnt runs alone."""
    return any(str(n).endswith(APART_SUFFIX) for n in per_output)
GENERATED_RUNS = 4


def output_cosines(reference: Mapping[str, np.ndarray], decoded: Mapping[str, np.ndarray]) -> dict[str, float]:
    """Cosine similarity per output (1.0 when both are all zeros; -1.0 when a value is not finite)."""
    result = {}
    for name, ref in reference.items():
        a = np.asarray(ref, dtype=np.float64).reshape(-1)
        b = np.asarray(decoded[name], dtype=np.float64).reshape(-1)
        finite_a = np.isfinite(a)
        if not np.array_equal(finite_a, np.isfinite(b)):
            result[name] = -1.0
            continue
        a, b = a[finite_a], b[finite_a]
        na, nb = float(np.linalg.norm(a)), float(np.linalg.norm(b))
        if na == 0 or nb == 0:
            result[name] = 1.0 if na == nb else 0.0
        else:
            result[name] = float(np.dot(a, b) / (na * nb))
    return result


def bounded_roundtrip(name: str, array: np.ndarray, bound: float, options: EncodeOptions) -> tuple[np.ndarray, int]:
    """Tensor ``name`` as the file holds it when the codec of ``options`` codes it within
    ``bound``, and its coded size in bytes: the writer's coding (Codec.roundtrip)."""
    codec = options.unit
    settings = codec.for_tensor(name, array, codec.with_bounds(options.settings, {name: bound}))
    return codec.roundtrip(array, settings, options)


def _bounded_options(options: EncodeOptions | None) -> EncodeOptions:
    if options is None:
        return EncodeOptions(codec=codecs.first_bounded().id)
    if not options.unit.bounded:
        raise UnsupportedError(f"fidelity targets choose an error bound per tensor; codec {options.codec!r} has none")
    return options


@dataclass
class FidelityPlan:
    """The outcome: a bound per tensor and what the decoded model achieved with them."""

    target: float
    error_by_tensor: dict[str, float]
    achieved: float
    per_output: dict[str, float]
    coded_bytes: int                 # coded size of the lossy tensors
    evaluations: int
    inputs: str = ""
    sensitivity: dict[str, float] = field(default_factory=dict)
    measurements: Any = None
    rounded: dict[str, np.ndarray] = field(default_factory=dict)  # calibrated tensors to code instead

    def meta(self) -> dict[str, Any]:
        """The record stored in the .nnz metadata under "fidelity"."""
        return {
            "rounding": ("calibrated: each weight of calibrated_tensors is rounded down or up onto eb's grid "
                         "for its layer's outputs, so it is within 2E of the original (E: the tensor's eb bound); "
                         "the other eb tensors are rounded to nearest (within E)"
                         if self.rounded else "nearest: every weight within E (its tensor's eb bound) of the original"),
            "calibrated_tensors": sorted(self.rounded),
            "metric": "output cosine similarity (min over outputs; each over all calibration runs"
                      + ("; and each over the runs calibrated rounding did not learn from alone)"
                         if judged_apart(self.per_output) else ")"),
            "target": self.target,
            "achieved": self.achieved,
            "per_output": self.per_output,
            "inputs": self.inputs,
            "evaluations": self.evaluations,
            "lossy_tensors": len(self.error_by_tensor),
        }


@dataclass
class Measurements:
    """Steps 1-3, which do not depend on the target: reusable for several targets."""

    reference: dict[str, np.ndarray]
    sensitivity: dict[str, float]
    ladder: dict[str, list[float]]
    rate: dict[str, list[int]]
    evaluations: int


def choose_error_bounds(tensors: Mapping[str, np.ndarray], candidates: list[str], evaluate: Evaluator,
                        target_cosine: float, *, options: EncodeOptions | None = None,
                        progress: Callable[[str], None] | None = None,
                        measurements: Measurements | None = None,
                        rounding: Rounding | None = None) -> FidelityPlan:
    """Per-tensor error bounds for ``candidates`` (names in ``tensors``) meeting ``target_cosine``.

    The tensors are coded as the writer codes them under ``options`` (a bounded codec's; default:
    the first registered bounded codec, eb, with the writer's defaults). ``measurements`` from an
    earlier call on the same model and inputs skip steps 1-3; the plan returned carries its own
    in ``plan.measurements``. ``rounding`` (name, tensor, E) -> tensor puts a tensor on the grid
    of step 2E before it is coded (calibrated rounding); the plan's ``rounded`` holds the chosen
    tensors it changed, which the encoder must code instead."""
    if not 0 < target_cosine < 1:
        raise NnzError("the target cosine must be between 0 and 1 (say 0.9995)")
    options = _bounded_options(options)
    say = progress or (lambda message: None)
    if measurements is None:
        measurements = measure(tensors, candidates, evaluate, options=options, progress=say, rounding=rounding)
    search = _Search(tensors, measurements, evaluate, 1.0 - target_cosine, options, rounding, say)
    best = search.run()
    if best is None:  # never met: the finest rung everywhere, measured
        best = search.finest(target_cosine)
    size, choice, achieved, cos = best
    bounds = {n: measurements.ladder[n][k] for n, k in choice.items()}
    rounded = {}
    if rounding is not None:
        for n, e in bounds.items():
            r = rounding(n, tensors[n], e)
            if r is not tensors[n]:
                rounded[n] = r
    return FidelityPlan(target_cosine, bounds, achieved, cos, size, search.evaluations,
                        sensitivity=measurements.sensitivity, measurements=measurements, rounded=rounded)


# (coded size, rung per tensor, achieved cosine, cosine per output) of an evaluated choice
_Choice = tuple[int, dict[str, int], float, dict[str, float]]


@dataclass
class _Search:
    """Step 4: the Lagrangian allocation of rungs and the search over its budget."""

    tensors: Mapping[str, np.ndarray]
    m: Measurements
    evaluate: Evaluator
    slack: float
    options: EncodeOptions
    rounding: Rounding | None
    say: Callable[[str], None]

    def __post_init__(self) -> None:
        self.evaluations = self.m.evaluations
        self.names = list(self.m.sensitivity)

    def distortion(self, outputs: Mapping[str, np.ndarray]) -> tuple[float, dict[str, float]]:
        cos = output_cosines(self.m.reference, outputs)
        return 1.0 - min(cos.values(), default=1.0), cos

    def allocate(self, lam: float) -> tuple[dict[str, int], float, int]:
        choice, predicted, size = {}, 0.0, 0
        sensitivity, ladder, rate = self.m.sensitivity, self.m.ladder, self.m.rate
        for n in self.names:
            costs = [8 * r + lam * sensitivity[n] * e**2 for r, e in zip(rate[n], ladder[n])]
            k = int(np.argmin(costs))
            choice[n] = k
            predicted += sensitivity[n] * ladder[n][k] ** 2
            size += rate[n][k]
        return choice, predicted, size

    def lam_for(self, predicted_target: float) -> float:
        lo, hi = 1e-6, 1e30   # predicted distortion falls as lam grows
        for _ in range(80):
            mid = math.sqrt(lo * hi)
            if self.allocate(mid)[1] > predicted_target:
                lo = mid
            else:
                hi = mid
        return hi

    def measured(self, choice: dict[str, int]) -> tuple[float, dict[str, float]]:
        """Distortion of the whole decoded model with these rungs (one real evaluation)."""
        decoded = {n: coded_tensor(self.tensors, n, self.m.ladder[n][k], self.rounding, self.options)
                   for n, k in choice.items()}
        self.evaluations += 1
        return self.distortion(self.evaluate(decoded))

    def run(self) -> _Choice | None:
        """The smallest evaluated choice that met the target (None: none did). The predicted-
        distortion budget is moved by the ratio of target to measured distortion, then bisected
        (geometrically) between the largest budget that met the target and the smallest that did not."""
        slack = self.slack
        best: _Choice | None = None
        budget, feasible, infeasible = slack, 0.0, math.inf
        tried: set[tuple] = set()
        for _ in range(SEARCH_EVALUATIONS):
            choice, _, size = self.allocate(self.lam_for(budget))
            key = tuple(sorted(choice.items()))
            if key not in tried:
                tried.add(key)
                d, cos = self.measured(choice)
                self.say(f"search: {size:,} bytes, cosine {1 - d:.6f}")
                if d <= slack:
                    feasible = max(feasible, budget)
                    if best is None or size < best[0]:
                        best = (size, choice, 1 - d, cos)
                else:
                    infeasible = min(infeasible, budget)
                # At least 3% either way: a measurement just past the target would otherwise move
                # the budget so little that the search never crosses it.
                step = slack / max(d, 1e-15)
                step = min(8.0, max(1.03, step)) if d <= slack else max(1 / 8, min(0.97, step))
            else:  # the same allocation again: the budget must move further
                step = 2.0 if budget >= feasible else 0.5
            proposal = budget * step
            if feasible > 0 and infeasible < math.inf:
                if not feasible < proposal < infeasible:
                    proposal = math.sqrt(feasible * infeasible)
                if infeasible / feasible < 1.05:
                    break
            budget = proposal
        return best

    def finest(self, target_cosine: float) -> _Choice:
        choice = {n: LADDER_STEPS - 1 for n in self.names}
        d, cos = self.measured(choice)
        if d > self.slack:
            raise NnzError(f"cannot reach output cosine {target_cosine} with error-bounded coding "
                           f"(best {1 - d:.6f}); use lossless coding")
        return sum(self.m.rate[n][-1] for n in self.names), choice, 1 - d, cos


def coded_tensor(tensors: Mapping[str, np.ndarray], name: str, bound: float, rounding: Rounding | None,
                 options: EncodeOptions) -> np.ndarray:
    """The tensor as the file will hold it at this bound: rounded (if ``rounding``), then coded."""
    array = tensors[name] if rounding is None else rounding(name, tensors[name], bound)
    return bounded_roundtrip(name, array, bound, options)[0]


def measure(tensors: Mapping[str, np.ndarray], candidates: list[str], evaluate: Evaluator, *,
            options: EncodeOptions | None = None, progress: Callable[[str], None] | None = None,
            rounding: Rounding | None = None) -> Measurements:
    """Steps 1-3: reference outputs, sensitivities (one evaluation per tensor), rate ladders.

    Sensitivities are probed with ``rounding`` (it changes how much a bound disturbs the outputs);
    rates are those of nearest rounding, which it changes little."""
    options = _bounded_options(options)
    say = progress or (lambda message: None)
    reference = evaluate({})
    names = [n for n in candidates if finite_std(tensors[n]) > 0]
    std = {n: finite_std(tensors[n]) for n in names}
    sensitivity: dict[str, float] = {}
    evaluations = 1
    for i, name in enumerate(names):
        # The model d = s E^2 holds for small changes only: a probe that moved the output a lot
        # (a sensitive tensor) is repeated at a quarter of the bound, one that moved it by float
        # noise only at four times the bound.
        probe = PROBE_REL_ERROR * std[name]
        for attempt in range(PROBE_ATTEMPTS):
            decoded = coded_tensor(tensors, name, probe, rounding, options)
            cos = output_cosines(reference, evaluate({name: decoded}))
            evaluations += 1
            d = 1.0 - min(cos.values(), default=1.0)
            if d > PROBE_MAX_DISTORTION and attempt + 1 < PROBE_ATTEMPTS:
                probe /= 4
            elif d < PROBE_MIN_DISTORTION and attempt + 1 < PROBE_ATTEMPTS and probe < std[name]:
                probe *= 4
            else:
                break
        # A floor keeps a tensor whose probe changed nothing from being given an unbounded error.
        sensitivity[name] = max(d, 1e-12) / probe**2
        say(f"sensitivity {i + 1}/{len(names)}: {name}")
    ladder = {n: [std[n] * 2.0 ** (-k / 2) for k in range(LADDER_STEPS)] for n in names}
    rate = {n: [bounded_roundtrip(n, tensors[n], e, options)[1] for e in ladder[n]] for n in names}
    say("rates measured")
    return Measurements(reference, sensitivity, ladder, rate, evaluations)


# ---------------------------------------------------------------------------------------------
# ONNX models with onnxruntime


def load_inputs(path: str | Path) -> list[dict[str, np.ndarray]]:
    """Calibration runs from an .npz file: keys NAME (one run) or NAME#i (run i)."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError) as exc:
        raise NnzError(f"{path}: not a readable .npz file of input arrays ({exc})") from None
    runs: dict[int, dict[str, np.ndarray]] = {}
    for key, array in arrays.items():
        name, _, index = key.rpartition("#")
        if not name or not index.isdigit():
            name, index = key, "0"
        runs.setdefault(int(index), {})[name] = array
    if not runs:
        raise NnzError(f"{path}: no input arrays")
    return [runs[i] for i in sorted(runs)]


_ORT_TYPES = {"tensor(float)": np.float32, "tensor(double)": np.float64, "tensor(float16)": np.float16,
              "tensor(int64)": np.int64, "tensor(int32)": np.int32, "tensor(int8)": np.int8,
              "tensor(uint8)": np.uint8, "tensor(bool)": np.bool_}


def generated_inputs(session, runs: int = GENERATED_RUNS, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """Random inputs from the model's input signature: floats ~ N(0, 1), integers in [0, 10),
    dynamic dimensions 1 (the first) or 64 (the others)."""
    rng = np.random.default_rng(seed)
    feeds = []
    for _ in range(runs):
        feed = {}
        for inp in session.get_inputs():
            shape = [d if isinstance(d, int) and d > 0 else (1 if i == 0 else 64) for i, d in enumerate(inp.shape)]
            dtype = _ORT_TYPES.get(inp.type)
            if dtype is None:
                raise UnsupportedError(f"cannot generate input {inp.name!r} of type {inp.type}: pass --inputs")
            if np.issubdtype(dtype, np.floating):
                feed[inp.name] = rng.standard_normal(shape).astype(dtype)
            elif dtype is np.bool_:
                feed[inp.name] = rng.random(shape) < 0.5
            else:
                feed[inp.name] = rng.integers(0, 10, size=shape).astype(dtype)
        feeds.append(feed)
    return feeds


class OnnxEvaluator:
    """Runs an ONNX model (as a ModelDocument, tensors replaceable) with onnxruntime.

    Calibrated rounding learns from the even runs (``learning_runs``); ``judge_unlearnt_apart``
    then makes every evaluation also return each output over the odd runs on their own (named
    with APART_SUFFIX), so that a target must hold on those runs alone too."""

    def __init__(self, doc: ModelDocument, inputs: str | Path | None = None, threads: int = 1):
        try:
            import onnxruntime as ort
        except ImportError:
            raise UnsupportedError("fidelity targets need onnxruntime (pip install onnxruntime)") from None
        self._ort = ort
        self.doc = doc
        self.threads = threads
        self._judged_apart: list[int] = []
        session = self._session({})
        if inputs is not None:
            self.runs = load_inputs(inputs)
            self.inputs_description = f"{Path(inputs).name} ({len(self.runs)} run(s))"
        else:
            self.runs = generated_inputs(session)
            self.inputs_description = (f"generated from the input signature ({len(self.runs)} random runs, seed 0); "
                                       "pass --inputs for real data")
        self.output_names = [o.name for o in session.get_outputs()]
        try:
            self._run(session)
        except Exception as exc:  # onnxruntime raises its own exception types
            raise NnzError(f"the model does not run on the calibration inputs ({exc})") from None

    def _session(self, replaced: Mapping[str, np.ndarray], model=None):
        """A session of the model with ``replaced`` tensors, or of ``model`` (a ModelProto)."""
        from .atomic import Staging
        from .formats import onnx_format

        options = self._ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.log_severity_level = 3
        if model is not None:
            return self._ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
        doc = replace(self.doc, tensors={**self.doc.tensors, **replaced})
        with tempfile.TemporaryDirectory(prefix="nncodec-fidelity-") as tmp:
            staging = Staging(Path(tmp), Path(tmp))
            onnx_format.write(doc, Path("model.onnx"), staging)
            return self._ort.InferenceSession(str(staging.path("model.onnx")), options,
                                              providers=["CPUExecutionProvider"])

    def _run(self, session) -> dict[str, np.ndarray]:
        outputs: dict[str, list[np.ndarray]] = {n: [] for n in self.output_names}
        for feed in self.runs:
            for name, value in zip(self.output_names, session.run(self.output_names, feed)):
                outputs[name].append(np.asarray(value, dtype=np.float64).reshape(-1))
        result = {n: np.concatenate(v) if v else np.zeros(0) for n, v in outputs.items()}
        if self._judged_apart:
            result.update({n + APART_SUFFIX: np.concatenate([v[i] for i in self._judged_apart])
                           for n, v in outputs.items()})
        return result

    def learning_runs(self) -> list[dict[str, np.ndarray]]:
        """The runs calibrated rounding learns from: 0, 2, 4, ..."""
        return self.runs[0::2]

    def judge_unlearnt_apart(self) -> None:
        """From now on, also return each output over the runs not in ``learning_runs`` alone."""
        self._judged_apart = list(range(1, len(self.runs), 2))

    def __call__(self, replaced: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return self._run(self._session(replaced))

    def layer_inputs(self, names: list[str], runs: list[dict[str, np.ndarray]] | None = None) -> dict[str, LayerInputs]:
        """What the Conv/MatMul/Gemm layers that apply the tensors ``names`` meet on ``runs`` (default:
        all calibration runs): moments of their input vectors, for calibrated rounding. A tensor
        used by several nodes, or not as such a layer's weight, is left out."""
        import onnx

        from .formats import onnx_format

        model = onnx_format.model_proto(self.doc)
        uses = Counter(i for node in model.graph.node for i in node.input)
        wanted = set(names)
        # (Models of IR version < 4 list initializers among the graph inputs too.)
        graph_inputs = {i.name for i in model.graph.input} - {t.name for t in model.graph.initializer}
        # Activations onnxruntime can hand out: graph inputs and outputs of the graph's own nodes.
        available = graph_inputs | {o for node in model.graph.node for o in node.output}
        layers: dict[str, tuple[str, Callable[[np.ndarray], np.ndarray], LayerInputs]] = {}
        for node in model.graph.node:
            if (len(node.input) < 2 or node.input[1] not in wanted or uses[node.input[1]] != 1
                    or node.input[0] not in available):
                continue
            weight = self.doc.tensors[node.input[1]]
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            found = _layer(node.op_type, weight.shape, attrs)
            if found is not None:
                layout, groups, cols, to_vectors = found
                layers[node.input[1]] = (node.input[0], to_vectors, LayerInputs(layout, np.zeros((groups, cols, cols))))
        outputs = {o.name for o in model.graph.output}
        fetched = sorted({a for a, _, _ in layers.values()} - graph_inputs)
        for name in fetched:
            if name not in outputs:
                model.graph.output.append(onnx.helper.make_empty_tensor_value_info(name))
        session = self._session({}, model)
        for feed in self.runs if runs is None else runs:
            values = dict(zip(fetched, session.run(fetched, feed))) if fetched else {}
            for name, (activation, to_vectors, stats) in list(layers.items()):
                x = feed[activation] if activation in graph_inputs else values[activation]
                try:
                    stats.add_batch(np.asarray(x, np.float64), to_vectors)
                except ValueError:  # an activation that does not fit the layer's weight: not calibrated
                    del layers[name]
        return {n: stats for n, (_, _, stats) in layers.items()}


def _layer(op: str, shape: tuple[int, ...], attrs: dict[str, Any]):
    """(layout, groups, columns, activation -> input vectors) of a layer applying a weight, or None."""
    if op == "MatMul" and len(shape) == 2:
        return "in_out", 1, shape[0], lambda x: matmul_vectors(x, shape[0])
    if op == "Gemm" and len(shape) == 2 and not attrs.get("transA", 0):
        cols = shape[1] if attrs.get("transB", 0) else shape[0]
        return ("out_in" if attrs.get("transB", 0) else "in_out"), 1, cols, lambda x: matmul_vectors(x, cols)
    if op == "Conv" and len(shape) in (3, 4) and attrs.get("auto_pad", b"NOTSET") in (b"NOTSET", "NOTSET"):
        rank = len(shape) - 2
        groups = int(attrs.get("group", 1))
        if groups < 1 or shape[0] % groups:
            return None
        strides = attrs.get("strides", [1] * rank)
        dilations = attrs.get("dilations", [1] * rank)
        pads = attrs.get("pads", [0] * (2 * rank))
        return ("conv", groups, int(np.prod(shape[1:])),
                lambda x: conv_vectors(x, shape[2:], groups, strides, pads, dilations))
    return None
