"""Multi-label margins and their KKT form (docs/method.md §11): one constraint per (image,
attribute), BCE + weight decay's known multipliers, the GBC 'pairs' vector for attributes, and
the Euler identity of the faces classifier's ReLU twin."""

import pytest
import torch

from gbc_teach import homogeneity, kkt, margins, training
from gbc_teach.experiments import faces
from gbc_teach.experiments.faces_config import FaceConfig
from gbc_teach.experiments.faces_nets import AttributeCNN, all_combinations, combination_index
from gbc_teach.losses import GBCObjective


@pytest.fixture
def net_and_faces():
    torch.manual_seed(0)
    model = AttributeCNN(5, width=4, size=16).double()
    x = torch.rand(6, 3, 16, 16, dtype=torch.float64)
    a = torch.randint(0, 2, (6, 5)).double()
    return model, x, a


def test_attribute_margins_and_sample_margin():
    f = torch.tensor([[2.0, -1.0, 0.5], [-3.0, 4.0, -0.2]])
    a = torch.tensor([[1.0, 0.0, 0.0], [1.0, 1.0, 0.0]])
    q = margins.q_attrs(f, a)
    assert torch.equal(q, torch.tensor([[2.0, 1.0, -0.5], [-3.0, 4.0, 0.2]]))  # s_a f_a
    assert torch.equal(margins.q(f, a), torch.tensor([-0.5, -3.0]))  # min over attributes
    with pytest.raises(ValueError, match="0 or 1"):
        margins.q_attrs(f, a * 2)


def test_bce_is_the_sum_of_softplus_of_minus_margins(net_and_faces):
    model, x, a = net_and_faces
    f = model(x)
    ref = torch.nn.functional.binary_cross_entropy_with_logits(f, a, reduction="sum") / len(x)
    assert torch.allclose(training.data_loss(f, a), ref, rtol=1e-12)


def test_predicted_multipliers_give_minus_the_bce_gradient(net_and_faces):
    """−∇ BCE = (1/n) Σ_i Σ_a σ(−q_ia) ∇q_ia = wd · Σ μ_ia ∇q_ia with μ = σ(−q)/(n·wd), on any
    net (untrained here): the identity behind weight decay's KKT form."""
    model, x, a = net_and_faces
    wd = 1e-3
    g = torch.autograd.grad(training.data_loss(model(x), a), list(model.parameters()))
    g = torch.cat([t.flatten() for t in g])
    J, _, idx = kkt.margin_jacobian(model, x, a, pairs=True)
    assert J.shape[0] == 6 * 5 and torch.equal(idx, torch.arange(6).repeat_interleave(5))
    mu = kkt.wd_multipliers(model, x, a, wd)
    rel = (-g - wd * J.double().T @ mu).norm() / g.norm()
    assert rel < 1e-4


def test_gbc_pairs_vector_is_the_log_likelihood_gradient(net_and_faces):
    """v = E[∇ log p(s|x)] = −∇ BCE for uniform weights, and L_stat is 1 − cos²(θ, v)."""
    model, x, a = net_and_faces
    obj = GBCObjective(model, homogeneity.every_tensor(model).Pi, 1.0, 5, qmin_mode="none",
                       class_weights=False, alpha_mode="closed", stat_form="pairs")
    v, qs = obj.v_of(x, a)
    g = torch.autograd.grad(training.data_loss(model(x), a), obj.theta)
    assert all(torch.allclose(vi, -gi, atol=1e-12) for vi, gi in zip(v, g))
    assert torch.allclose(qs, margins.q(model(x), a))
    theta = torch.cat([p.detach().flatten() for p in model.parameters()])
    vf = torch.cat([t.flatten() for t in v]).detach()
    cos2 = (theta @ vf) ** 2 / (theta @ theta * (vf @ vf))
    L = obj(x, a)["L_stat"].detach()
    assert float(L) == pytest.approx(float(1 - cos2 * torch.sign(theta @ vf)), abs=1e-10)


def test_wd_residual_and_training_with_attributes():
    torch.manual_seed(0)
    model = AttributeCNN(5, width=4, size=16)
    x, a = torch.rand(8, 3, 16, 16), torch.randint(0, 2, (8, 5)).float()
    hist = training.train_weight_decay(model, x, a, wd=1e-2, adam_steps=200, lr=1e-2,
                                       lbfgs_iters=100, progress=False)
    assert hist["residual"][-1] < 0.2 and hist["residual"][-1] < hist["residual"][0]
    assert training.wd_residual(model, x, a, 1e-2) == pytest.approx(hist["residual"][-1], rel=1e-3)


def test_relu_twin_is_quasi_homogeneous():
    """Λ of the bias-free conv net with a first-layer bias: the Euler identity holds, the
    first-layer weight and bias share their λ, and f(e^{sΛ}θ) = e^s f(θ)."""
    torch.manual_seed(0)
    model = AttributeCNN(5, width=4, size=16, act="relu")
    for p in model.parameters():  # a non-zero bias, so that the bias's λ matters
        p.data.add_(0.1 * torch.randn_like(p))
    x = torch.rand(8, 3, 16, 16)
    lam = homogeneity.solve_lambda(model, x)
    assert lam.residual < 1e-6
    d = dict(zip(lam.names, lam.lam.tolist()))
    assert d["features.0.weight"] == pytest.approx(d["features.0.bias"], abs=1e-9)
    s = 0.3
    scaled = homogeneity.scale_params(model, lam.lam, s)
    with torch.no_grad():
        assert torch.allclose(scaled(x), torch.exp(torch.tensor(s)) * model(x), rtol=1e-4, atol=1e-6)


def test_combination_index_round_trip():
    C = all_combinations(5)
    assert C.shape == (32, 5) and torch.equal(combination_index(C), torch.arange(32))


def test_mlp_attribute_classifier_and_its_relu_twin():
    """arch='mlp': one logit per attribute from a 3·S² input, a first-layer bias only, and a
    ReLU twin whose Λ satisfies the Euler identity."""
    cfg = FaceConfig.fast(arch="mlp", mlp_width=16, size=16)
    torch.manual_seed(0)
    model = faces.attribute_classifier(cfg, 5)
    x = torch.rand(8, 3, 16, 16)
    assert model(x).shape == (8, 5)
    biases = [n for n, _ in model.named_parameters() if n.endswith("bias")]
    assert biases == ["net.0.bias"]
    lam = faces.relu_lambda(cfg, x, 5)
    assert lam.residual < 1e-6
    assert "MLP 768-16-16-A" in faces.architecture(cfg)


def test_scale_term_knows_weight_decays_alpha():
    """At a weight-decay stationary point θ = v/wd, so ‖v‖ = wd·‖θ‖ and L_scale ≈ 0 on the
    training faces; a dimmed copy of them has smaller margins, larger multipliers, a larger v."""
    cfg = FaceConfig.fast(arch="mlp", mlp_width=16, size=8)
    torch.manual_seed(0)
    model = faces.attribute_classifier(cfg, 5).double()
    x = torch.rand(6, 3, 8, 8, dtype=torch.float64)
    a = torch.randint(0, 2, (6, 5)).double()
    wd = 1e-2
    training.train_weight_decay(model, x, a, wd=wd, adam_steps=300, lr=1e-2, lbfgs_iters=300,
                                progress=False)
    assert training.wd_residual(model, x, a, wd) < 0.02
    obj = GBCObjective(model, homogeneity.every_tensor(model).Pi, 1.0, 5, qmin_mode="none",
                       class_weights=False, alpha_mode="closed", stat_form="pairs",
                       scale_target=1 / wd, scale_weight=0.5)
    out = {k: v.detach() for k, v in obj(x, a).items()}
    assert float(out["L_scale"]) < 1e-3
    assert float(out["alpha"]) == pytest.approx(1 / wd, rel=0.03)  # the closed α agrees
    dim = {k: v.detach() for k, v in obj(0.3 * x, a).items()}
    v, _ = obj.v_of(0.3 * x, a)
    theta = torch.cat([p.detach().flatten() for p in model.parameters()])
    log_ratio = torch.cat([t.flatten() for t in v]).norm().log() - (wd * theta.norm()).log()
    assert float(dim["L_scale"]) == pytest.approx(float(log_ratio) ** 2, rel=1e-9)
    assert float(dim["L_scale"]) > 0.1
    assert float(dim["loss"]) == pytest.approx(float(dim["L_stat"] + 0.5 * dim["L_scale"]))
    with pytest.raises(ValueError, match="scale_target"):
        GBCObjective(model, homogeneity.every_tensor(model).Pi, 1.0, 5, scale_weight=0.5)
