"""``nncodec verify``: do two ONNX models compute the same thing? (onnxruntime, CPU)

Both models run on the same inputs: the arrays of an ``.npz`` file (NAME, or NAME#i for run i),
or inputs generated from the models' input signature (floats ~ N(0, 1), integers in [0, 16),
random booleans; unknown dimensions 1 for the first axis and 64 elsewhere unless given) - the
report says which. Per output, over all samples: relative L2 error ||a - b|| / ||a||, cosine
similarity, largest absolute difference, and, for classifier-like outputs, the share of
positions whose arg-max (top-1) agrees. A float output is classifier-like when it has at least two
axes and either is 2-D with at least 10 columns or its last axis sums to 1 (probabilities).
"""

from __future__ import annotations

import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import NnzError
from ..fidelity import generated_inputs, load_inputs, runnable_dynamic_dims

DEFAULT_SAMPLES = 4


@dataclass
class OutputAgreement:
    name: str
    shape: list[int]          # of one sample
    rel_l2: float
    cosine: float
    max_abs: float
    top1: float | None        # share of arg-max agreement, for classifier-like outputs


@dataclass
class VerifyReport:
    original: str
    decoded: str
    inputs: str               # where the inputs came from
    samples: int
    outputs: list[OutputAgreement]

    @property
    def min_cosine(self) -> float:
        return min((o.cosine for o in self.outputs), default=1.0)

    @property
    def max_rel_l2(self) -> float:
        return max((o.rel_l2 for o in self.outputs), default=0.0)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["min_cosine"], d["max_rel_l2"] = self.min_cosine, self.max_rel_l2
        return d

    def format(self) -> str:
        lines = [f"{self.original} vs {self.decoded}", f"inputs: {self.inputs}",
                 f"{'output':<32} {'shape':<18} {'rel L2':>10} {'cosine':>12} {'max |diff|':>11} {'top-1':>7}"]
        for o in self.outputs:
            top1 = "-" if o.top1 is None else f"{o.top1:.4f}"
            lines.append(f"{o.name[:32]:<32} {'x'.join(map(str, o.shape)) or 'scalar':<18} {o.rel_l2:>10.3e} "
                         f"{o.cosine:>12.8f} {o.max_abs:>11.3e} {top1:>7}")
        lines.append(f"min cosine {self.min_cosine:.8f}, max relative L2 {self.max_rel_l2:.3e}")
        return "\n".join(lines)


def _session(path: Path):
    try:
        import onnxruntime as ort
    except ImportError:
        raise NnzError("verify needs onnxruntime: pip install onnxruntime") from None
    ort.set_default_logger_severity(4)  # failures are reported as NnzError, not logged
    options = ort.SessionOptions()
    options.log_severity_level = 4
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own exception types
        raise NnzError(f"{path.name}: onnxruntime cannot load it ({exc})") from None


def file_inputs(session, path: Path) -> list[dict[str, np.ndarray]]:
    """The runs of an .npz file, in the format of the calibration inputs: NAME (one run) or
    NAME#i (run i), so that the file given to ``encode --inputs`` checks the result too."""
    names = [i.name for i in session.get_inputs()]
    runs = load_inputs(path)
    for k, run in enumerate(runs):
        missing = [n for n in names if n not in run]
        if missing:
            which = f"run {k}" if len(runs) > 1 else path.name
            raise NnzError(f"{path.name}: {which} lacks model input(s) {', '.join(missing)} "
                           f"(has: {', '.join(run) or 'none'})")
    return [{n: run[n] for n in names} for run in runs]


def _classifier_like(a: np.ndarray) -> bool:
    if a.dtype.kind != "f" or a.ndim < 2 or a.shape[-1] < 2:
        return False
    if a.ndim == 2 and a.shape[-1] >= 10:
        return True
    return bool(np.all(a >= 0) and np.allclose(a.sum(axis=-1), 1.0, atol=1e-3))


def agreement(name: str, a_samples: list[np.ndarray], b_samples: list[np.ndarray]) -> OutputAgreement:
    a = np.concatenate([x.reshape(-1) for x in a_samples]).astype(np.float64)
    b = np.concatenate([x.reshape(-1) for x in b_samples]).astype(np.float64)
    diff = a - b
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    rel = float(np.linalg.norm(diff) / na) if na else (0.0 if not np.any(diff) else float("inf"))
    cos = float(a @ b / (na * nb)) if na and nb else (1.0 if na == nb else 0.0)
    top1 = None
    if _classifier_like(a_samples[0]):
        agree = [np.mean(np.argmax(x, axis=-1) == np.argmax(y, axis=-1)) for x, y in zip(a_samples, b_samples)]
        top1 = float(np.mean(agree))
    max_abs = float(np.max(np.abs(diff))) if diff.size else 0.0
    return OutputAgreement(name, list(a_samples[0].shape), rel, cos, max_abs, top1)


def verify(original: str | Path, decoded: str | Path, inputs: str | Path | None = None,
           samples: int = DEFAULT_SAMPLES, seed: int = 0, shapes: dict[str, list[int]] | None = None,
           feeds: list[dict[str, np.ndarray]] | None = None, feeds_label: str = "given by the caller") -> VerifyReport:
    """Compare the outputs of two ONNX models (``decoded`` may also be a .nnz file: it is decoded first).

    Inputs: ``feeds`` (a list of input dicts), else the ``inputs`` .npz file, else generated ones.
    """
    original, decoded = Path(original), Path(decoded)
    for p in (original, decoded):
        if not p.is_file():
            raise NnzError(f"{p}: no such file")
    if samples < 1:
        raise NnzError("samples must be at least 1")
    if decoded.suffix == ".nnz":
        from ..api import decode_file

        with tempfile.TemporaryDirectory(prefix="nncodec-verify-") as tmp:
            model = decode_file(decoded, Path(tmp) / "decoded.onnx")
            report = verify(original, model, inputs, samples, seed, shapes, feeds, feeds_label)
            report.decoded = str(decoded)
            return report
    a, b = _session(original), _session(decoded)
    if [i.name for i in a.get_inputs()] != [i.name for i in b.get_inputs()]:
        raise NnzError("the two models have different inputs")
    if feeds is not None:
        source = feeds_label
    elif inputs is not None:
        feeds, source = file_inputs(a, Path(inputs)), f"from {inputs}"
    else:
        feeds = generated_inputs(a, samples, seed, shapes, runnable_dynamic_dims(a, seed, shapes))
        shown = ", ".join(f"{n} {'x'.join(map(str, v.shape)) or 'scalar'} {v.dtype}" for n, v in feeds[0].items())
        source = (f"generated from the input signature ({samples} random sample(s), seed {seed}: {shown}); "
                  "pass --inputs FILE.npz to check on real data")
    names = [o.name for o in a.get_outputs()]
    outs_a, outs_b = [], []
    for feed in feeds:
        try:
            outs_a.append(a.run(None, feed))
            outs_b.append(b.run(None, feed))
        except Exception as exc:  # onnxruntime's own error types
            raise NnzError(f"inference failed ({exc}); give real inputs with --inputs or sizes with --shape") from None
    results = [agreement(n, [o[k] for o in outs_a], [o[k] for o in outs_b]) for k, n in enumerate(names)]
    return VerifyReport(str(original), str(decoded), source, len(feeds), results)


def parse_shape(text: str) -> tuple[str, list[int]]:
    """``"x=1x3x224x224"`` -> ("x", [1, 3, 224, 224]); ``"sr="`` -> a scalar."""
    name, sep, dims = text.rpartition("=")
    if not sep or not name:
        raise NnzError(f"--shape wants NAME=DxDxD, not {text!r}")
    try:
        return name, [int(d) for d in dims.split("x") if d != ""]
    except ValueError:
        raise NnzError(f"--shape wants NAME=DxDxD, not {text!r}") from None
