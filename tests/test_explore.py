"""explore.py against references: scaling by hand, a linear model with known multipliers."""

import math

import matplotlib
import pytest
import torch
from torch import nn

from gbc_teach.homogeneity import solve_lambda
from gbc_teach.models import MLP
from gbc_teach.viz import explore

matplotlib.use("Agg")


def toy_problem():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(12, 2, generator=g)
    y = torch.arange(12) % 3
    X = X + 2.0 * torch.stack([torch.cos(2 * math.pi * y / 3), torch.sin(2 * math.pi * y / 3)], 1)
    return X, y


def test_track_training_logs_kkt_and_states():
    X, y = toy_problem()
    torch.manual_seed(0)
    model = MLP(2, [16], 3, bias=False, const_feature=True, act="relu2", init_scale=0.3)
    h = explore.track_training(model, X, y, steps=60, rule="normalized", lr=0.05, n_logs=3)
    n = len(h["step"])
    assert n == 4 and all(len(h[k]) == n for k in ("kkt_residual", "mu", "q", "support", "state"))
    assert all(0 <= r <= 1 + 1e-6 for r in h["kkt_residual"])
    # the last checkpoint is the final model
    m = explore.load_state(model, h["state"][-1])
    with torch.no_grad():
        torch.testing.assert_close(m(X), model(X))


def test_sweep_same_initial_direction():
    X, y = toy_problem()
    runs = explore.sweep_training(
        lambda s: MLP(2, [8], 3, bias=False, const_feature=True, init_scale=s), X, y,
        scales=[1.0, 0.1], rules={"plain": {"lr": 0.1}}, steps=4, n_logs=2)
    a, b = runs[(1.0, "plain")]["state"][0], runs[(0.1, "plain")]["state"][0]
    for k in a:
        torch.testing.assert_close(a[k] * 0.1, b[k])


def test_family_member_and_Pi():
    torch.manual_seed(0)
    model = MLP(3, [6], 2, bias=False, act="relu2")  # f ∝ W2 (W1 x)²: 2λ1 + λ2 = 1
    res = solve_lambda(model, torch.randn(20, 3), "min_norm")
    torch.testing.assert_close(res.lam, torch.tensor([0.4, 0.2], dtype=torch.float64))
    n = res.null_space[:, 0]
    t = (1 / 3 - 0.4) / float(n[0])
    lam = explore.family_member(res, [t])
    torch.testing.assert_close(lam, torch.tensor([1 / 3, 1 / 3], dtype=torch.float64))
    assert explore.Pi_of(lam).tolist() == [True, True]
    assert explore.Pi_of(res.lam).tolist() == [True, False]
    with pytest.raises(ValueError, match="null-space"):
        explore.family_member(res, [0.1, 0.2])


def test_euler_sides_match_hand_scaling():
    torch.manual_seed(0)
    model = MLP(3, [5, 5], 2, bias=True)
    x = torch.randn(7, 3)
    res = solve_lambda(model, x, "min_norm")
    lhs, rhs = explore.euler_sides(model, res.lam, x, 0.7)
    torch.testing.assert_close(lhs, rhs, rtol=1e-9, atol=1e-9)
    # the left side by hand: multiply each tensor by e^{s λ_k}
    m = MLP(3, [5, 5], 2, bias=True).double()
    m.load_state_dict(model.state_dict())
    with torch.no_grad():
        for p, lk in zip(m.parameters(), res.lam):
            p.mul_(math.exp(0.7 * float(lk)))
    torch.testing.assert_close(lhs, m(x.double()).flatten())


def test_conserved_quantities_under_small_step_gd():
    torch.manual_seed(0)
    X, y = toy_problem()
    model = MLP(2, [16], 3, bias=False, const_feature=True, act="relu2", init_scale=0.5)
    res = solve_lambda(model, X, "min_norm")
    c0 = explore.conserved_quantities(model, res.null_space)
    sq0 = sum(float(p.detach().pow(2).sum()) for p in model.parameters())
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    for _ in range(200):
        opt.zero_grad()
        nn.functional.cross_entropy(model(X), y).backward()
        opt.step()
    c1 = explore.conserved_quantities(model, res.null_space)
    sq1 = sum(float(p.detach().pow(2).sum()) for p in model.parameters())
    assert abs(sq1 - sq0) > 1e-3  # the norms moved ...
    assert float((c1 - c0).abs().max()) < 1e-2 * abs(sq1 - sq0)  # ... the conserved ones hardly


def test_plots_return_figures():
    X, y = toy_problem()
    torch.manual_seed(0)
    model = MLP(2, [8], 3, bias=False, const_feature=True, act="relu2")
    h = explore.track_training(model, X, y, steps=10, rule="plain", lr=0.1, n_logs=2)
    fig = explore.plot_kkt_state(model, X, y, h["mu"][-1], h["q"][-1], h["support"][-1], h, 1,
                                 resolution=30)
    assert len(fig.axes) == 3
    res = solve_lambda(model, X, "min_norm")
    fig = explore.plot_euler(model, res, X, 0.5)
    assert len(fig.axes) == 2 and "s = +0.50" in fig.axes[0].get_title()
