"""Calibrated rounding: weights put on the eb grid so that each layer's outputs move least.

Rounding every weight to its nearest grid point makes errors that add up blindly in a layer's
outputs. Calibrated rounding looks at what the layer is fed (the calibration inputs) and rounds
the weights of an output row one input column at a time, each down or up, folding the rounding
error into the columns not yet rounded so that the row's output on those inputs changes least:
the error feedback of GPTQ (Frantar et al., 2022), with columns in order of input energy.

Each weight ends on a grid point next to it (its floor or its ceiling on the grid of step D), so
it stays within D of the original: twice the eb bound E = D/2 that nearest rounding keeps. The
eb codec then stores the rounded tensor exactly (bound E around the rounded values).

Layers this applies to: ONNX Conv (1-D and 2-D, any group count), MatMul with the weight as the
second input and Gemm with the weight as the second input. Their inputs are summarised by the
second moments H = sum x x^T of the vectors a weight row meets (per group for grouped
convolutions) and their sum.

H is shrunk towards what few vectors already pin down: the mean input's part (n mu mu^T) and the
diagonal. The mean part is what matters most after a ReLU (inputs all positive, so a row's
rounding errors add up through the mean) and it is cheap to estimate; the full covariance needs
many vectors per column, and a rounding fitted to a poorly estimated one helps on the
calibration inputs only.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

# Damping added to H as a fraction of its mean diagonal (GPTQ's default): it keeps H invertible
# and bounds how far the error feedback trusts directions the calibration data barely covers.
DAMPING = 0.01
# A layer is calibrated only with at least as many input vectors as weight columns.
MIN_VECTORS_PER_COLUMN = 1
# Weight of the shrinkage target: alpha = min(1, SHRINKAGE x columns / vectors). Measured on the
# benchmark models at output cosine 0.9995: without shrinkage a layer needed 16 vectors per column
# for held-out outputs to stay near nearest rounding's; with it, at 4, one vector per column is
# enough (2 gave held-out cosines up to 0.0005 lower).
SHRINKAGE = 4.0


@dataclass
class LayerInputs:
    """How a weight tensor is applied and the second moments of what it meets.

    ``layout``: "in_out" (MatMul weight [in, out]), "out_in" (Gemm transB weight [out, in]),
    "conv" (weight [out, in/groups, *kernel]). ``hessians`` [groups, cols, cols] (float64);
    ``samples``: input vectors summed (per group); ``sums`` [groups, cols]: their sum."""

    layout: str
    hessians: np.ndarray
    samples: int = 0
    sums: np.ndarray | None = None

    def __post_init__(self):
        if self.sums is None:
            self.sums = np.zeros(self.hessians.shape[:2])

    @property
    def usable(self) -> bool:
        """Enough input vectors to calibrate the layer (MIN_VECTORS_PER_COLUMN)."""
        return self.samples >= MIN_VECTORS_PER_COLUMN * self.hessians.shape[-1]

    def add(self, vectors: np.ndarray) -> None:
        """Accumulate input vectors [groups, n, cols]."""
        v = vectors.astype(np.float64)
        self.hessians += np.matmul(v.transpose(0, 2, 1), v)
        self.sums += v.sum(axis=1)
        self.samples += v.shape[1]

    def add_batch(self, activation: np.ndarray, to_vectors: Callable[[np.ndarray], np.ndarray]) -> None:
        """Accumulate what the layer meets in one activation: a batched one ([N, ...], 3-D or more)
        one sample at a time, because convolution patches take (kernel size) times its memory."""
        if activation.ndim < 3:
            self.add(to_vectors(activation))
            return
        for i in range(activation.shape[0]):
            self.add(to_vectors(activation[i:i + 1]))


def matmul_vectors(x: np.ndarray, cols: int) -> np.ndarray:
    """A MatMul/Gemm input [..., cols] as input vectors [1, n, cols]."""
    return x.reshape(1, -1, cols)


def conv_vectors(x: np.ndarray, kernel: tuple[int, ...], groups: int, strides, pads, dilations) -> np.ndarray:
    """The patches a convolution's weight rows meet: [groups, n, (channels/groups) * prod(kernel)],
    in the weight's element order. ``x`` is [N, C, *spatial] with one or two spatial axes;
    ``pads`` in ONNX order (all begins, then all ends)."""
    rank = len(kernel)
    if rank not in (1, 2) or x.ndim != rank + 2:
        raise ValueError("only 1-D and 2-D convolutions")
    if rank == 1:  # as 2-D with height 1
        x = x[:, :, None, :]
        kernel, strides, dilations = (1, *kernel), (1, *strides), (1, *dilations)
        pads = (0, pads[0], 0, pads[1])
    kh, kw = kernel
    xp = np.pad(x, ((0, 0), (0, 0), (pads[0], pads[2]), (pads[1], pads[3])))
    span = (dilations[0] * (kh - 1) + 1, dilations[1] * (kw - 1) + 1)
    if xp.shape[2] < span[0] or xp.shape[3] < span[1]:
        return np.zeros((groups, 0, x.shape[1] // groups * kh * kw), x.dtype)
    win = np.lib.stride_tricks.sliding_window_view(xp, span, axis=(2, 3))
    win = win[:, :, ::strides[0], ::strides[1], ::dilations[0], ::dilations[1]]  # N C Ho Wo kh kw
    n, c, ho, wo = win.shape[:4]
    per_group = c // groups
    return (win.reshape(n, groups, per_group, ho, wo, kh, kw).transpose(1, 0, 3, 4, 2, 5, 6)
            .reshape(groups, n * ho * wo, per_group * kh * kw))


def _rows(weight: np.ndarray, layout: str, groups: int) -> np.ndarray:
    """The weight as [groups, rows, cols]: a row is what one output element applies to an input vector."""
    w = weight.astype(np.float64)
    if layout == "in_out":
        return w.T[None]
    if layout == "out_in":
        return w[None]
    return w.reshape(groups, w.shape[0] // groups, -1)


def _from_rows(rows: np.ndarray, shape: tuple[int, ...], layout: str) -> np.ndarray:
    if layout == "in_out":
        return rows[0].T
    return rows.reshape(shape)


@dataclass
class Feedback:
    """What the error feedback needs from H, computed once per layer: the column order (most input
    energy first) and the upper Cholesky factor of the damped, reordered H^-1, whose rows carry a
    column's rounding error to the later columns."""

    order: np.ndarray   # [groups, cols]
    upper: np.ndarray   # [groups, cols, cols]

    @classmethod
    def of(cls, inputs: LayerInputs) -> Feedback:
        h = inputs.hessians.astype(np.float64)  # a copy
        cols = h.shape[-1]
        idx = np.arange(cols)
        if inputs.samples > 0:
            alpha = min(1.0, SHRINKAGE * cols / inputs.samples)
            mean = inputs.sums / inputs.samples
            target = inputs.samples * mean[:, :, None] * mean[:, None, :]
            target[:, idx, idx] = h[:, idx, idx]
            h = (1.0 - alpha) * h + alpha * target
        diag = h[:, idx, idx]
        diag[diag <= 0] = 1.0  # an input that is always zero: nothing to compensate through it
        diag += DAMPING * diag.mean(axis=1, keepdims=True)
        h[:, idx, idx] = diag
        order = np.argsort(-diag, axis=1, kind="stable")
        h = np.take_along_axis(np.take_along_axis(h, order[:, :, None], 1), order[:, None, :], 2)
        return cls(order, np.linalg.cholesky(np.linalg.inv(h)).transpose(0, 2, 1))


def round_rows(rows: np.ndarray, feedback: Feedback, step: float) -> np.ndarray:
    """Grid indices q ([groups, rows, cols]) for weight rows [groups, rows, cols], each the floor or
    the ceiling of w / step, chosen by error feedback."""
    order, upper = feedback.order, feedback.upper
    w = np.take_along_axis(rows, order[:, None, :], 2)
    lo, hi = np.floor(w / step), np.ceil(w / step)
    q = np.empty_like(w)
    for i in range(w.shape[2]):
        qi = np.clip(np.rint(w[:, :, i] / step), lo[:, :, i], hi[:, :, i])
        q[:, :, i] = qi
        err = (w[:, :, i] - qi * step) / upper[:, i, i][:, None]
        w[:, :, i + 1:] -= err[:, :, None] * upper[:, None, i, i + 1:]
    out = np.empty_like(q)
    np.put_along_axis(out, np.broadcast_to(order[:, None, :], q.shape), q, 2)
    return out


class CalibratedRounding:
    """Rounds the weights of the layers it has inputs for; others are returned unchanged (the eb
    encoder then rounds them to nearest). Callable as (name, array, max_error) -> array.

    The last rounding of each tensor is kept: a fidelity search asks for the same tensor at the
    same bound in evaluation after evaluation, and once more for the plan it returns."""

    def __init__(self, layers: dict[str, LayerInputs]):
        self.layers = {n: li for n, li in layers.items() if li.usable}
        self._feedback: dict[str, Feedback] = {}
        self._last: dict[str, tuple[np.ndarray, float, np.ndarray]] = {}  # name -> (weight, bound, rounded)

    def __contains__(self, name: str) -> bool:
        return name in self.layers

    def __call__(self, name: str, weight: np.ndarray, max_error: float) -> np.ndarray:
        inputs = self.layers.get(name)
        if inputs is None or weight.dtype not in (np.float32, np.float64) or not np.isfinite(weight).all():
            return weight
        last = self._last.get(name)
        if last is not None and last[0] is weight and last[1] == max_error:
            return last[2]
        if name not in self._feedback:
            self._feedback[name] = Feedback.of(inputs)
        step = 2.0 * float(max_error)
        groups = inputs.hessians.shape[0]
        q = round_rows(_rows(weight, inputs.layout, groups), self._feedback[name], step)
        rounded = (_from_rows(q, weight.shape, inputs.layout) * step).astype(weight.dtype)
        self._last[name] = (weight, max_error, rounded)
        return rounded
