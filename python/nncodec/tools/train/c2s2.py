"""C2S2, cost-aware channel sparse selection: pruning layers inserted into a trained network.

A pruning layer is a 1x1 depth-wise convolution without bias: one real weight per channel (or
neuron), initialised to 1, placed after the activation of a layer. While training, the weights are
real-valued scales under an L1 penalty weighted by each channel's cost (the multiply-accumulates
that disappear with it), so expensive channels are pushed harder. Binarised, |w| > 0 after
selection, they are the channel mask; ``prune()`` removes masked channels and folds the scales of
the others into the next layer.

Costs are multiply-accumulates by default, or parameters (``channel_costs(..., cost="params")``).
The per-layer sparsity is set by ``select_layer_by_layer``: layers in decreasing order of cost
per channel; for each, the largest fraction of its channels (those of smallest |w|) whose removal
keeps the validation accuracy within a tolerance of the reference, found by bisection, then a
short fine-tune with that mask fixed before the next layer.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

from .surgery import expected_kept, output_positions, shrink, unit_spaces


class PruningLayer(nn.Module):
    """1x1 depth-wise scaling of the units of dim 1; ``mask`` (a buffer) switches units off."""

    is_unit_gate = True

    def __init__(self, units: int):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(units))
        self.register_buffer("mask", torch.ones(units, dtype=torch.bool))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        w = self.weight * self.mask
        return x * w.view((1, -1) + (1,) * (x.dim() - 2))

    def scale(self) -> torch.Tensor:
        return (self.weight * self.mask).detach()


def insert_pruning_layers(model: nn.Sequential, inputs: bool = False) -> nn.Sequential:
    """A copy of ``model`` with a PruningLayer after the activation of every hidden weight layer
    (just before the next weight layer, or before the Flatten that leads to it), and with
    ``inputs`` one first, over the input features or channels."""
    spaces = unit_spaces(model)
    insert_before: dict[int, int] = {0: spaces[0].units} if inputs else {}
    for s in spaces[1:]:
        if s.consumer is None:
            continue
        flatten = [i for i in s.between if isinstance(model[i], nn.Flatten)]
        insert_before[flatten[0] if flatten else s.consumer] = s.units
    modules = []
    for i, m in enumerate(model):
        if i in insert_before:
            modules.append(PruningLayer(insert_before[i]))
        modules.append(m)
    return nn.Sequential(*modules)


def _layers(model: nn.Sequential) -> dict[int, PruningLayer]:
    return {s.id: model[i] for s in unit_spaces(model) for i in s.gates if isinstance(model[i], PruningLayer)}


def channel_costs(model: nn.Sequential, example: torch.Tensor, cost: str = "macs") -> dict[int, float]:
    """What one channel of each pruned space costs: the multiply-accumulates ("macs") or the
    parameters ("params") that go with it (its producer's row and its consumer's inputs)."""
    if cost not in ("macs", "params"):
        raise ValueError(f"unknown cost {cost!r}")
    positions = output_positions(model, example) if cost == "macs" else None
    dense = float(expected_kept(model, {}, positions))
    costs = {}
    for space, layer in _layers(model).items():
        probs = {space: torch.ones(layer.weight.numel())}
        probs[space][0] = 0.0
        costs[space] = dense - float(expected_kept(model, probs, positions))
    return costs


def cost_weighted_l1(model: nn.Sequential, costs: dict[int, float]) -> torch.Tensor:
    """sum over pruning layers of cost_per_channel * |w|, divided by the total cost: add
    lambda * this to the training loss."""
    layers = _layers(model)
    norm = sum(costs[s] * layers[s].weight.numel() for s in layers)
    return sum(costs[s] * layers[s].weight.abs().sum() for s in layers) / norm


@torch.no_grad()
def _set_fraction(layer: PruningLayer, fraction: float) -> None:
    n = layer.weight.numel()
    cut = min(n - 1, int(round(fraction * n)))  # always keep one unit
    order = torch.argsort(layer.weight.abs(), stable=True)
    layer.mask.fill_(True)
    layer.mask[order[:cut]] = False


def select_layer_by_layer(model: nn.Sequential, costs: dict[int, float], evaluate: Callable[[nn.Module], float],
                          fine_tune: Callable[[nn.Module], None], tolerance: float,
                          reference: float | None = None, steps: int = 6) -> dict[int, float]:
    """Sets each pruning layer's mask (see the module doc); returns the fraction cut per space.

    evaluate(model) -> validation accuracy; fine_tune(model) trains briefly with the masks fixed.
    """
    reference = evaluate(model) if reference is None else reference
    layers = _layers(model)
    fractions = {}
    for space in sorted(layers, key=lambda s: -costs[s]):
        layer = layers[space]
        lo, hi = 0.0, 1.0
        for _ in range(steps):
            mid = (lo + hi) / 2
            _set_fraction(layer, mid)
            if evaluate(model) >= reference - tolerance:
                lo = mid
            else:
                hi = mid
        _set_fraction(layer, lo)
        fractions[space] = lo
        fine_tune(model)
    return fractions


def prune(model: nn.Sequential) -> nn.Sequential:
    """The smaller model: masked units removed, pruning-layer scales folded into the next layer."""
    keep, scale = {}, {}
    for space, layer in _layers(model).items():
        keep[space], scale[space] = layer.mask.clone(), layer.scale()
    if any(bool((s < 0).any()) for s in scale.values()):
        # A negative scale does not commute with ReLU; flip signs into the producer instead.
        raise ValueError("a pruning layer has negative weights: constrain them to be >= 0 while training")
    return shrink(model, keep, scale)


def clamp_nonnegative_(model: nn.Sequential) -> None:
    """Keep pruning-layer weights >= 0 (call after each optimiser step), so scales fold exactly."""
    with torch.no_grad():
        for layer in _layers(model).values():
            layer.weight.clamp_(min=0.0)

