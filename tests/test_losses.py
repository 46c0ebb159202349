"""GBC losses against references: direct formulas, per-sample loops, finite differences."""

import math

import pytest
import torch

from gbc_teach.losses import GBCObjective, stationarity, u_loss
from gbc_teach.margins import q
from gbc_teach.models import MLP, Generator


def rand_list(g, shapes, dtype=torch.float64):
    return [torch.randn(s, generator=g, dtype=dtype) for s in shapes]


def sq_norm(ts):
    return sum(float(x.pow(2).sum()) for x in ts)


def test_stationarity_direct():
    g = torch.Generator().manual_seed(0)
    shapes = [(3, 4), (5,), (2, 2, 2)]
    t, v = rand_list(g, shapes), rand_list(g, shapes)
    flat_t, flat_v = torch.cat([x.flatten() for x in t]), torch.cat([x.flatten() for x in v])
    for a in (0.3, 1.0, 2.5):
        alpha = torch.tensor(a, dtype=torch.float64)
        L, al = stationarity(t, v, alpha, sq_norm(t))
        ref = (flat_t - a * flat_v).pow(2).sum() / flat_t.pow(2).sum()
        torch.testing.assert_close(L, ref)
        assert float(al) == a


def test_stationarity_closed_form_alpha():
    g = torch.Generator().manual_seed(1)
    t = rand_list(g, [(6,), (2, 3)])
    v = [x + 0.3 * y for x, y in zip(t, rand_list(g, [(6,), (2, 3)]))]  # ⟨t, v⟩ > 0
    flat_t, flat_v = torch.cat([x.flatten() for x in t]), torch.cat([x.flatten() for x in v])
    L, alpha = stationarity(t, v, None, sq_norm(t))
    alpha_ref = flat_t @ flat_v / (flat_v @ flat_v)  # 1-D least squares
    torch.testing.assert_close(alpha, alpha_ref)
    # at the best α the loss is the direct formula, 1 − cos²(t, v)
    torch.testing.assert_close(L, (flat_t - alpha_ref * flat_v).pow(2).sum() / (flat_t @ flat_t))


def test_u_loss_shape():
    t = torch.linspace(-2, 2, 9)
    u = u_loss(t, kappa=4.0)
    assert float(u_loss(torch.zeros(1))[0]) == 0.0
    assert (u >= 0).all() and int(u.argmin()) == 4
    pos = torch.tensor([0.1, 0.5, 1.5])
    torch.testing.assert_close(u_loss(-pos, kappa=4.0), 4.0 * u_loss(pos, kappa=4.0))
    torch.testing.assert_close(u_loss(pos, kappa=7.0), pos * pos)  # κ only acts below 0


def tiny_setup(seed=0, Pi=None, **kw):
    torch.manual_seed(seed)
    clf = MLP(2, [6], 3, bias=False, const_feature=True).double()
    Pi = torch.ones(2, dtype=torch.bool) if Pi is None else Pi
    obj = GBCObjective(clf, Pi, lam_max=0.5, n_classes=3, **kw).double()
    G = Generator(2, 3, 2, hidden=4, depth=1, box=2.0).double()
    return clf, obj, G


def test_v_is_mean_of_per_sample_gradients():
    clf, obj, _ = tiny_setup()
    g = torch.Generator().manual_seed(2)
    x = torch.randn(7, 2, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0, 1, 2, 0])
    with torch.no_grad():
        obj.class_logits.copy_(torch.tensor([0.3, -0.5, 0.1]))
    w = torch.rand(7, generator=g, dtype=torch.float64) + 0.5
    v, qs = obj.v_of(x, y, w)
    cw = 3 * torch.softmax(obj.class_logits.detach(), 0)
    ref = [torch.zeros_like(p) for p in clf.parameters()]
    for i in range(7):  # reference: one backward per sample
        qi = q(clf(x[i:i + 1]), y[i:i + 1])[0]
        gi = torch.autograd.grad(qi, list(clf.parameters()))
        for r, gg in zip(ref, gi):
            r += cw[y[i]] * w[i] * gg / 7
    for a, b in zip(v, ref):
        torch.testing.assert_close(a.detach(), b)
    assert v[0].requires_grad  # create_graph=True: the second backward can reach x
    with torch.no_grad():
        torch.testing.assert_close(qs.detach(), q(clf(x), y))


def test_L_stat_gradient_matches_finite_differences():
    clf, obj, G = tiny_setup(seed=3, qmin_mode="none")
    g = torch.Generator().manual_seed(4)
    z = torch.randn(9, 2, generator=g, dtype=torch.float64)
    y = torch.arange(9) % 3
    obj(G(z, y), y)  # first call initializes α
    params = [p for p in G.parameters() if p.requires_grad]

    def L():
        return obj(G(z, y), y)["L_stat"]

    grads = torch.autograd.grad(L(), params)
    eps = 1e-6
    with torch.no_grad():
        for p, gp in zip(params, grads):
            fd = torch.zeros_like(p)
            for i in range(p.numel()):
                old = p.view(-1)[i].item()
                p.view(-1)[i] = old + eps
                with torch.enable_grad():
                    up = float(L().detach())
                p.view(-1)[i] = old - eps
                with torch.enable_grad():
                    down = float(L().detach())
                p.view(-1)[i] = old
                fd.view(-1)[i] = (up - down) / (2 * eps)
            torch.testing.assert_close(gp, fd, rtol=1e-4, atol=1e-7)
    assert max(float(gp.abs().max()) for gp in grads) > 1e-4  # not trivially zero


def test_alpha_gradient_matches_formula():
    # d/dα ‖t − αv‖²/‖t‖² = 2(α‖v‖² − ⟨t, v⟩)/‖t‖², through log α: × α
    clf, obj, G = tiny_setup(seed=5, qmin_mode="none")
    z, y = torch.randn(6, 2, dtype=torch.float64), torch.arange(6) % 3
    out = obj(G(z, y), y)
    ga, = torch.autograd.grad(out["L_stat"], obj.log_alpha, retain_graph=True)
    v, _ = obj.v_of(G(z, y), y)
    tv = sum(float((a * b).sum()) for a, b in zip(obj.t, v))
    vv = sq_norm([b.detach() for b in v])
    a = float(out["alpha"])
    assert float(ga) == pytest.approx(2 * a * (a * vv - tv) / obj.t_sq, rel=1e-8)


def test_tied_q_min():
    Pi = torch.tensor([False, True])  # only the head in Π
    clf, obj, G = tiny_setup(seed=6, Pi=Pi, qmin_mode="tied", beta=0.7)
    z, y = torch.randn(12, 2, dtype=torch.float64), torch.arange(12) % 3
    x = G(z, y)
    out = obj(x, y)
    t_sq = float(list(clf.parameters())[1].pow(2).sum())  # ‖Πθ‖²
    assert obj.t_sq == pytest.approx(t_sq)
    assert float(out["q_min"]) == pytest.approx(0.5 * t_sq / float(out["alpha"]), rel=1e-10)
    # the duality term is the mean U-loss around q_min (uniform class weights at the start)
    L_dual = u_loss(out["q"] / out["q_min"] - 1, 4.0).mean()
    torch.testing.assert_close(out["L_dual"], L_dual)
    torch.testing.assert_close(out["loss"], out["L_stat"] + 0.7 * out["L_dual"])


def test_init_alpha_is_least_squares():
    clf, obj, G = tiny_setup(seed=7)
    z, y = torch.randn(30, 2, dtype=torch.float64), torch.arange(30) % 3
    x = G(z, y).detach()
    v, _ = obj.v_of(x, y)
    tv = sum(float((a * b).sum()) for a, b in zip(obj.t, v))
    vv = sq_norm([b.detach() for b in v])
    obj.init_scalars(x, y)
    expected = tv / vv if tv > 0 else math.sqrt(obj.t_sq / vv)
    assert float(obj.log_alpha.exp()) == pytest.approx(expected, rel=1e-8)
    assert float(obj.log_qmin.exp()) == pytest.approx(0.5 * obj.t_sq / expected, rel=1e-8)


def test_bad_modes():
    clf = MLP(2, [4], 3, bias=False)
    with pytest.raises(ValueError, match="qmin_mode"):
        GBCObjective(clf, torch.ones(2, dtype=torch.bool), 0.5, 3, qmin_mode="fixed")
    with pytest.raises(ValueError, match="alpha_mode"):
        GBCObjective(clf, torch.ones(2, dtype=torch.bool), 0.5, 3, alpha_mode="oracle")


def test_vanishing_margin_gradients_get_a_clear_error():
    """A dead classifier (every ReLU off) has E[∇q] = 0: α is undefined, say so."""
    clf = MLP(2, [4], 3, bias=False)
    with torch.no_grad():
        clf.net[0].weight.fill_(-1.0)  # x > 0 below: every hidden unit is off
    obj = GBCObjective(clf, torch.ones(2, dtype=torch.bool), 0.5, 3)
    x, y = torch.rand(6, 2) + 0.1, torch.arange(6) % 3
    with pytest.raises(ValueError, match="gradients vanish"):
        obj(x, y)


def test_pi_theta_moves_with_the_objective():
    """obj.double() (or .to(device)) converts the stored Πθ with the classifier, so ⟨Πθ, v⟩ keeps
    the classifier's dtype and device."""
    torch.manual_seed(0)
    clf = MLP(2, [6], 3, bias=False, const_feature=True)  # float32
    obj = GBCObjective(clf, torch.ones(2, dtype=torch.bool), lam_max=0.5, n_classes=3)
    assert all(t.dtype == torch.float32 for t in obj.t)
    obj.double()
    assert all(t.dtype == torch.float64 for t in obj.t)
    for t, p in zip(obj.t, clf.parameters()):
        torch.testing.assert_close(t, p.detach())  # Π keeps every tensor here
    x = torch.randn(5, 2, dtype=torch.float64)
    out = obj(x, torch.tensor([0, 1, 2, 0, 1]))
    assert out["L_stat"].dtype == torch.float64 and torch.isfinite(out["loss"])


def test_binary_labels_index_the_two_class_weights():
    """Labels ±1 of a one-logit classifier weight −1 by class 0 and +1 by class 1 (−1 used to wrap
    around to the last class)."""
    clf = MLP(2, [4], 1, bias=False, const_feature=True)
    obj = GBCObjective(clf, torch.ones(2, dtype=torch.bool), lam_max=0.5, n_classes=2)
    with torch.no_grad():
        obj.class_logits.copy_(torch.tensor([0.0, math.log(3.0)]))  # weights 0.5, 1.5
    w = obj.sample_weights(torch.tensor([-1, 1, 1]), None)
    assert torch.allclose(w, torch.tensor([0.5, 1.5, 1.5]))
    ten = GBCObjective(MLP(2, [4], 3, bias=False), torch.ones(2, dtype=torch.bool), 0.5, 3)
    assert torch.allclose(ten.sample_weights(torch.tensor([0, 2]), None), torch.ones(2))
