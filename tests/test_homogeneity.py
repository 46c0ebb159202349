"""Λ from the Euler identity, checked against scaling the weights: f(e^{sΛ}θ) = e^s f(θ)."""

import pytest
import torch
from torch import nn

from gbc_teach.homogeneity import (
    NotQuasiHomogeneousError,
    euler_system,
    last_layer_lambda,
    scale_params,
    solve_lambda,
)
from gbc_teach.models import MLP, ReLU, SmallCNN

S_VALUES = (-1.0, 0.5, 1.5)


def randomize(model, seed=0):
    """Random biases (zero biases give zero columns) and BN affine terms away from (1, 0)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=g))
                m.bias.copy_(torch.randn(m.bias.shape, generator=g))
            elif isinstance(m, (nn.Linear, nn.Conv2d)) and m.bias is not None:
                m.bias.copy_(torch.randn(m.bias.shape, generator=g))
    return model


def assert_scaling(model, lam, x):
    """f(x; e^{sΛ}θ) = e^s f(x; θ) for every s in S_VALUES (same mode, same batch)."""
    with torch.no_grad():
        f = model(x)
        for s in S_VALUES:
            fs = scale_params(model, lam, s)(x)
            torch.testing.assert_close(fs, torch.exp(torch.tensor(s, dtype=f.dtype)) * f,
                                       rtol=1e-9, atol=1e-9 * float(f.abs().max()))


def names_lam(res):
    return dict(zip(res.names, res.lam.tolist()))


def test_bias_free_mlp_min_norm_is_one_over_L():
    torch.manual_seed(0)
    model = MLP(3, [8, 8], 3, bias=False).double()  # L = 3 linear layers
    x = torch.randn(12, 3, dtype=torch.float64)
    res = solve_lambda(model, x)
    torch.testing.assert_close(res.lam, torch.full((3,), 1 / 3, dtype=torch.float64))
    assert res.Pi.all() and abs(res.lam_max - 1 / 3) < 1e-9
    assert res.residual < 1e-10
    # only Σλ = 1 is fixed: rank 1, a 2-dimensional null space
    assert res.rank == 1 and res.null_space.shape == (3, 2)
    assert_scaling(model, res.lam, x)
    # any member of the family is valid too: λ + (null space) c
    other = res.lam + res.null_space @ torch.tensor([0.3, -0.2], dtype=torch.float64)
    assert_scaling(model, other, x)


def test_mlp_with_biases():
    torch.manual_seed(1)
    model = randomize(MLP(3, [8, 8], 3, bias=True)).double()
    x = torch.randn(12, 3, dtype=torch.float64)
    res = solve_lambda(model, x)
    lam = names_lam(res)
    # layer l's bias takes the sum of the weight exponents up to l
    cum = 0.0
    for i in (0, 2, 4):
        cum += lam[f"net.{i}.weight"]
        assert lam[f"net.{i}.bias"] == pytest.approx(cum, abs=1e-8)
    assert cum == pytest.approx(1.0, abs=1e-8)  # the output bias scales like f itself
    assert res.names[res.Pi.nonzero()[0, 0]] == "net.4.bias"
    # three free weight exponents with one constraint: null space of dimension 2
    K = len(res.names)
    assert res.rank == K - 2 and res.null_space.shape == (K, 2)
    assert_scaling(model, res.lam, x)


def test_null_space_is_null():
    torch.manual_seed(2)
    model = randomize(MLP(2, [6, 6], 3, bias=True)).double()
    x = torch.randn(10, 2, dtype=torch.float64)
    res = solve_lambda(model, x)
    A, b, names = euler_system(model, x)
    assert names == res.names
    assert res.null_space.shape == (len(names), len(names) - res.rank)
    assert (A @ res.null_space).abs().max() < 1e-8 * A.abs().max()
    # orthonormal basis, orthogonal to the minimum-norm solution
    eye = torch.eye(res.null_space.shape[1], dtype=torch.float64)
    torch.testing.assert_close(res.null_space.T @ res.null_space, eye)
    assert (res.null_space.T @ res.lam).abs().max() < 1e-8


def test_batchnorm_train_mode():
    torch.manual_seed(3)
    model = randomize(MLP(3, [8, 8], 3, bias=True, bn=True)).double().train()
    x = torch.randn(16, 3, dtype=torch.float64)
    res = solve_lambda(model, x)
    lam = names_lam(res)
    # net.0 Linear, net.1 BN, net.3 Linear, net.4 BN, net.6 Linear: everything before the last
    # BN (net.4) is scale-invariant and gets λ = 0 in the minimum-norm solution
    for n in ("net.0.weight", "net.0.bias", "net.1.weight", "net.1.bias", "net.3.weight",
              "net.3.bias"):
        assert abs(lam[n]) < 1e-6, (n, lam[n])
    assert lam["net.4.weight"] == pytest.approx(lam["net.4.bias"], abs=1e-8)
    assert lam["net.6.bias"] == pytest.approx(1.0, abs=1e-8)
    assert lam["net.4.weight"] + lam["net.6.weight"] == pytest.approx(1.0, abs=1e-8)
    # solve_lambda must not touch the running statistics
    assert torch.equal(model.net[1].running_mean, torch.zeros(8, dtype=torch.float64))
    assert_scaling(model, res.lam, x)  # train mode, same batch


def test_small_cnn():
    torch.manual_seed(4)
    model = randomize(SmallCNN(1, 3, width=2, side=8)).double()
    x = torch.randn(4, 1, 8, 8, dtype=torch.float64)
    res = solve_lambda(model, x)
    lam = names_lam(res)
    assert lam["features.0.bias"] == pytest.approx(lam["features.0.weight"], abs=1e-8)
    assert lam["features.3.bias"] == pytest.approx(
        lam["features.0.weight"] + lam["features.3.weight"], abs=1e-8)
    assert lam["head.bias"] == pytest.approx(1.0, abs=1e-8)
    assert_scaling(model, res.lam, x)


@pytest.mark.parametrize("bias", [False, True])
def test_last_layer_choice(bias):
    torch.manual_seed(5)
    model = randomize(MLP(3, [6], 2, bias=bias)).double()
    x = torch.randn(10, 3, dtype=torch.float64)
    res = solve_lambda(model, x, choice="last_layer")
    expected = [1.0 if n.startswith("net.2.") else 0.0 for n in res.names]
    assert res.lam.tolist() == expected == last_layer_lambda(model).tolist()
    assert res.choice == "last_layer" and res.residual < 1e-10
    assert res.Pi.tolist() == [bool(v) for v in expected]
    assert_scaling(model, res.lam, x)


def test_given_lambda_validated():
    torch.manual_seed(6)
    model = MLP(3, [6], 2, bias=False).double()
    x = torch.randn(10, 3, dtype=torch.float64)
    ok = solve_lambda(model, x, choice=torch.tensor([0.2, 0.8]))
    assert ok.choice == "given" and ok.lam_max == pytest.approx(0.8)
    with pytest.raises(NotQuasiHomogeneousError, match="given"):
        solve_lambda(model, x, choice=torch.tensor([1.0, 1.0]))  # Σλ = 2: f scales by e^{2s}
    with pytest.raises(ValueError, match="entries"):
        solve_lambda(model, x, choice=torch.tensor([1.0]))
    with pytest.raises(ValueError, match="choice"):
        solve_lambda(model, x, choice="max_norm")


@pytest.mark.parametrize("act", [nn.GELU, nn.Sigmoid])
def test_non_homogeneous_raises(act):
    torch.manual_seed(7)
    model = nn.Sequential(nn.Linear(3, 8), act(), nn.Linear(8, 2))
    with pytest.raises(NotQuasiHomogeneousError, match=act.__name__):
        solve_lambda(model, torch.randn(10, 3))


def test_relu_variants_are_fine():
    # torch's nn.ReLU and our ReLU (surrogate slope set) are both positively homogeneous
    torch.manual_seed(8)
    for act in (nn.ReLU(), ReLU(a=5.0)):
        model = nn.Sequential(nn.Linear(3, 8, bias=False), act, nn.Linear(8, 2, bias=False))
        res = solve_lambda(model, torch.randn(10, 3))
        torch.testing.assert_close(res.lam, torch.full((2,), 0.5, dtype=torch.float64))


def test_batch_norm_without_affine_parameters_is_scale_invariant():
    """A parameter-free batch norm is homogeneous of degree 0: the layer before it gets λ = 0
    and the net is quasi-homogeneous, not rejected."""
    torch.manual_seed(9)
    model = nn.Sequential(nn.Linear(3, 8), nn.BatchNorm1d(8, affine=False), nn.ReLU(),
                          nn.Linear(8, 2)).double().train()
    x = torch.randn(16, 3, dtype=torch.float64)
    res = solve_lambda(model, x)
    lam = names_lam(res)
    assert abs(lam["0.weight"]) < 1e-6 and abs(lam["0.bias"]) < 1e-6
    assert lam["3.weight"] == pytest.approx(lam["3.bias"]) == pytest.approx(1.0, abs=1e-8)
    assert_scaling(model, res.lam, x)
