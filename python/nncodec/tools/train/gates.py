"""L0 regularisation with stochastic gates, and the mixture-distributed family of gate relaxations.

A gate z_k in [0, 1] multiplies unit k (a neuron or a channel, after its activation). Training
minimises loss + lambda * E[number of parameters kept], where a parameter is kept when the gates of
the units it connects are non-zero; so we need P(z_k != 0) in closed form, and samples of z that
are differentiable in the gate's parameter log_alpha.

Every distribution here is a relaxation of a Bernoulli gate: as its temperature goes to 0 it tends
to (1 - pi) * delta(0) + pi * delta(1). Values outside [0, 1] are clamped, which gives z exact
zeros (and ones) with non-zero probability.

* ``HardConcrete`` (Louizos, Welling and Kingma 2018): a binary concrete variable stretched to
  (gamma, zeta) = (-0.1, 1.1) and clamped.
* ``SymmetricMixture``: a two-component mixture pi * q1 + (1 - pi) * q0 with q1(x) = q0(1 - x)
  (mirror images about 1/2), q0 = base(-margin, tau) and q1 = base(1 + margin, tau) for a base
  location-scale family ("logistic" or "gaussian"); pi = sigmoid(log_alpha). The choice of
  component is discrete, so samples are differentiated by implicit reparameterisation
  (Figurnov et al. 2018): dx/dpi = -(dF/dpi)(x) / f(x), with F and f the mixture's CDF and density.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .surgery import expected_kept, shrink, unit_spaces

_EPS = 1e-6


class GateDistribution:
    """A relaxed Bernoulli gate with parameter log_alpha (any shape)."""

    def cdf(self, t: torch.Tensor, log_alpha: torch.Tensor) -> torch.Tensor:
        """P(x <= t) of the unclamped variable, so P(z = 0) = cdf(0) and P(z < 1) = cdf(1)."""
        raise NotImplementedError

    def sample(self, log_alpha: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        """Clamped samples of ``shape`` (broadcast against log_alpha), differentiable in log_alpha."""
        raise NotImplementedError

    def test_gate(self, log_alpha: torch.Tensor) -> torch.Tensor:
        """The deterministic gate used after training (and kept by prune())."""
        raise NotImplementedError

    def prob_nonzero(self, log_alpha: torch.Tensor) -> torch.Tensor:
        return 1.0 - self.cdf(torch.zeros_like(log_alpha), log_alpha)


class HardConcrete(GateDistribution):
    def __init__(self, beta: float = 2.0 / 3.0, gamma: float = -0.1, zeta: float = 1.1):
        self.beta, self.gamma, self.zeta = beta, gamma, zeta

    def cdf(self, t, log_alpha):
        s = ((t - self.gamma) / (self.zeta - self.gamma)).clamp(_EPS, 1 - _EPS)
        return torch.sigmoid(self.beta * torch.log(s / (1 - s)) - log_alpha)

    def prob_nonzero(self, log_alpha):
        # Closed form of 1 - cdf(0), as in Louizos et al. (eq. 12).
        return torch.sigmoid(log_alpha - self.beta * math.log(-self.gamma / self.zeta))

    def sample(self, log_alpha, shape):
        u = torch.rand(shape, device=log_alpha.device).clamp(_EPS, 1 - _EPS)
        s = torch.sigmoid((torch.log(u) - torch.log(1 - u) + log_alpha) / self.beta)
        return (s * (self.zeta - self.gamma) + self.gamma).clamp(0.0, 1.0)

    def test_gate(self, log_alpha):
        return (torch.sigmoid(log_alpha) * (self.zeta - self.gamma) + self.gamma).clamp(0.0, 1.0)


class SymmetricMixture(GateDistribution):
    def __init__(self, base: str = "logistic", tau: float = 0.1, margin: float = 0.2):
        if base not in ("logistic", "gaussian"):
            raise ValueError(f"unknown base distribution {base!r}")
        self.base, self.tau, self.margin = base, tau, margin

    def _base_cdf(self, u):
        return torch.sigmoid(u) if self.base == "logistic" else 0.5 * (1 + torch.erf(u / math.sqrt(2)))

    def _base_pdf(self, u):
        if self.base == "logistic":
            s = torch.sigmoid(u)
            return s * (1 - s)
        return torch.exp(-0.5 * u * u) / math.sqrt(2 * math.pi)

    def _components(self, t):
        """(F1(t), F0(t), f1(t), f0(t)): the components' CDFs and densities."""
        u1 = (t - 1 - self.margin) / self.tau
        u0 = (t + self.margin) / self.tau
        return (self._base_cdf(u1), self._base_cdf(u0),
                self._base_pdf(u1) / self.tau, self._base_pdf(u0) / self.tau)

    def cdf(self, t, log_alpha):
        pi = torch.sigmoid(log_alpha)
        f1, f0, _, _ = self._components(t)
        return pi * f1 + (1 - pi) * f0

    def sample(self, log_alpha, shape):
        pi = torch.sigmoid(log_alpha)
        with torch.no_grad():
            on = torch.rand(shape, device=log_alpha.device) < pi
            if self.base == "logistic":
                u = torch.rand(shape, device=log_alpha.device).clamp(_EPS, 1 - _EPS)
                noise = torch.log(u) - torch.log(1 - u)
            else:
                noise = torch.randn(shape, device=log_alpha.device)
            x = torch.where(on, 1 + self.margin, -self.margin) + self.tau * noise
        # Implicit reparameterisation: the value is x, the gradient is -(dF/dpi) / f at x.
        c1, c0, d1, d0 = self._components(x)
        cdf = pi * c1 + (1 - pi) * c0
        density = (pi * d1 + (1 - pi) * d0).detach().clamp_min(1e-12)
        x = x - (cdf - cdf.detach()) / density
        return x.clamp(0.0, 1.0)

    def test_gate(self, log_alpha):
        return (log_alpha > 0).to(log_alpha.dtype)


class L0Gate(nn.Module):
    """Gates over the units of the previous layer (dim 1 of its output). Put it after the
    activation of a Linear / Conv2d layer, or first in the model to gate the input features."""

    is_unit_gate = True

    def __init__(self, units: int, distribution: GateDistribution | None = None, init_prob: float = 0.9):
        super().__init__()
        self.distribution = distribution or HardConcrete()
        self.log_alpha = nn.Parameter(torch.full((units,), math.log(init_prob / (1 - init_prob))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (x.dim() - 2)
        if self.training:
            z = self.distribution.sample(self.log_alpha, torch.Size((x.shape[0], self.log_alpha.numel())))
            return x * z.view(x.shape[0], -1, *([1] * (x.dim() - 2)))
        return x * self.distribution.test_gate(self.log_alpha).view(shape)

    def prob_nonzero(self) -> torch.Tensor:
        return self.distribution.prob_nonzero(self.log_alpha)

    def test_gate(self) -> torch.Tensor:
        return self.distribution.test_gate(self.log_alpha).detach()


def _gates_by_space(model: nn.Sequential) -> dict[int, list[L0Gate]]:
    return {s.id: [model[i] for i in s.gates if isinstance(model[i], L0Gate)] for s in unit_spaces(model)}


def expected_params(model: nn.Sequential) -> torch.Tensor:
    """E[parameters kept] under the gates' P(z != 0): the L0 penalty (divide by the dense count
    for a fraction). Units of a space with several gates survive if all of them do."""
    probs = {}
    for space, gates in _gates_by_space(model).items():
        if gates:
            p = gates[0].prob_nonzero()
            for g in gates[1:]:
                p = p * g.prob_nonzero()
            probs[space] = p
    return expected_kept(model, probs)


def prune(model: nn.Sequential) -> nn.Sequential:
    """The smaller model: units whose test-time gate is 0 removed, the other gates' values folded
    into the next layer. Equal to ``model.eval()`` on every input (up to float rounding)."""
    keep, scale = {}, {}
    for space, gates in _gates_by_space(model).items():
        if gates:
            z = gates[0].test_gate()
            for g in gates[1:]:
                z = z * g.test_gate()
            keep[space], scale[space] = z > 0, z
    return shrink(model, keep, scale)
