"""Norm decomposition with an L1 penalty on the norms (neuron and kernel pruning during training).

Each neuron of a linear layer is its weight vector with its bias, written as norm x unit vector:
(w_i, b_i) = g_i * v_i / ||v_i||. Each kernel of a convolution, the (out, in) slice W[o, i], is
written the same way: W[o, i] = g_oi * V[o, i] / ||V[o, i]||_F (the bias stays a plain parameter).
An L1 penalty on the norms g, each weighted by the square root of its group's size as in the group
lasso (a neuron of 101 weights and a 3x3 kernel compete fairly), drives whole neurons and kernels
to exactly zero when applied as a proximal step (soft thresholding after each optimiser step); ``prune()`` then exports plain
layers, removing neurons whose norm is zero and channels whose kernels are all zero and whose
output is then zero, and the units nothing reads any more.
"""

from __future__ import annotations

import copy
import math

import torch
import torch.nn.functional as F
from torch import nn

from .surgery import constant_outputs, shrink, unit_spaces

_TINY = 1e-12


class NormLinear(nn.Module):
    def __init__(self, in_features: int, out_features: int):
        super().__init__()
        dense = nn.Linear(in_features, out_features)
        self.in_features, self.out_features = in_features, out_features
        full = torch.cat([dense.weight.detach(), dense.bias.detach()[:, None]], dim=1)
        self.direction = nn.Parameter(full)
        self.norm = nn.Parameter(full.norm(dim=1))
        self.group_size = in_features + 1

    @classmethod
    def from_linear(cls, layer: nn.Linear) -> NormLinear:
        new = cls(layer.in_features, layer.out_features)
        bias = layer.bias.detach() if layer.bias is not None else torch.zeros(layer.out_features)
        full = torch.cat([layer.weight.detach(), bias[:, None]], dim=1)
        with torch.no_grad():
            new.direction.copy_(full)
            new.norm.copy_(full.norm(dim=1))
        return new

    def effective(self) -> tuple[torch.Tensor, torch.Tensor]:
        unit = self.direction / self.direction.norm(dim=1, keepdim=True).clamp_min(_TINY)
        full = unit * self.norm[:, None]
        return full[:, :-1], full[:, -1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, bias = self.effective()
        return F.linear(x, weight, bias)


class NormConv2d(nn.Module):
    def __init__(self, conv: nn.Conv2d):
        super().__init__()
        if conv.groups != 1:
            raise ValueError("grouped convolutions are not supported")
        self.in_channels, self.out_channels = conv.in_channels, conv.out_channels
        self.kernel_size, self.stride, self.padding, self.dilation = (conv.kernel_size, conv.stride, conv.padding,
                                                                      conv.dilation)
        w = conv.weight.detach().clone()
        self.direction = nn.Parameter(w)
        self.norm = nn.Parameter(w.flatten(2).norm(dim=2))
        self.group_size = w[0, 0].numel()
        self.bias = nn.Parameter(conv.bias.detach().clone()) if conv.bias is not None else None

    def effective(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        n = self.direction.flatten(2).norm(dim=2).clamp_min(_TINY)
        return self.direction * (self.norm / n)[:, :, None, None], self.bias

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        weight, bias = self.effective()
        return F.conv2d(x, weight, bias, self.stride, self.padding, self.dilation)


def decompose(model: nn.Sequential, output_layer: bool = False) -> nn.Sequential:
    """A copy with every Linear / Conv2d replaced by its norm-decomposed twin (same function),
    except the output layer unless ``output_layer`` (its neurons are the model's outputs)."""
    last = max(i for i, m in enumerate(model) if isinstance(m, (nn.Linear, nn.Conv2d)))
    modules = []
    for i, m in enumerate(model):
        if i == last and not output_layer:
            modules.append(copy.deepcopy(m))
        elif isinstance(m, nn.Linear):
            modules.append(NormLinear.from_linear(m))
        elif isinstance(m, nn.Conv2d):
            modules.append(NormConv2d(m))
        else:
            modules.append(copy.deepcopy(m))
    return nn.Sequential(*modules)


def _norm_layers(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(m, (NormLinear, NormConv2d))]


def l1_penalty(model: nn.Module) -> torch.Tensor:
    """sum sqrt(group size) * |g| over all neuron and kernel norms."""
    return sum(math.sqrt(m.group_size) * m.norm.abs().sum() for m in _norm_layers(model))


@torch.no_grad()
def prox_(model: nn.Module, threshold: float) -> None:
    """Soft thresholding of the norms, the proximal step of threshold * l1_penalty: call after each
    optimiser step with threshold = learning rate x penalty weight. Norms reach exact zeros."""
    for m in _norm_layers(model):
        t = threshold * math.sqrt(m.group_size)
        m.norm.copy_(torch.sign(m.norm) * (m.norm.abs() - t).clamp_min(0.0))


def group_counts(model: nn.Module) -> tuple[int, int]:
    """(groups whose norm is zero, all groups): neurons plus kernels."""
    zero = sum(int((m.norm == 0).sum()) for m in _norm_layers(model))
    return zero, sum(m.norm.numel() for m in _norm_layers(model))


def _as_plain(model: nn.Sequential) -> tuple[nn.Sequential, dict[int, tuple[torch.Tensor, torch.Tensor | None]]]:
    """The model with plain layers in place of decomposed ones, and their effective weights."""
    modules, weights = [], {}
    for i, m in enumerate(model):
        if isinstance(m, NormLinear):
            w, b = m.effective()
            modules.append(nn.Linear(m.in_features, m.out_features))
        elif isinstance(m, NormConv2d):
            w, b = m.effective()
            modules.append(nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, stride=m.stride,
                                     padding=m.padding, dilation=m.dilation, bias=b is not None))
        else:
            modules.append(m)
            continue
        weights[i] = (w.detach(), None if b is None else b.detach())
    return nn.Sequential(*modules), weights


@torch.no_grad()
def prune(model: nn.Sequential) -> nn.Sequential:
    """Plain layers with the effective weights; units removed where exact (see the module doc)."""
    plain, weights = _as_plain(model)
    keep = {}
    for space in unit_spaces(plain)[1:]:
        if space.consumer is None:
            continue
        w_out, b_out = weights.get(space.producer, (plain[space.producer].weight, plain[space.producer].bias))
        dead = (w_out.flatten(1) == 0).all(dim=1)
        bias = b_out if b_out is not None else torch.zeros(space.units)
        emitted = constant_outputs(plain, space, bias)
        silent = dead & (emitted == 0) if emitted is not None else torch.zeros_like(dead)
        consumer_w = weights.get(space.consumer, (plain[space.consumer].weight, None))[0]
        per_unit = consumer_w.reshape(consumer_w.shape[0], space.units, -1)
        unread = (per_unit == 0).all(dim=2).all(dim=0)
        removable = silent | unread
        if bool(removable.all()):
            removable[0] = False  # a layer keeps at least one unit
        keep[space.id] = ~removable
    return shrink(plain, keep, weights=weights)

