"""Models: the surrogate ReLU (exact forward, sigmoid backward), its context manager, G's range."""

import copy

import pytest
import torch
from torch import nn

from gbc_teach.models import MLP, Generator, ReLU, SmallCNN, UpConv, kaiming_init, surrogate_relu


def test_relu_forward_exact_backward_sigmoid():
    x = torch.linspace(-3, 3, 41, dtype=torch.float64).requires_grad_()
    for a in (0.5, 4.0, 50.0):
        out = ReLU(a)(x)
        assert torch.equal(out, torch.relu(x))  # bit for bit
        g, = torch.autograd.grad(out.sum(), x)
        torch.testing.assert_close(g, torch.sigmoid(a * x.detach()))
    g, = torch.autograd.grad(ReLU()(x).sum(), x)  # a=None: the exact derivative
    assert torch.equal(g, (x.detach() > 0).double())


def test_relu_second_derivative_of_surrogate():
    # double backprop sees s'' = a·σ(ax)(1 − σ(ax)), the point of the surrogate
    x = torch.tensor([-0.3, 0.0, 0.7], dtype=torch.float64, requires_grad=True)
    g, = torch.autograd.grad(ReLU(2.0)(x).sum(), x, create_graph=True)
    h, = torch.autograd.grad(g.sum(), x)
    s = torch.sigmoid(2.0 * x.detach())
    torch.testing.assert_close(h, 2.0 * s * (1 - s))


def test_surrogate_context_restores_ours_and_plain():
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 4), ReLU(a=7.0),
                          nn.Sequential(nn.Linear(4, 4), nn.ReLU()), nn.Linear(4, 2))
    plain = [model[1], model[4][1]]
    x = torch.randn(5, 3, requires_grad=True)
    ref = model(x)
    exact = copy.deepcopy(model)
    exact[3] = nn.ReLU()  # reference: torch's ReLU everywhere
    g_exact, = torch.autograd.grad(exact(x).sum(), x)
    with surrogate_relu(model, 3.0) as m:
        assert m is model
        relus = [mod for mod in model.modules() if isinstance(mod, ReLU)]
        assert len(relus) == 3 and all(r.a == 3.0 for r in relus)
        assert not any(type(mod) is nn.ReLU for mod in model.modules())
        out = model(x)
        torch.testing.assert_close(out, ref)  # forward unchanged
        g_sur, = torch.autograd.grad(out.sum(), x)
        assert not torch.allclose(g_sur, g_exact)  # backward changed
    assert model[1] is plain[0] and model[4][1] is plain[1]  # the original objects are back
    assert type(model[1]) is nn.ReLU and model[3].a == 7.0
    with surrogate_relu(model, None):
        assert model[3].a is None  # None inside: exact everywhere
        g_none, = torch.autograd.grad(model(x).sum(), x)
    torch.testing.assert_close(g_none, g_exact)
    assert model[3].a == 7.0


def test_surrogate_context_restores_on_error():
    model = MLP(2, [4], 2)
    with pytest.raises(RuntimeError, match="boom"):
        with surrogate_relu(model, 2.0):
            raise RuntimeError("boom")
    assert all(m.a is None for m in model.modules() if isinstance(m, ReLU))


def test_surrogate_relative_slope():
    torch.manual_seed(0)
    model = MLP(2, [4, 4], 2)
    x = torch.randn(50, 2)
    seen = []
    hooks = [m.register_forward_hook(
        lambda mod, i, o: seen.append(float(i[0].pow(2).mean().sqrt())))
        for m in model.modules() if isinstance(m, ReLU)]
    with torch.no_grad():
        model(x)
    for h in hooks:
        h.remove()
    with surrogate_relu(model, 5.0, calib_x=x):
        a = [m.a for m in model.modules() if isinstance(m, ReLU)]
    assert a == pytest.approx([5.0 / s for s in seen], rel=1e-5)


def test_generator_box_and_unit():
    torch.manual_seed(1)
    G = Generator(3, 4, 2, hidden=16, out="box", box=1.5)
    with torch.no_grad():
        for p in G.net.parameters():
            p.mul_(20)  # saturate tanh
        x, y = G.sample(200)
    assert x.shape == (200, 2) and x.abs().max() <= 1.5 and x.abs().max() > 1.4
    assert torch.equal(y, torch.arange(200) % 4)
    G = Generator(3, 10, (1, 5, 5), hidden=16, out="unit")
    with torch.no_grad():
        x, _ = G.sample(30, y=torch.full((30,), 7))
    assert x.shape == (30, 1, 5, 5) and x.min() >= 0 and x.max() <= 1
    with pytest.raises(ValueError, match="out"):
        Generator(3, 4, 2, out="tanh")


def test_generator_needs_k_with_several_classifiers():
    G = Generator(3, 4, 2, hidden=8, n_classifiers=2)
    z, y = torch.randn(6, 3), torch.arange(6) % 4
    with pytest.raises(ValueError, match="pass k"):
        G(z, y)
    x0 = G(z, y, k=torch.zeros(6))
    x1 = G(z, y, k=torch.ones(6))
    assert x0.shape == (6, 2) and not torch.allclose(x0, x1)
    assert G.sample(6, k=torch.ones(6))[0].shape == (6, 2)


def test_generator_codes():
    G = Generator(3, 2, 2, hidden=8, n_codes=3)
    z, y = torch.randn(4, 3), torch.arange(4) % 2
    with pytest.raises(ValueError, match="pass c"):
        G(z, y)
    x, yb, w = G.training_batch(12)
    assert x.shape == (12, 2) and torch.equal(yb, torch.arange(12) % 2)
    torch.testing.assert_close(w, torch.ones(12))  # uniform π at the start: weights 1
    assert w.requires_grad


def test_classifiers_shapes_and_init():
    torch.manual_seed(2)
    mlp = MLP(2, [8], 3, bias=False, const_feature=True, init_scale=0.1)
    assert mlp.net[0].in_features == 3 and mlp(torch.randn(5, 2)).shape == (5, 3)
    with pytest.raises(ValueError, match="input features"):
        mlp(torch.randn(5, 3))
    cnn = SmallCNN(1, 10, width=4, side=8)
    assert cnn(torch.randn(2, 1, 8, 8)).shape == (2, 10)
    lin = kaiming_init(nn.Linear(400, 50), scale=0.5)
    assert float(lin.weight.std()) == pytest.approx(0.5 * (2 / 400) ** 0.5, rel=0.05)
    assert (lin.bias == 0).all()


@pytest.mark.parametrize("c_in,c_out,H,W", [(3, 2, 5, 4), (4, 1, 7, 7), (2, 3, 4, 6), (5, 8, 3, 3)])
def test_upconv_equals_upsample_then_conv(c_in, c_out, H, W):
    """UpConv is nearest ×2 upsampling then the 3×3 conv, values and gradients, to float64 precision."""
    torch.manual_seed(0)
    m = UpConv(c_in, c_out).double()
    ref = torch.nn.Sequential(torch.nn.Upsample(scale_factor=2), m.conv)
    h = torch.randn(3, c_in, H, W, dtype=torch.float64, requires_grad=True)
    a, b = m(h), ref(h)
    assert a.shape == (3, c_out, 2 * H, 2 * W)
    torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    g = torch.randn_like(a)
    for x, y in zip(torch.autograd.grad((a * g).sum(), [h, m.conv.weight, m.conv.bias]),
                    torch.autograd.grad((b * g).sum(), [h, m.conv.weight, m.conv.bias])):
        torch.testing.assert_close(x, y, rtol=0, atol=1e-11)
