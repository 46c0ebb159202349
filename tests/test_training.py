"""Classifier training: separable toy to 100%, log-CE against torch, NaN guard, input checks."""

import copy
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from gbc_teach.datasets.toy2d import make_toy2d
from gbc_teach.models import MLP
from gbc_teach.training import (
    NonFiniteError,
    check_labelled,
    log_cross_entropy,
    normalized_margin,
    train_classifier,
)


@pytest.fixture(scope="module")
def toy():
    return make_toy2d(0, n_per_class=5)


def small_mlp(seed=0):
    torch.manual_seed(seed)
    return MLP(2, [16, 16], 3, bias=False, const_feature=True, init_scale=0.5)


@pytest.mark.parametrize("rule", ["normalized", "relative"])
def test_reaches_full_train_accuracy(toy, rule):
    model = small_mlp()
    hist = train_classifier(model, toy.X, toy.y, steps=300, lr=0.05, rule=rule,
                            log_every=50, progress=False)
    assert hist["step"] == [0, 50, 100, 150, 200, 250, 300]
    assert hist["train_acc"][-1] == 1.0 and hist["q_min"][-1] > 0
    with torch.no_grad():
        assert bool((model(toy.X).argmax(1) == toy.y).all())
    assert all(math.isfinite(v) for v in hist["norm_margin"])


def test_unknown_rule(toy):
    with pytest.raises(ValueError, match="rule"):
        train_classifier(small_mlp(), toy.X, toy.y, steps=1, rule="adam", progress=False)


def test_log_cross_entropy_matches_torch():
    g = torch.Generator().manual_seed(0)
    logits = (3 * torch.randn(20, 4, generator=g, dtype=torch.float64)).requires_grad_()
    y = torch.randint(0, 4, (20,), generator=g)
    ours = log_cross_entropy(logits, y)
    ref = torch.log(F.cross_entropy(logits, y))
    torch.testing.assert_close(ours, ref)
    g1, = torch.autograd.grad(ours, logits)
    g2, = torch.autograd.grad(ref, logits)
    torch.testing.assert_close(g1, g2)


def test_log_cross_entropy_huge_margins():
    g = torch.Generator().manual_seed(1)
    y = torch.randint(0, 3, (10,), generator=g)
    base = torch.randn(10, 3, generator=g, dtype=torch.float64)
    base = base + 3 * F.one_hot(y, 3)  # every point correctly classified
    logits = (1e4 * base).requires_grad_()
    assert float(F.cross_entropy(logits.detach().float(), y)) == 0.0  # underflows in torch
    ours = log_cross_entropy(logits, y)
    assert torch.isfinite(ours) and float(ours) < -1e3
    # reference: CE_i = softplus(s_i) ≈ e^{s_i} for s_i ≪ 0, so log mean CE = LSE_i(s_i) − log N
    with torch.no_grad():
        diff = (logits - logits.gather(1, y[:, None])).masked_fill(
            F.one_hot(y, 3).bool(), float("-inf"))
        s = torch.logsumexp(diff, 1)
        ref = torch.logsumexp(s, 0) - math.log(len(y))
    assert float(ours) == pytest.approx(float(ref), rel=1e-12)
    grad, = torch.autograd.grad(ours, logits)
    assert torch.isfinite(grad).all() and grad.abs().sum() > 0
    # float32 too: the quantity training actually uses
    assert torch.isfinite(log_cross_entropy(logits.detach().float(), y))


def test_log_cross_entropy_of_attributes_is_log_bce_and_survives_huge_margins():
    g = torch.Generator().manual_seed(2)
    logits = (3 * torch.randn(12, 5, generator=g, dtype=torch.float64)).requires_grad_()
    a = torch.randint(0, 2, (12, 5), generator=g).double()
    ours = log_cross_entropy(logits, a)
    # (1/n) Σ_i Σ_a BCE(f_ia, a_ia): torch's mean over every entry × A
    ref = torch.log(5 * F.binary_cross_entropy_with_logits(logits, a))
    torch.testing.assert_close(ours, ref)
    g1, = torch.autograd.grad(ours, logits)
    g2, = torch.autograd.grad(ref, logits)
    torch.testing.assert_close(g1, g2)
    # every margin q_ia = s_ia f_ia ≥ 3·10³: BCE underflows, its log is the LSE of −q − log n
    huge = ((2 * a - 1) * (3e3 + 1e3 * torch.rand(12, 5, generator=g, dtype=torch.float64)))
    ours = log_cross_entropy(huge, a)
    ref = torch.logsumexp(-((2 * a - 1) * huge).flatten(), 0) - math.log(12)
    assert float(ours) == pytest.approx(float(ref), rel=1e-12) and float(ours) < -2e3


def test_plain_gd_on_attribute_labels_separates_them():
    g = torch.Generator().manual_seed(3)
    X = torch.randn(16, 6, generator=g)
    a = (X[:, :3] > 0).float()  # three attributes, each the sign of one coordinate
    torch.manual_seed(0)
    model = MLP(6, [32], 3, bias=True)
    hist = train_classifier(model, X, a, steps=400, lr=0.5, rule="plain", log_every=100,
                            progress=False)
    assert hist["loss"][-1] < 0.5 * hist["loss"][0]
    assert hist["train_acc"][-1] == 1.0 and hist["q_min"][-1] > 0  # every (face, attribute)


class NaNAfter(nn.Module):
    """Wrap a model; its forward returns NaN from the n-th call on."""

    def __init__(self, model, n):
        super().__init__()
        self.model, self.n, self.calls = model, n, 0

    def forward(self, x):
        self.calls += 1
        out = self.model(x)
        return out * float("nan") if self.calls > self.n else out


def test_nan_restores_last_good_state(toy):
    model = NaNAfter(small_mlp(), n=7)  # step 7 is the first NaN
    snapshots = []
    with pytest.raises(NonFiniteError, match="step 7"):
        train_classifier(model, toy.X, toy.y, steps=20, lr=0.05, log_every=3, progress=False,
                         callback=lambda step, m: snapshots.append(
                             (step, copy.deepcopy(m.state_dict()))))
    last_step, last_good = snapshots[-1]
    assert last_step == 6
    for k, v in model.state_dict().items():
        assert torch.isfinite(v).all()
        assert torch.equal(v, last_good[k]), k


def test_nan_from_huge_lr(toy):
    model = small_mlp()
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(NonFiniteError, match="restored"):
        train_classifier(model, toy.X, toy.y, steps=20, lr=1e38, rule="plain", log_every=1,
                         progress=False)
    # the first step blew up: the last good state is the initial one
    for k, v in model.state_dict().items():
        assert torch.isfinite(v).all() and torch.equal(v, before[k])


def test_normalized_margin_is_scale_invariant(toy):
    model = small_mlp()
    with torch.no_grad():
        logits = model(toy.X)
        qs = logits.gather(1, toy.y[:, None])[:, 0] - logits.max(1).values  # any q will do
        nm = normalized_margin(qs, model, lam_max=1 / 3)
        for p in model.parameters():  # θ → e^{sΛ}θ with λ = 1/3: f → e^s f
            p.mul_(math.exp(0.7 / 3))
        nm2 = normalized_margin(qs * math.exp(0.7), model, lam_max=1 / 3)
    assert nm2 == pytest.approx(nm, rel=1e-5)


@pytest.mark.parametrize("X, y, kw, match", [
    (torch.zeros(4), torch.zeros(4, dtype=torch.long), {}, "batch dimension"),
    (torch.zeros(4, 2), torch.zeros(4, 1, dtype=torch.long), {}, "y must be"),
    (torch.zeros(4, 2), torch.zeros(3, dtype=torch.long), {}, "y must be"),
    (torch.tensor([[0.0, 1.0], [float("nan"), 0.0]]), torch.tensor([0, 1]), {}, "NaN"),
    (torch.tensor([[0.0, 1.0], [float("inf"), 0.0]]), torch.tensor([0, 1]), {}, "NaN or inf"),
    (torch.zeros(4, 2), torch.tensor([0, 0, 2, 2]), {"n_classes": 3}, r"\[1\]"),
    (torch.zeros(4, 2), torch.tensor([0, 1, 2, 3]), {"n_classes": 3}, "up to 3"),
])
def test_check_labelled_errors(X, y, kw, match):
    with pytest.raises(ValueError, match=match):
        check_labelled(X, y, **kw)


def test_check_labelled_accepts_good_input(toy):
    check_labelled(toy.X, toy.y, n_classes=3)
    check_labelled(torch.zeros(6, 1, 4, 4), torch.tensor([0, 1, 2, 0, 1, 2]), n_classes=3)


def test_logged_normalized_margin_divides_by_the_norm_of_Pi_only(toy):
    """With a non-uniform Λ (a first-layer bias: last-layer Λ), the logged γ must not move when
    θ → e^{sΛ}θ; dividing by ‖θ‖ over every tensor would move it."""
    from gbc_teach.homogeneity import solve_lambda

    torch.manual_seed(0)
    model = MLP(2, [16, 16], 3, bias=True, init_scale=0.5)
    lam = solve_lambda(model, toy.X, "last_layer")
    assert not bool(lam.Pi.all())  # Λ is not uniform: the test would be empty otherwise
    gammas = []
    for s in (0.0, 0.7):
        m = copy.deepcopy(model)
        with torch.no_grad():
            for p, lk in zip(m.parameters(), lam.lam):
                p.mul_(math.exp(s * float(lk)))
        h = train_classifier(m, toy.X, toy.y, steps=0, lam=lam.lam, lam_max=lam.lam_max,
                             progress=False)
        gammas.append(h["norm_margin"][0])
    assert gammas[1] == pytest.approx(gammas[0], rel=1e-4)
