"""Model surgery for structured pruning of ``nn.Sequential`` models.

A model is a sequence of weight layers (``nn.Linear``, ``nn.Conv2d`` with groups=1) and modules in
between (activations, pooling, ``nn.Flatten``, dropout, batch norm, and unit gates). The features
between two weight layers form a *unit space*: the output units (neurons or channels) of the
producer, which are the input units of the consumer. Space -1 is the model's input.

Removing unit k of a space deletes row k (and bias k) of the producer and the inputs of the
consumer that read unit k (a column; for a Linear after Flatten, the unit's block of positions).
This is exact when the unit's output is zero anyway, which is what gates and masks ensure.
A per-unit scale (a gate's value) applied after the activation is folded into the consumer's
inputs; it may cross only modules that commute with a non-negative scale (ReLU, pooling, ...).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

WEIGHT_LAYERS = (nn.Linear, nn.Conv2d)
# Modules a non-negative per-unit scale passes through unchanged: f(c * x) = c * f(x) for c >= 0.
_SCALE_COMMUTES = (nn.ReLU, nn.LeakyReLU, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d,
                   nn.Flatten, nn.Dropout, nn.Identity)
# Modules that map a constant per unit to the same constant: pooling, reshaping, dropout at eval.
_CONSTANT_PRESERVING = (nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d, nn.AdaptiveMaxPool2d, nn.Flatten,
                        nn.Dropout, nn.Identity)
_ELEMENTWISE = (nn.ReLU, nn.LeakyReLU, nn.Tanh, nn.GELU, nn.ELU, nn.SiLU, nn.Hardtanh, nn.Sigmoid, nn.Softplus)


class SurgeryError(ValueError):
    """The model has a shape or module order the surgery cannot handle exactly."""


def is_unit_gate(module: nn.Module) -> bool:
    """Gates and masks over the units of a space set ``is_unit_gate = True``; surgery drops them."""
    return bool(getattr(module, "is_unit_gate", False))


@dataclass
class UnitSpace:
    """The units between a producer weight layer (None: the model input) and its consumer."""

    id: int
    units: int
    producer: int | None
    consumer: int | None = None
    gates: list[int] = field(default_factory=list)
    between: list[int] = field(default_factory=list)  # indices of the other modules in between
    positions: int = 1  # inputs of the consumer per unit (a Linear after Flatten reads C*H*W)


def _in_units(layer: nn.Module) -> int:
    return layer.in_features if isinstance(layer, nn.Linear) else layer.in_channels


def _out_units(layer: nn.Module) -> int:
    return layer.out_features if isinstance(layer, nn.Linear) else layer.out_channels


def unit_spaces(model: nn.Sequential) -> list[UnitSpace]:
    modules = list(model)
    first = next((m for m in modules if isinstance(m, WEIGHT_LAYERS)), None)
    if first is None:
        raise SurgeryError("the model has no Linear or Conv2d layer")
    spaces = [UnitSpace(-1, _in_units(first), None)]
    for i, m in enumerate(modules):
        space = spaces[-1]
        if isinstance(m, WEIGHT_LAYERS):
            if isinstance(m, nn.Conv2d) and m.groups != 1:
                raise SurgeryError(f"layer {i}: grouped convolutions are not supported")
            n_in = _in_units(m)
            if n_in % space.units:
                raise SurgeryError(f"layer {i} reads {n_in} inputs from {space.units} units")
            space.consumer, space.positions = i, n_in // space.units
            if space.positions != 1 and not isinstance(m, nn.Linear):
                raise SurgeryError(f"layer {i} does not match the units before it")
            spaces.append(UnitSpace(i, _out_units(m), i))
        elif is_unit_gate(m):
            space.gates.append(i)
        else:
            space.between.append(i)
    return spaces


class SelectInputs(nn.Module):
    """Keeps the listed input features (last axis) or channels (axis 1 of 4-D inputs)."""

    def __init__(self, indices: torch.Tensor, channels: bool):
        super().__init__()
        self.register_buffer("indices", indices.to(torch.long))
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.index_select(1 if self.channels else x.dim() - 1, self.indices)


def _rebuild(layer: nn.Module, weight: torch.Tensor, bias: torch.Tensor | None) -> nn.Module:
    if isinstance(layer, nn.Linear):
        new = nn.Linear(weight.shape[1], weight.shape[0], bias=bias is not None)
    else:
        new = nn.Conv2d(weight.shape[1], weight.shape[0], layer.kernel_size, stride=layer.stride,
                        padding=layer.padding, dilation=layer.dilation, bias=bias is not None,
                        padding_mode=layer.padding_mode)
    with torch.no_grad():
        new.weight.copy_(weight)
        if bias is not None:
            new.bias.copy_(bias)
    return new.to(weight.device)


def _slice_batchnorm(bn: nn.Module, keep: torch.Tensor) -> nn.Module:
    new = type(bn)(int(keep.sum()), eps=bn.eps, momentum=bn.momentum, affine=bn.affine,
                   track_running_stats=bn.track_running_stats)
    with torch.no_grad():
        if bn.affine:
            new.weight.copy_(bn.weight[keep])
            new.bias.copy_(bn.bias[keep])
        if bn.track_running_stats:
            new.running_mean.copy_(bn.running_mean[keep])
            new.running_var.copy_(bn.running_var[keep])
            new.num_batches_tracked.copy_(bn.num_batches_tracked)
    return new


def shrink(model: nn.Sequential, keep: dict[int, torch.Tensor], scale: dict[int, torch.Tensor] | None = None,
           weights: dict[int, tuple[torch.Tensor, torch.Tensor | None]] | None = None) -> nn.Sequential:
    """A new, smaller ``nn.Sequential``: units removed, gates dropped, scales folded.

    keep[space]:    bool mask of the units to keep (absent: all); the model's output units stay.
    scale[space]:   non-negative factor of each unit, applied after the producer's activation
                    (a gate's value); folded into the consumer's inputs.
    weights[layer]: (weight, bias) to use instead of the layer's own (e.g. effective weights of a
                    reparameterised layer), same shapes as a Linear's / Conv2d's.
    """
    scale = scale or {}
    weights = weights or {}
    spaces = unit_spaces(model)
    if spaces[-1].id in keep and not bool(keep[spaces[-1].id].all()):
        raise SurgeryError("the model's output units cannot be removed")
    by_producer = {s.producer: s for s in spaces}
    by_consumer = {s.consumer: s for s in spaces if s.consumer is not None}
    out: list[nn.Module] = []
    first = spaces[0]
    if first.id in keep and not bool(keep[first.id].all()):
        channels = isinstance(model[first.consumer], nn.Conv2d)
        out.append(SelectInputs(torch.nonzero(keep[first.id]).flatten(), channels))
    modules = list(model)
    for i, m in enumerate(modules):
        if is_unit_gate(m):
            continue
        if not isinstance(m, WEIGHT_LAYERS):
            space = next(s for s in spaces if i in s.between)
            if space.id in scale and not isinstance(m, _SCALE_COMMUTES):
                gate_pos = min(space.gates) if space.gates else -1
                if i > gate_pos:
                    raise SurgeryError(f"module {i} ({type(m).__name__}) sits between a unit scale and the next "
                                       "layer: the scale cannot be folded")
            if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) and space.id in keep:
                out.append(_slice_batchnorm(m, keep[space.id]))
            else:
                out.append(m)
            continue
        w, b = weights.get(i, (m.weight, m.bias))
        w = w.detach().clone()
        b = None if b is None else b.detach().clone()
        src, dst = by_consumer[i], by_producer[i]
        if src.id in scale or src.id in keep:
            units = src.units
            s = scale.get(src.id, torch.ones(units, device=w.device)).to(w.dtype)
            k = keep.get(src.id, torch.ones(units, dtype=torch.bool, device=w.device))
            s_in = s.repeat_interleave(src.positions)
            k_in = k.repeat_interleave(src.positions)
            shape = (1, -1) + (1,) * (w.dim() - 2)
            w = (w * s_in.view(shape))[:, k_in]
        if dst.id in keep:
            w, b = w[keep[dst.id]], None if b is None else b[keep[dst.id]]
        out.append(_rebuild(m, w, b))
    return nn.Sequential(*out)


def constant_outputs(model: nn.Sequential, space: UnitSpace, values: torch.Tensor) -> torch.Tensor | None:
    """What units of ``space`` emit when the producer outputs the constant ``values`` per unit
    (its weights for the unit are zero): ``values`` passed through the modules up to the consumer;
    None if a module in between is not known to keep constants constant."""
    x = values.detach().clone()
    for i in space.between:
        m = model[i]
        if isinstance(m, _CONSTANT_PRESERVING):
            continue
        if isinstance(m, _ELEMENTWISE):
            x = m(x)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) and m.track_running_stats:
            x = (x - m.running_mean) / torch.sqrt(m.running_var + m.eps)
            if m.affine:
                x = x * m.weight + m.bias
        else:
            return None
    return x


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_nonzero_params(model: nn.Module) -> int:
    return sum(int((p != 0).sum()) for p in model.parameters())


def count_macs(model: nn.Sequential, example: torch.Tensor) -> int:
    """Multiply-accumulates of one forward pass of ``example`` (batch 1) in the weight layers,
    dense (zeros inside a weight count; removed units do not)."""
    total = 0

    def hook(m, inputs, output):
        nonlocal total
        if isinstance(m, nn.Linear):
            total += m.in_features * m.out_features * (output.numel() // output.shape[-1]) // output.shape[0]
        else:
            kh, kw = m.kernel_size
            total += output[0].numel() * m.in_channels * kh * kw

    handles = [m.register_forward_hook(hook) for m in model if isinstance(m, WEIGHT_LAYERS)]
    try:
        with torch.no_grad():
            model.eval()(example[:1])
    finally:
        for h in handles:
            h.remove()
    return total


def output_positions(model: nn.Sequential, example: torch.Tensor) -> dict[int, int]:
    """For each weight layer, the number of output positions (H*W for Conv2d, 1 for Linear)."""
    positions: dict[int, int] = {}
    handles = []
    for i, m in enumerate(model):
        if isinstance(m, WEIGHT_LAYERS):
            handles.append(m.register_forward_hook(
                lambda mod, inp, out, i=i: positions.__setitem__(i, out[0].numel() // out.shape[1])))
    try:
        with torch.no_grad():
            was_training = model.training
            model.eval()(example[:1])
            model.train(was_training)
    finally:
        for h in handles:
            h.remove()
    return positions


def expected_kept(model: nn.Sequential, unit_probs: dict[int, torch.Tensor],
                  positions: dict[int, int] | None = None) -> torch.Tensor:
    """Expected parameters kept (or MACs, given each layer's output positions) when unit k of space s
    survives with probability unit_probs[s][k] independently: a weight connecting two units stays
    if both do. Differentiable in the probabilities."""
    spaces = unit_spaces(model)
    by_producer = {s.producer: s for s in spaces}
    total = torch.zeros(())
    for s_in in spaces:
        if s_in.consumer is None:
            continue
        layer = model[s_in.consumer]
        s_out = by_producer[s_in.consumer]
        p_in = unit_probs.get(s_in.id)
        p_out = unit_probs.get(s_out.id)
        kept_in = (p_in.sum() if p_in is not None else torch.tensor(float(s_in.units))) * s_in.positions
        kept_out = p_out.sum() if p_out is not None else torch.tensor(float(s_out.units))
        per_pair = 1 if isinstance(layer, nn.Linear) else layer.kernel_size[0] * layer.kernel_size[1]
        if positions is None:
            total = total + kept_out * kept_in * per_pair + (kept_out if layer.bias is not None else 0)
        else:
            total = total + kept_out * kept_in * per_pair * positions[s_in.consumer]
    return total
