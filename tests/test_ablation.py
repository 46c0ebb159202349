"""The §5 α identity against linear classifiers with known multipliers; the ablation runner
against run_toy2d."""

import pytest
import torch
from torch import nn

from gbc_teach.experiments.ablation import (
    alpha_check,
    constraint_values,
    fixed_alpha_objective,
    format_table,
    summarize,
    with_overrides,
)
from gbc_teach.kkt import margin_jacobian


def linear(W):
    model = nn.Linear(W.shape[1], W.shape[0], bias=False).to(W.dtype)
    with torch.no_grad():
        model.weight.copy_(W)
    return model


def test_alpha_at_an_exact_kkt_point():
    # two mirrored points, one per class: W = μ(e0−e1)x1ᵀ + μ(e1−e0)x2ᵀ with x2 = −x1 is the
    # max-margin direction, both margins are 4μ|x1|², and α = Σμ = 2μ = λ‖θ‖²/q_min (λ = 1)
    x1 = torch.tensor([0.6, -0.3, 1.1], dtype=torch.float64)
    X, y, mu = torch.stack([x1, -x1]), torch.tensor([0, 1]), 0.7
    e = torch.eye(2, dtype=torch.float64)
    W = mu * torch.outer(e[0] - e[1], x1) + mu * torch.outer(e[1] - e[0], -x1)
    lam, Pi = torch.ones(1, dtype=torch.float64), torch.ones(1, dtype=torch.bool)
    a = alpha_check(linear(W), X, y, lam, Pi)
    assert a["residual"] < 1e-6
    for k in ("alpha_mu", "alpha_ls", "alpha_kkt"):
        assert a[k] == pytest.approx(2 * mu, rel=1e-6)
    assert a["q_min"] == pytest.approx(4 * mu * float(x1 @ x1), rel=1e-6)
    assert a["slack_max"] == pytest.approx(1.0, rel=1e-6)
    assert a["qmin_tied"] == pytest.approx(a["q_min"], rel=1e-6)


def test_alpha_identities_off_the_kkt_point():
    # a generic linear classifier: stationarity fails, but the identities that hold for any
    # p still do: Σμ = α_ls (NNLS), ⟨Λθ, v⟩ = E_p[q] (Euler), tied q_min = E_p[q]/cos²
    g = torch.Generator().manual_seed(0)
    X = torch.randn(9, 4, generator=g, dtype=torch.float64)
    y = torch.arange(9) % 3
    W = torch.randn(3, 4, generator=g, dtype=torch.float64)
    for pairs in (True, False):
        a = alpha_check(linear(W), X, y, torch.ones(1, dtype=torch.float64),
                        torch.ones(1, dtype=torch.bool), pairs=pairs)
        assert a["residual"] > 1e-3
        assert a["alpha_mu"] == pytest.approx(a["alpha_ls"], rel=1e-6)
        assert abs(a["euler_gap"]) < 1e-6
        assert a["qmin_tied"] == pytest.approx(a["Ep_q"] / a["cos2"], rel=1e-6)
        # λ‖θ‖²/q_min over α_ls = (E_p[q]/q_min)/cos² for a homogeneous net
        assert a["alpha_kkt"] / a["alpha_ls"] == pytest.approx(
            a["Ep_q"] / a["q_min"] / a["cos2"], rel=1e-6)


@pytest.mark.parametrize("pairs", [True, False])
def test_constraint_values_follow_the_jacobian_rows(pairs):
    # degree-1 homogeneous f = Wx: ⟨θ, ∇q_r⟩ = q_r row by row, so the orders must agree
    g = torch.Generator().manual_seed(1)
    X = torch.randn(5, 3, generator=g, dtype=torch.float64)
    y = torch.tensor([0, 1, 2, 3, 1])
    model = linear(torch.randn(4, 3, generator=g, dtype=torch.float64))
    J, _, _ = margin_jacobian(model, X, y, pairs=pairs)
    theta = model.weight.detach().flatten()
    torch.testing.assert_close(J.double() @ theta, constraint_values(model, X, y, pairs).double(),
                               rtol=1e-5, atol=1e-5)


def test_fixed_alpha_objective_keeps_alpha_and_ties_qmin():
    from gbc_teach.datasets.toy2d import make_toy2d
    from gbc_teach.experiments.toy2d import ToyConfig, toy_classifier, toy_generator
    from gbc_teach.gbc import train_generator
    from gbc_teach.homogeneity import solve_lambda

    torch.manual_seed(0)
    cfg = ToyConfig.fast(width=8, rbf_side=3, gen_steps=3, batch=12)
    data = make_toy2d(0)
    model = toy_classifier(cfg)
    lam = solve_lambda(model, data.X, "uniform")
    obj = fixed_alpha_objective(model, lam, cfg, alpha=0.37)
    G = toy_generator(cfg)
    hist = train_generator(G, obj, steps=3, batch=12, log_every=1, progress=False)
    assert all(a == pytest.approx(0.37, rel=1e-6) for a in hist["alpha"])
    t_sq = sum(float(p.detach().pow(2).sum()) for p in model.parameters())
    assert hist["q_min"][-1] == pytest.approx(lam.lam_max * t_sq / 0.37, rel=1e-5)


def test_ablation_default_row_is_run_toy2d():
    from gbc_teach.experiments.ablation import ablation_seed
    from gbc_teach.experiments.toy2d import ToyConfig, run_toy2d

    cfg = ToyConfig.fast(clf_steps=150, gen_steps=15, naive_steps=1, n_eval_samples=60,
                         width=16, batch=48)
    ref = run_toy2d(1, cfg)["metrics"]["gbc"]
    rows = ablation_seed(1, cfg, [("default", {}), ("tied", {"qmin_mode": "tied"})])
    assert rows[0]["sv_recall"] == ref["sv_recall"] and rows[0]["precision"] == ref["precision"]
    assert rows[0]["L_stat"] == pytest.approx(ref["L_stat"], rel=1e-5)
    # one classifier for both variants
    assert rows[0]["clf_seconds"] == rows[1]["clf_seconds"]
    assert rows[0]["kkt_residual"] == rows[1]["kkt_residual"]
    res = {"variants": [["default", {}], ["tied", {"qmin_mode": "tied"}]], "rows": rows}
    table = summarize(res)
    assert [r["variant"] for r in table] == ["default", "tied"]
    assert table[1]["sv_recall"] == rows[1]["sv_recall"]
    text = format_table(table)
    assert text.count("\n") == 3 and "| tied |" in text


def test_summarize_means_and_missing_qmin():
    rows = [{"seed": s, "variant": "a", "sv_recall": r, "precision": 1.0, "L_stat": 0.1,
             "q_min_ratio": None, "gen_seconds": 2.0, "clf_seconds": 1.0, "kkt_residual": 0.01}
            for s, r in ((0, 0.5), (1, 1.0))]
    (row,) = summarize({"variants": [["a", {}]], "rows": rows})
    assert row["sv_recall"] == 0.75 and row["q_min_ratio"] is None
    assert row["recall_per_seed"] == [0.5, 1.0]
    assert "| — |" in format_table([row])


def test_with_overrides_rejects_unknown_fields():
    from gbc_teach.experiments.toy2d import ToyConfig

    assert with_overrides(ToyConfig(), {"n_codes": 1}).n_codes == 1
    with pytest.raises(ValueError, match="unknown"):
        with_overrides(ToyConfig(), {"not_a_field": 1})
