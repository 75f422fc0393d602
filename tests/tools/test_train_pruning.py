"""Training-time pruning (nncodec.tools.train): gate probabilities, gradients, and exact prune()."""

from __future__ import annotations

import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from nncodec.tools.train import c2s2, gates, norm_l1, surgery  # noqa: E402

torch.set_num_threads(1)  # tiny models: threads only add overhead on a busy 2-core CI machine

DISTRIBUTIONS = [gates.HardConcrete(), gates.SymmetricMixture("logistic"), gates.SymmetricMixture("gaussian", tau=0.2)]
LOG_ALPHAS = [-4.0, -1.0, 0.0, 0.7, 3.0]


def _cnn():
    return nn.Sequential(nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(6, 10, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(40, 16), nn.ReLU(), nn.Linear(16, 10))


def test_import_nncodec_does_not_import_torch():
    code = "import sys, nncodec, nncodec.tools.prune; assert 'torch' not in sys.modules, 'torch imported'"
    subprocess.run([sys.executable, "-c", code], check=True)


@pytest.mark.parametrize("dist", DISTRIBUTIONS, ids=lambda d: type(d).__name__ + getattr(d, "base", ""))
def test_gate_probabilities_match_monte_carlo(dist):
    torch.manual_seed(0)
    n = 200_000
    log_alpha = torch.tensor(LOG_ALPHAS)
    z = dist.sample(log_alpha, torch.Size((n, len(LOG_ALPHAS))))
    assert ((z >= 0) & (z <= 1)).all()
    p = dist.prob_nonzero(log_alpha)
    observed = (z > 0).float().mean(0)
    sigma = torch.sqrt(p * (1 - p) / n)
    assert ((observed - p).abs() <= 5 * sigma + 1e-4).all(), (observed, p)
    # P(z = 1) too, from the CDF at 1.
    p_one = 1 - dist.cdf(torch.ones_like(log_alpha), log_alpha)
    assert ((z == 1).float().mean(0) - p_one).abs().max() < 5e-3


@pytest.mark.parametrize("dist", DISTRIBUTIONS, ids=lambda d: type(d).__name__ + getattr(d, "base", ""))
def test_sample_gradients_are_unbiased(dist):
    """d E[z] / d log_alpha from samples (reparameterised) against the exact E[z] = int_0^1 1 - F."""
    torch.manual_seed(1)
    log_alpha = torch.tensor(LOG_ALPHAS, requires_grad=True)
    batches = []
    for _ in range(20):  # independent batches give the estimate's standard error
        (grad,) = torch.autograd.grad(dist.sample(log_alpha, torch.Size((20_000, len(LOG_ALPHAS)))).mean(0).sum(),
                                      log_alpha)
        batches.append(grad)
    batches = torch.stack(batches)
    sampled, stderr = batches.mean(0), batches.std(0) / 20**0.5
    t = torch.linspace(0, 1, 20001)
    exact = torch.stack([torch.trapezoid(1 - dist.cdf(t, log_alpha[k]), t) for k in range(len(LOG_ALPHAS))])
    (exact_grad,) = torch.autograd.grad(exact.sum(), log_alpha)
    assert ((sampled - exact_grad).abs() <= 5 * stderr + 1e-3).all(), (sampled, exact_grad, stderr)


def test_gates_tend_to_bernoulli_as_temperature_falls():
    log_alpha = torch.tensor([-1.0, 0.5])
    for tau, tolerance in ((0.05, 0.01), (0.02, 1e-5)):
        p = gates.SymmetricMixture("gaussian", tau=tau).prob_nonzero(log_alpha)
        assert torch.allclose(p, torch.sigmoid(log_alpha), atol=tolerance)


def _gated_cnn(dist_factory):
    return nn.Sequential(gates.L0Gate(1, dist_factory()), nn.Conv2d(1, 6, 3, padding=1), nn.ReLU(),
                         gates.L0Gate(6, dist_factory()), nn.MaxPool2d(2), nn.Conv2d(6, 10, 3, padding=1), nn.ReLU(),
                         nn.MaxPool2d(2), gates.L0Gate(10, dist_factory()), nn.Flatten(), nn.Linear(40, 16),
                         nn.ReLU(), gates.L0Gate(16, dist_factory()), nn.Linear(16, 10))


@pytest.mark.parametrize("dist_factory", [gates.HardConcrete, gates.SymmetricMixture])
def test_l0_prune_removes_exactly_the_closed_gates(dist_factory):
    torch.manual_seed(2)
    model = _gated_cnn(dist_factory)
    with torch.no_grad():
        model[0].log_alpha.fill_(5.0)  # the single input channel stays
        for g in model[3], model[8], model[12]:
            g.log_alpha.normal_(0, 3)
    model.eval()
    pruned = gates.prune(model)
    x = torch.randn(5, 1, 8, 8)
    assert torch.allclose(model(x), pruned(x), atol=1e-5)
    layers = [m for m in pruned if isinstance(m, surgery.WEIGHT_LAYERS)]
    kept = [int((g.test_gate() > 0).sum()) for g in (model[3], model[8], model[12])]
    assert [layers[0].out_channels, layers[1].out_channels, layers[2].out_features] == kept
    assert layers[2].in_features == kept[1] * 4
    assert not any(isinstance(m, gates.L0Gate) for m in pruned)


def test_expected_params_is_the_pruned_size_when_gates_are_decided():
    model = _gated_cnn(gates.HardConcrete)
    torch.manual_seed(3)
    with torch.no_grad():
        for g in model:
            if isinstance(g, gates.L0Gate):
                g.log_alpha.copy_(torch.where(torch.rand(g.log_alpha.shape) < 0.5, -60.0, 60.0))
        model[0].log_alpha.fill_(60.0)
    assert gates.expected_params(model).item() == pytest.approx(surgery.count_params(gates.prune(model.eval())))
    open_model = _gated_cnn(gates.HardConcrete)
    for g in open_model:
        if isinstance(g, gates.L0Gate):
            nn.init.constant_(g.log_alpha, 60.0)
    dense = sum(p.numel() for n, p in open_model.named_parameters() if "log_alpha" not in n)
    assert gates.expected_params(open_model).item() == pytest.approx(dense)


def test_l0_training_closes_gates():
    torch.manual_seed(4)
    x = torch.randn(256, 12)
    y = (x[:, 0] > 0).long()  # only feature 0 matters
    model = nn.Sequential(gates.L0Gate(12), nn.Linear(12, 8), nn.ReLU(), gates.L0Gate(8), nn.Linear(8, 2))
    dense = surgery.count_params(gates.prune(model.eval()))
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    model.train()
    for _ in range(100):
        opt.zero_grad()
        loss = nn.functional.cross_entropy(model(x), y) + 0.5 * gates.expected_params(model) / dense
        loss.backward()
        opt.step()
    pruned = gates.prune(model.eval())
    assert surgery.count_params(pruned) < dense / 2
    assert (pruned(x).argmax(1) == y).float().mean() > 0.9


def test_c2s2_prune_removes_exactly_the_masked_channels():
    torch.manual_seed(5)
    model = c2s2.insert_pruning_layers(_cnn())
    layers = [m for m in model if isinstance(m, c2s2.PruningLayer)]
    assert [layer.weight.numel() for layer in layers] == [6, 10, 16]
    with torch.no_grad():
        for layer in layers:
            layer.weight.uniform_(0.1, 2.0)
            layer.mask.copy_(torch.rand(layer.mask.shape) < 0.6)
            layer.mask[0] = True
    model.eval()
    pruned = c2s2.prune(model)
    x = torch.randn(5, 1, 8, 8)
    assert torch.allclose(model(x), pruned(x), atol=1e-5)
    weights = [m for m in pruned if isinstance(m, surgery.WEIGHT_LAYERS)]
    assert [weights[0].out_channels, weights[1].out_channels, weights[2].out_features] == \
        [int(layer.mask.sum()) for layer in layers]
    with torch.no_grad():
        layers[0].weight[1] = -1.0
    with pytest.raises(ValueError, match="negative"):
        c2s2.prune(model)


def test_c2s2_costs_and_layer_selection():
    torch.manual_seed(6)
    model = c2s2.insert_pruning_layers(_cnn())
    x = torch.randn(64, 1, 8, 8)
    costs = c2s2.channel_costs(model, x)
    # Channel of conv1 (8x8 positions): its 9 MACs per position in + 6x... computed by hand:
    # conv1 out channel: 64 positions x 1 x 9; conv2 reads it: 16 positions x 10 x 9.
    assert costs[0] == 64 * 9 + 16 * 10 * 9
    assert costs[4] == 16 * 6 * 9 + 16 * 4  # conv2 channel: its MACs + 4 positions x 16 outputs of fc1
    assert costs[9] == 40 + 10
    params = c2s2.channel_costs(model, x, cost="params")
    assert params[0] == 9 + 1 + 10 * 9  # conv1 kernel and bias, conv2's kernels reading it
    assert params[9] == 40 + 1 + 10
    with_inputs = c2s2.insert_pruning_layers(_cnn(), inputs=True)
    assert isinstance(with_inputs[0], c2s2.PruningLayer) and with_inputs[0].weight.numel() == 1
    penalty = c2s2.cost_weighted_l1(model, costs)
    assert penalty.item() == pytest.approx(1.0)  # all weights 1: the normalised penalty is 1
    target = model.eval()(x).argmax(1)

    def accuracy(m):
        with torch.no_grad():
            return float((m.eval()(x).argmax(1) == target).float().mean())

    fractions = c2s2.select_layer_by_layer(model, costs, accuracy, lambda m: None, tolerance=0.2)
    assert set(fractions) == {0, 4, 9}
    assert accuracy(model) >= 1.0 - 0.2
    assert surgery.count_params(c2s2.prune(model)) < surgery.count_params(_cnn())


def test_norm_decomposition_is_exact_and_prunes_zero_norms():
    torch.manual_seed(7)
    dense = _cnn()
    model = norm_l1.decompose(dense)
    x = torch.randn(5, 1, 8, 8)
    assert torch.allclose(dense(x), model(x), atol=1e-5)
    norm_l1.prox_(model, 0.0)
    assert torch.allclose(dense(x), model(x), atol=1e-5)
    with torch.no_grad():
        fc1 = model[7]
        fc1.norm[[1, 4, 5]] = 0.0  # three neurons off
        conv2 = model[3]
        conv2.norm[2] = 0.0  # every kernel of output channel 2
        conv2.bias[2] = -1.0  # ReLU(-1) = 0: the channel is silent
        conv2.norm[7, :3] = 0.0  # some kernels of channel 7: it stays
    pruned = norm_l1.prune(model)
    assert torch.allclose(model(x), pruned(x), atol=1e-5)
    assert pruned[7].out_features == 16 - 3
    assert pruned[3].out_channels == 10 - 1
    assert pruned[7].in_features == (10 - 1) * 4
    assert int((pruned[3].weight.flatten(2) == 0).all(dim=2).sum()) == 3  # the zero kernels stay zero
    zero, total = norm_l1.group_counts(model)
    assert zero == 3 + 6 + 3 and total == 6 + 60 + 16  # the output layer is not decomposed
    assert isinstance(model[9], nn.Linear) and isinstance(norm_l1.decompose(dense, output_layer=True)[9],
                                                          norm_l1.NormLinear)


def test_norm_prox_reaches_exact_zeros_with_group_lasso_weights():
    model = norm_l1.decompose(nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)), output_layer=True)
    before = model[0].norm.detach().clone()
    threshold = float(before.min()) / 5**0.5 + 1e-6  # neurons of layer 0: 4 weights + bias
    norm_l1.prox_(model, threshold)
    assert int((model[0].norm == 0).sum()) >= 1
    expected = (before.abs() - threshold * 5**0.5).clamp_min(0) * before.sign()
    assert torch.allclose(model[0].norm.detach(), expected)
    penalty = 5**0.5 * model[0].norm.abs().sum() + 4**0.5 * model[2].norm.abs().sum()
    assert norm_l1.l1_penalty(model).item() == pytest.approx(penalty.item())


def test_surgery_refuses_what_it_cannot_do_exactly():
    model = nn.Sequential(nn.Linear(4, 3), gates.L0Gate(3), nn.Tanh(), nn.Linear(3, 2))
    with pytest.raises(surgery.SurgeryError, match="scale"):
        gates.prune(model.eval())
    with pytest.raises(surgery.SurgeryError, match="output"):
        surgery.shrink(nn.Sequential(nn.Linear(4, 3)), {0: torch.tensor([True, False, True])})
    with pytest.raises(surgery.SurgeryError, match="grouped"):
        surgery.unit_spaces(nn.Sequential(nn.Conv2d(4, 4, 3, groups=2)))


def test_counts():
    model = _cnn()
    assert surgery.count_params(model) == 60 + 550 + 656 + 170
    assert surgery.count_macs(model, torch.zeros(1, 1, 8, 8)) == 64 * 6 * 9 + 16 * 10 * 6 * 9 + 40 * 16 + 16 * 10
