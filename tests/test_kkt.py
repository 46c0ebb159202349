"""KKT fit against cases with a known answer: θ built as a nonnegative combination of ∇q."""

import numpy as np
import pytest
import torch
from scipy.optimize import nnls
from torch import nn

from gbc_teach.datasets.toy2d import make_toy2d
from gbc_teach.evaluation.points import radius, sv_recall
from gbc_teach.experiments.toy2d import ToyConfig, train_toy_classifier
from gbc_teach.kkt import (
    conv_operator,
    dictionary_atoms,
    dictionary_fit,
    filter_spectrum,
    first_layer_view,
    flat_Pi_theta,
    gap_rank,
    kkt_fit,
    margin_jacobian,
    nnls_gram,
    scan_q_min,
    seen_part,
)
from gbc_teach.margins import q
from gbc_teach.utils import seed_everything


def linear_from_multipliers(X, y, mu_pairs, C):
    """W = Σ_{i, j≠y_i} μ_ij ∇_W (f_{y_i} − f_j) = Σ μ_ij (e_{y_i} − e_j) x_iᵀ for f(x) = Wx."""
    W = torch.zeros(C, X.shape[1], dtype=X.dtype)
    eye = torch.eye(C, dtype=X.dtype)
    for (i, j), m in mu_pairs.items():
        W += m * torch.outer(eye[int(y[i])] - eye[j], X[i])
    model = nn.Linear(X.shape[1], C, bias=False).to(X.dtype)
    with torch.no_grad():
        model.weight.copy_(W)
    return model


@pytest.fixture
def multiclass():
    g = torch.Generator().manual_seed(0)
    # 4 points × 2 wrong classes = 8 constraint gradients in a 10-dim space (Σ_rows W = 0):
    # linearly independent, so the multipliers are unique
    X = torch.randn(4, 5, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0])
    mu_pairs = {(0, 1): 0.7, (0, 2): 0.2, (1, 0): 1.3, (2, 1): 0.5}  # point 3: μ = 0
    return X, y, mu_pairs


def test_recovers_known_multipliers(multiclass):
    X, y, mu_pairs = multiclass
    model = linear_from_multipliers(X, y, mu_pairs, C=3)
    res = kkt_fit(model, X, y)
    assert res.residual < 1e-6
    mu_points = torch.tensor([0.9, 1.3, 0.5, 0.0])
    torch.testing.assert_close(res.mu, mu_points, atol=1e-5, rtol=1e-5)
    assert res.support.tolist() == [True, True, True, False] and res.n_support == 3
    with torch.no_grad():
        torch.testing.assert_close(res.q, q(model(X), y), check_dtype=False)
    assert res.q_min == pytest.approx(float(res.q.min()))


def test_not_a_nonnegative_combination(multiclass):
    X, y, mu_pairs = multiclass
    model = linear_from_multipliers(X, y, mu_pairs, C=3)
    # −W is a nonpositive combination of the used gradients: μ ≥ 0 explains almost nothing
    flipped = linear_from_multipliers(X, y, {k: -v for k, v in mu_pairs.items()}, C=3)
    res = kkt_fit(flipped, X, y)
    assert res.residual > 0.9 and res.mu[:2].max() < 1e-6
    # W plus a component outside the span of the constraint gradients
    with torch.no_grad():
        model.weight.add_(torch.ones(3, 5, dtype=torch.float64))  # Σ_rows ≠ 0: not in the span
    assert kkt_fit(model, X, y).residual > 0.1


def test_binary_one_logit():
    g = torch.Generator().manual_seed(1)
    X = torch.randn(5, 8, generator=g, dtype=torch.float64)
    y = torch.tensor([1, -1, 1, -1, 1])
    mu = torch.tensor([0.4, 0.0, 1.1, 0.6, 0.0], dtype=torch.float64)
    model = nn.Linear(8, 1, bias=False).double()
    with torch.no_grad():  # w = Σ μ_i ∇_w (y_i w·x_i) = Σ μ_i y_i x_i
        model.weight.copy_((mu * y)[None] @ X)
    res = kkt_fit(model, X, y)
    assert res.residual < 1e-6
    torch.testing.assert_close(res.mu, mu.float(), atol=1e-5, rtol=1e-5)
    assert res.support.tolist() == [True, False, True, True, False]


def test_Pi_restricts_the_target():
    g = torch.Generator().manual_seed(2)
    X = torch.randn(4, 5, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 0])
    model = nn.Sequential(nn.Linear(5, 5, bias=False), nn.Linear(5, 3, bias=False)).double()
    Pi = torch.tensor([False, True])
    t = flat_Pi_theta(model, Pi)
    n0 = model[0].weight.numel()
    assert (t[:n0] == 0).all() and torch.equal(t[n0:], model[1].weight.detach().flatten())
    res = kkt_fit(model, X, y, Pi=Pi)
    J, _, _ = margin_jacobian(model, X, y)
    direct = nnls(J.double().T.numpy(), t.numpy())
    assert res.residual == pytest.approx(direct[1] / float(t.norm()), rel=1e-4, abs=1e-8)


def test_margin_jacobian_matches_loop():
    torch.manual_seed(3)
    model = nn.Sequential(nn.Linear(3, 6), nn.ReLU(), nn.Linear(6, 4))
    X, y = torch.randn(5, 3), torch.tensor([0, 3, 1, 2, 3])
    J, qs, idx = margin_jacobian(model, X, y, chunk=3)  # chunk < rows: exercise the batching
    assert J.shape == (5 * 3, sum(p.numel() for p in model.parameters()))
    r = 0
    for i in range(5):
        for j in range(4):
            if j == int(y[i]):
                continue
            f = model(X[i:i + 1])[0]
            g = torch.autograd.grad(f[y[i]] - f[j], list(model.parameters()))
            torch.testing.assert_close(J[r], torch.cat([t.flatten() for t in g]))
            assert int(idx[r]) == i
            r += 1
    Jq, _, idx_q = margin_jacobian(model, X, y, pairs=False)
    assert Jq.shape[0] == 5 and idx_q.tolist() == list(range(5))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nnls_gram_matches_scipy(seed):
    rng = np.random.default_rng(seed)
    J = rng.standard_normal((6, 20))
    t = rng.standard_normal(20)
    mu = nnls_gram(torch.from_numpy(J), torch.from_numpy(t))
    mu_ref, rnorm = nnls(J.T, t)
    assert (mu >= 0).all()
    np.testing.assert_allclose(mu, mu_ref, atol=1e-8)
    assert np.linalg.norm(t - J.T @ mu) == pytest.approx(rnorm, rel=1e-8)


def test_nnls_gram_rank_deficient():
    rng = np.random.default_rng(4)
    J = rng.standard_normal((5, 12))
    J = np.vstack([J, J[0] + J[1]])  # a dependent row: μ is not unique, the residual is
    t = J.T @ np.array([0.5, 0.0, 1.0, 0.0, 0.2, 0.0]) + 0.1 * rng.standard_normal(12)
    mu = nnls_gram(torch.from_numpy(J), torch.from_numpy(t))
    _, rnorm = nnls(J.T, t)
    assert (mu >= 0).all()
    assert np.linalg.norm(t - J.T @ mu) == pytest.approx(rnorm, rel=1e-6)


def test_first_layer_view_sees_the_row_space_only():
    """Images in W₁'s row space are fully seen; a direction orthogonal to every row is not, and
    singular values below rtol do not count as seen."""
    g = torch.Generator().manual_seed(0)
    X = torch.rand(4, 30, generator=g)
    W1 = torch.randn(16, 3, generator=g) @ X[:3]  # rows in the span of the first three images
    v = first_layer_view(W1, X)
    assert v["rank"] == 3
    assert max(v["outside"][:3]) < 1e-6 and v["outside"][3] > 0.05  # W₁ in float32
    # the 4th image's share outside is exactly its component orthogonal to the span
    Q, _ = torch.linalg.qr(X[:3].double().T)
    x4 = X[3].double()
    expect = float((x4 - Q @ (Q.T @ x4)).norm() / x4.norm())
    assert abs(v["outside"][3] - expect) < 1e-6
    # a fourth direction 1e-5 as strong is below rtol = 1e-3: not counted
    weak = W1 + 1e-5 * W1.norm() * torch.outer(torch.randn(16, generator=g), X[3]) / X[3].norm()
    assert first_layer_view(weak, X)["rank"] == 3
    assert first_layer_view(weak, X, rtol=1e-7)["rank"] == 4


def test_seen_part_keeps_what_w1_sees_and_drops_the_rest():
    """seen_part projects on W₁'s row space: W₁x is unchanged, images in the span come back as
    they are, an orthogonal pattern added to them is removed, and the result is in [0, 1]."""
    g = torch.Generator().manual_seed(1)
    X = 0.2 + 0.6 * torch.rand(3, 1, 4, 5, generator=g)  # three 4×5 "images"
    Xf = X.flatten(1)
    W1 = torch.randn(8, 3, generator=g) @ Xf
    Q, _ = torch.linalg.qr(Xf.T)
    u = torch.randn(20, generator=g)
    u = u - Q @ (Q.T @ u)  # orthogonal to every row of W₁
    noisy = X + 0.1 * (u / u.abs().max()).view(1, 1, 4, 5)
    seen = seen_part(W1, noisy)
    assert seen.shape == X.shape
    assert torch.allclose(seen, X, atol=1e-5)  # the invisible pattern is gone
    assert torch.allclose(seen_part(W1, X), X, atol=1e-5)
    assert torch.allclose(seen.flatten(1) @ W1.T, noisy.flatten(1) @ W1.T, rtol=1e-4, atol=1e-4)
    assert float(seen_part(W1, 5 * X).max()) <= 1.0  # clamped to the image range


def test_conv_operator_is_the_convolution_and_one_filter_sees_one_value_a_position():
    """conv_operator's matrix times an image is the convolution (bias left out); a bank whose
    filters are all multiples of one filter has one singular value and sees one number a
    position: 4×4 positions of a 3×8×8 image, 16 of its 192 directions."""
    g = torch.Generator().manual_seed(2)
    conv = nn.Conv2d(3, 6, 3, stride=2, padding=1, bias=True)
    x = torch.rand(5, 3, 8, 8, generator=g)
    M = conv_operator(conv, (3, 8, 8))
    assert M.shape == (6 * 4 * 4, 3 * 8 * 8)
    with torch.no_grad():
        direct = (conv(x) - conv.bias.view(1, -1, 1, 1)).flatten(1)
    assert torch.allclose(x.flatten(1) @ M.T, direct, atol=1e-5)
    assert first_layer_view(M, x)["rank"] == 6 * 16  # six generic filters: as many as outputs
    with torch.no_grad():  # every filter a multiple of the first
        conv.weight.copy_(torch.randn(6, 1, 1, 1, generator=g) * conv.weight[:1])
    spec = filter_spectrum(conv)
    assert spec[0] == 1.0 and max(spec[1:]) < 1e-6
    assert first_layer_view(conv_operator(conv, (3, 8, 8)), x)["rank"] == 16


def test_scan_q_min_finds_the_margin_without_the_data():
    """On a toy classifier trained to a KKT point, the dictionary fits Πθ best with candidates
    at the training set's smallest margin: the scan lands near q_min (never told it), a band
    half again as high fits clearly worse, and the fit at the scanned band finds the support
    vectors."""
    cfg = ToyConfig.fast()
    seed_everything(0)
    data = make_toy2d(0, cfg.n_classes, cfg.n_per_class)
    model, lam, _ = train_toy_classifier(data, cfg)
    fit = kkt_fit(model, data.X, data.y, lam.Pi)
    u = torch.linspace(-2.5, 2.5, 60)
    grid = torch.stack(torch.meshgrid(u, u, indexing="ij"), -1).reshape(-1, 2)
    cand, lab = grid.repeat(3, 1), torch.arange(3).repeat_interleave(len(grid))
    band = (1.0, 1.1)
    scan = scan_q_min(model, cand, lab, lam.Pi, n=61, band=band)
    assert 0.7 <= scan["q_min"] / fit.q_min <= 1.15, scan["q_min"] / fit.q_min  # measured 0.79
    best = float(np.nanmin(scan["residual"].numpy()))
    high = dictionary_fit(model, cand, lab, lam.Pi, q_band=band, q_min=1.5 * fit.q_min)[1]
    assert high > 3 * best, (high, best)
    mu, _, keep = dictionary_fit(model, cand, lab, lam.Pi, q_band=band, q_min=scan["q_min"])
    active = mu > 0.01 * mu.max()
    recall = sv_recall(cand[keep][active], lab[keep][active], data.X, data.y, fit.support,
                       radius(data.X))
    assert recall >= 0.8, recall  # measured 0.91


def test_dictionary_atoms_merges_neighbours_and_splits_the_heaviest():
    """Candidates within the radius of the heaviest merge into one atom at their μ-weighted mean;
    μ below 10⁻³ of the total is dropped; a class with fewer atoms than k splits its heaviest."""
    cand = torch.tensor([[0.0, 0.0], [0.1, 0.0], [0.0, 0.1], [1.0, 0.0], [5.0, 5.0],
                         [-1.0, 2.0]])
    lab = torch.tensor([0, 0, 0, 0, 0, 1])
    mu = torch.tensor([2.0, 1.0, 1.0, 3.0, 1e-5, 0.5])
    atoms, w = dictionary_atoms(cand, lab, mu, n_classes=2, k=3, radius=0.3)
    # class 0: the heaviest single candidate (1, 0) first, then the three around the origin
    # (mean (0.025, 0.025), weight 4); the speck of μ at (5, 5) is dropped
    torch.testing.assert_close(atoms[0, 0], torch.tensor([1.0, 0.0]))
    torch.testing.assert_close(atoms[0, 1], torch.tensor([0.025, 0.025]))
    # the third atom: the heaviest (4) split in two, not the speck of μ at (5, 5)
    torch.testing.assert_close(atoms[0, 2], atoms[0, 1])
    assert w[0].tolist() == [3.0, 2.0, 2.0]
    # class 1: one candidate, split twice
    assert torch.allclose(atoms[1], torch.tensor([-1.0, 2.0]).expand(3, 2))
    assert sorted(w[1].tolist()) == [0.125, 0.125, 0.25]
    with pytest.raises(ValueError, match="class 2"):
        dictionary_atoms(cand, lab, mu, n_classes=3, k=2, radius=0.3)


def test_convex_start_keeps_gbc_on_the_support_vectors():
    """GBC started on the convex reconstruction's atoms (start="convex", fast sizes, seed 0):
    the support vectors are found and kept, L_stat ends far below a random start's (measured
    0.008 against 0.20), and q_min stays at the scanned value."""
    from dataclasses import replace

    from gbc_teach.experiments.ablation import evaluate
    from gbc_teach.experiments.toy2d import train_gbc

    cfg = replace(ToyConfig.fast(), start="convex")
    seed_everything(0)
    data = make_toy2d(0, cfg.n_classes, cfg.n_per_class)
    model, lam, _ = train_toy_classifier(data, cfg)
    fit = kkt_fit(model, data.X, data.y, lam.Pi)
    G, _, hist = train_gbc(model, lam, cfg, 0)
    ev = evaluate(G, data, fit, cfg, 0)
    assert ev["sv_recall"] >= 0.8 and ev["precision"] >= 0.8, ev  # measured 1.00, 0.97
    assert hist["L_stat"][-1] < 0.03, hist["L_stat"][-1]
    assert hist["q_min"][-1] == pytest.approx(hist["start"]["q_min"], rel=1e-6)
    assert 0.7 <= hist["start"]["q_min"] / fit.q_min <= 1.15
    with pytest.raises(ValueError, match="ToyConfig.start"):
        train_gbc(model, lam, replace(cfg, start="grid"), 0)
    with pytest.raises(ValueError, match="qmin_mode='free'"):
        train_gbc(model, lam, replace(cfg, qmin_mode="tied"), 0)


def test_scan_q_min_refuses_candidates_without_a_positive_margin():
    model = nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        model.weight.copy_(torch.tensor([[1.0, 0.0], [0.0, 1.0]]))
    X = torch.tensor([[0.0, 1.0], [0.0, 2.0]])  # class 0 everywhere loses to class 1
    with pytest.raises(ValueError, match="positive margin"):
        scan_q_min(model, X, torch.zeros(2, dtype=torch.long))


def test_gap_rank_counts_the_values_above_the_floor():
    """The largest k with σ_k/σ_{k+1} ≥ ratio: an early strong/weak gap does not hide a later
    one above the floor; no gap that large gives None."""
    rel = torch.tensor([1.0, 0.8, 0.05, 0.03, 1e-3, 2e-5, 1.9e-5, 1.8e-5])
    assert gap_rank(rel) == 5  # 1e-3 → 2e-5 (50×), after the 16× gap at k = 2
    assert gap_rank(rel, ratio=100.0) is None
    assert gap_rank(torch.tensor([1.0, 0.9, 0.8])) is None


def test_first_layer_view_reports_the_share_outside_the_weak_directions_too():
    """A fourth image seen only 1e-5 as strongly is outside the rtol directions but inside the
    gap-rank ones: weak directions still hold it."""
    g = torch.Generator().manual_seed(0)
    X = torch.rand(4, 30, generator=g, dtype=torch.float64)
    W1 = torch.randn(16, 3, generator=g, dtype=torch.float64) @ X[:3]
    W1 = W1 + 1e-5 * W1.norm() * torch.outer(torch.randn(16, generator=g, dtype=torch.float64),
                                             X[3]) / X[3].norm()
    v = first_layer_view(W1, X)
    assert v["rank"] == 3 and v["outside"][3] > 0.05
    assert v["gap_rank"] == 4 and v["outside_gap_max"] < 1e-6
