"""Post-training pruning of a model's weights: magnitude, norm (neurons/kernels), row-and-column.

Pruned weights are set to zero; tensors keep their shapes, so the pruned model loads wherever the
original did and the output is in the input's format. Row-and-column pruning zeroes whole rows and
columns of each weight matrix (the kept part is a dense submatrix); see docs/pruning.md for why
shapes are not changed and for the algorithms and their guarantees. The selection algorithms run
in the C++ core (csrc/transform/prune_select.*, rowcol_prune.*); this module applies them to a
ModelDocument of any format.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from .. import _core, formats
from ..atomic import refuse_existing, staged_output
from ..errors import NnzError
from ..model import ModelDocument
from .prunable import WeightRole, matrix_view, tensor_mask, weight_roles

METHODS = ("magnitude", "norm", "rowcol")
SCOPES = ("layer", "global")
# Candidate per-layer sparsities among which global row-and-column pruning allocates the budget.
_ROWCOL_GRID = tuple(np.round(np.arange(0.0, 1.0001, 0.025), 4))


@dataclass(frozen=True)
class PruneOptions:
    """method: "magnitude", "norm" or "rowcol"; sparsity: fraction of the prunable parameters to
    remove (per layer, or over all of them with scope "global"); anneal_iterations and seed: the
    simulated annealing of row-and-column pruning (0 iterations: the approximation only)."""

    method: str = "magnitude"
    sparsity: float = 0.5
    scope: str = "layer"
    anneal_iterations: int = 20000
    seed: int = 0
    include: str | None = None
    exclude: str | None = None

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise NnzError(f"unknown pruning method {self.method!r} (choose from {', '.join(METHODS)})")
        if self.scope not in SCOPES:
            raise NnzError(f"unknown pruning scope {self.scope!r} (choose from {', '.join(SCOPES)})")
        if not 0.0 <= self.sparsity <= 1.0:  # also rejects NaN
            raise NnzError(f"sparsity must be between 0 and 1, not {self.sparsity}")
        if self.anneal_iterations < 0:
            raise NnzError("anneal iterations must not be negative")
        if not 0 <= self.seed < 1 << 64:
            raise NnzError("seed must be between 0 and 2^64 - 1")


@dataclass
class LayerReport:
    """What pruning did to one tensor. removed counts parameters set to zero (some may have been
    zero already); magnitude and removed_magnitude are sums of |w| over the tensor and over the
    removed entries."""

    name: str
    shape: tuple[int, ...]
    kind: str
    source: str
    params: int
    removed: int
    magnitude: float
    removed_magnitude: float
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def sparsity(self) -> float:
        return self.removed / self.params if self.params else 0.0


@dataclass
class PruneReport:
    options: PruneOptions
    layers: list[LayerReport]
    skipped: dict[str, str]

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def removed(self) -> int:
        return sum(layer.removed for layer in self.layers)

    def as_dict(self) -> dict[str, Any]:
        o = self.options
        return {
            "method": o.method, "sparsity": o.sparsity, "scope": o.scope, "seed": o.seed,
            "anneal_iterations": o.anneal_iterations,
            "prunable_params": self.params, "removed_params": self.removed,
            "removed_magnitude": sum(layer.removed_magnitude for layer in self.layers),
            "layers": [{"name": x.name, "shape": list(x.shape), "kind": x.kind, "source": x.source,
                        "params": x.params, "removed": x.removed, "sparsity": x.sparsity,
                        "magnitude": x.magnitude, "removed_magnitude": x.removed_magnitude, **x.detail}
                       for x in self.layers],
            "skipped": self.skipped,
        }


def _tensor_seed(seed: int, name: str) -> int:
    """A seed per tensor that depends on the name, not on the order of tensors."""
    return (seed ^ int(_core.xxhash64(np.frombuffer(name.encode(), dtype=np.uint8)))) & ((1 << 64) - 1)


def _check_finite(name: str, matrix: np.ndarray) -> None:
    if not np.isfinite(matrix).all():
        raise NnzError(f"tensor {name!r} holds NaN or Inf: {name!r} cannot be pruned by rows and columns "
                       "(exclude it with --exclude)")


def _norm_groups(view: np.ndarray, array: np.ndarray, role: WeightRole) -> tuple[np.ndarray, str]:
    """Neurons (rows of the view) for matrices, kernels (out x in slices) for convolutions."""
    if role.kind == "conv":
        in_units = array.shape[0] if role.out_axis != 0 else array.shape[1]
        return view.reshape(view.shape[0] * in_units, -1), "kernel"
    return view, "neuron"


def _magnitude_masks(arrays: dict[str, np.ndarray], sparsity: float, scope: str) -> dict[str, np.ndarray]:
    names = list(arrays)
    scores = {n: np.abs(np.asarray(arrays[n], dtype=np.float32)).reshape(-1) for n in names}
    if scope == "global":
        flags = _core.select_smallest_groups([(scores[n], 1) for n in names], sparsity)
    else:
        flags = [_core.select_smallest_groups([(scores[n], 1)], sparsity)[0] for n in names]
    return {n: f.reshape(arrays[n].shape) for n, f in zip(names, flags)}


def _norm_masks(arrays: dict[str, np.ndarray], roles: dict[str, WeightRole], sparsity: float, scope: str,
                details: dict[str, dict]) -> dict[str, np.ndarray]:
    groups = {}
    for name, array in arrays.items():
        view = matrix_view(array, roles[name])
        g, unit = _norm_groups(view, array, roles[name])
        norms = _core.group_l2_norms(g)
        # Globally, each group competes by its norm relative to the mean norm of its tensor's groups:
        # raw norms grow with fan-in and shrink with the initialisation scale, so a whole layer of
        # wide, small-weight neurons would otherwise go first.
        mean = float(norms[np.isfinite(norms)].mean()) if np.isfinite(norms).any() else 0.0
        scores = norms / mean if scope == "global" and mean > 0 else norms
        groups[name] = (view.shape, g.shape, unit, scores.astype(np.float32))
    names = list(arrays)
    if scope == "global":
        flags = _core.select_smallest_groups([(groups[n][3], groups[n][1][1]) for n in names], sparsity)
    else:
        flags = [_core.select_smallest_groups([(groups[n][3], groups[n][1][1])], sparsity)[0] for n in names]
    masks = {}
    for name, removed in zip(names, flags):
        view_shape, group_shape, unit, _ = groups[name]
        matrix_mask = np.repeat(removed, group_shape[1]).reshape(view_shape)
        masks[name] = tensor_mask(matrix_mask, arrays[name].shape, roles[name])
        details[name] = {"unit": unit, "groups": int(group_shape[0]), "groups_removed": int(removed.sum())}
    return masks


def _rowcol_sparsities(views: dict[str, np.ndarray], sparsity: float) -> dict[str, float]:
    """Per-layer sparsities for global row-and-column pruning.

    Each layer's removed magnitude at every grid sparsity (by the conditional algorithm) is
    traded against its kept area: a Lagrange multiplier, bisected, picks for each layer the grid
    point minimising loss + lambda * area, the smallest multiplier that meets the global budget.
    """
    curves = {}
    for name, view in views.items():
        m, n = view.shape
        points = []
        for s in _ROWCOL_GRID:
            rows, cols, loss = _core.rowcol_conditional(view, float(s))
            points.append((int((m - rows.sum()) * (n - cols.sum())), float(loss), float(s)))
        curves[name] = points
    total_area = sum(v.size for v in views.values())
    budget = total_area - _core.required_removed(sparsity, total_area)

    def pick(lam: float) -> tuple[int, dict[str, tuple[int, float, float]]]:
        chosen = {n: min(pts, key=lambda p: (p[1] + lam * p[0], p[0])) for n, pts in curves.items()}
        return sum(p[0] for p in chosen.values()), chosen

    area, chosen = pick(0.0)
    if area > budget:
        lo, hi = 0.0, 1.0
        while pick(hi)[0] > budget:
            hi *= 2.0
        for _ in range(100):
            mid = (lo + hi) / 2
            if pick(mid)[0] > budget:
                lo = mid
            else:
                hi = mid
        chosen = pick(hi)[1]
    # Each layer gets the budget of exactly the area chosen for it.
    return {n: 1.0 - p[0] / views[n].size for n, p in chosen.items()}


def _rowcol_masks(arrays: dict[str, np.ndarray], roles: dict[str, WeightRole], options: PruneOptions,
                  details: dict[str, dict]) -> dict[str, np.ndarray]:
    views = {}
    for name, array in arrays.items():
        views[name] = matrix_view(array, roles[name])
        _check_finite(name, views[name])
    if options.scope == "global":
        sparsities = _rowcol_sparsities(views, options.sparsity)
    else:
        sparsities = {name: options.sparsity for name in views}
    masks = {}
    for name, view in views.items():
        s = sparsities[name]
        line = _core.rowcol_line_sums(view, s)
        cond = _core.rowcol_conditional(view, s)
        start = line if line[2] < cond[2] else cond
        rows, cols, loss = _core.rowcol_anneal(view, s, start[0], start[1], options.anneal_iterations,
                                               _tensor_seed(options.seed, name))
        matrix_mask = rows[:, None] | cols[None, :]
        masks[name] = tensor_mask(matrix_mask, arrays[name].shape, roles[name])
        details[name] = {"rows": int(view.shape[0]), "cols": int(view.shape[1]),
                         "rows_removed": int(rows.sum()), "cols_removed": int(cols.sum()),
                         "layer_sparsity": s, "loss_line_sums": float(line[2]),
                         "loss_conditional": float(cond[2]), "loss_anneal": float(loss)}
    return masks


def prune_document(doc: ModelDocument, options: PruneOptions) -> tuple[ModelDocument, PruneReport]:
    """A copy of ``doc`` with its prunable weights pruned, and the report of what was removed."""
    roles, skipped = weight_roles(doc, options.include, options.exclude)
    arrays = {name: doc.tensors[name] for name in roles}
    details: dict[str, dict] = {name: {} for name in roles}
    if options.method == "magnitude":
        masks = _magnitude_masks(arrays, options.sparsity, options.scope)
    elif options.method == "norm":
        masks = _norm_masks(arrays, roles, options.sparsity, options.scope, details)
    else:
        masks = _rowcol_masks(arrays, roles, options, details)
    tensors = dict(doc.tensors)
    layers = []
    for name, array in arrays.items():
        mask = masks[name]
        magnitudes = np.abs(np.asarray(array, dtype=np.float64))
        pruned = np.array(array, copy=True)
        pruned[mask] = 0
        tensors[name] = pruned
        layers.append(LayerReport(name, tuple(array.shape), roles[name].kind, roles[name].source, int(array.size),
                                  int(mask.sum()), float(magnitudes.sum()), float(magnitudes[mask].sum()),
                                  details[name]))
    out = replace(doc, tensors=tensors)
    return out, PruneReport(options, layers, skipped)


def default_pruned_path(model: Path) -> Path:
    return model.with_name(f"{model.stem}.pruned{model.suffix}")


def prune_file(model: str | os.PathLike, output: str | os.PathLike | None = None, *,
               options: PruneOptions = PruneOptions(), force: bool = False) -> tuple[Path, PruneReport]:
    """Prune a model file into a new model file of the same format; returns (path, report).

    The output defaults to MODEL.pruned.SUFFIX next to the model. An existing output is only
    replaced with ``force=True``; outputs appear atomically, complete or not at all. Files that
    belong to the input (ONNX external data beside it) are never overwritten.
    """
    model = Path(model)
    if not model.is_file():
        raise NnzError(f"{model}: no such file")
    out = Path(output) if output is not None else default_pruned_path(model)
    refuse_existing(out, force)
    module = formats.detect(model)
    doc = module.read(model)
    pruned, report = prune_document(doc, options)
    with staged_output(out.parent, force) as staging:
        module.write(pruned, out, staging)
        for rel in staging.produced():
            target = out.parent / rel
            if target.resolve() == model.resolve() and out.resolve() != model.resolve():
                raise NnzError(f"refusing to overwrite the input model {model}")
            if rel != Path(out.name) and target.exists() and target.parent.resolve() == model.parent.resolve():
                raise NnzError(f"refusing to overwrite {target}, which the input model may use: "
                               "write the pruned model to another folder")
    return out, report
