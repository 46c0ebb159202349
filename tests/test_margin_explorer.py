"""The margin explorer: snapshots along training, their KKT fits, and the figure of one point
(its ring at the right place, its q and μ in the title, its support-vector status)."""

import math

import matplotlib
import numpy as np
import pytest
import torch

from gbc_teach.kkt import KKTResult, kkt_fit
from gbc_teach.models import MLP
from gbc_teach.training import train_classifier
from gbc_teach.viz import margin_explorer as me

matplotlib.use("Agg")


def toy_problem():
    g = torch.Generator().manual_seed(0)
    X = torch.randn(12, 2, generator=g) * 0.3
    y = torch.arange(12) % 3
    X = X + 1.5 * torch.stack([torch.cos(2 * math.pi * y / 3), torch.sin(2 * math.pi * y / 3)], 1)
    return X, y


def trained_run(steps=60, log_every=10, every=2):
    X, y = toy_problem()
    torch.manual_seed(0)
    model = MLP(2, [16], 3, bias=False, const_feature=True, act="relu2", init_scale=0.3)
    seen = []
    snaps, cb = me.snapshot_callback(every=every, callback=lambda s, m: seen.append(s))
    train_classifier(model, X, y, steps=steps, lr=0.05, rule="normalized", log_every=log_every,
                     progress=False, callback=cb)
    return model, X, y, snaps, seen


def test_snapshots_keep_every_kth_logged_step_and_chain_the_callback():
    model, X, y, snaps, seen = trained_run()
    assert [s for s, _ in snaps] == seen[::2] and len(seen) >= 4
    # a snapshot is a copy: the first one differs from the trained model
    first, now = snaps[0][1], model.state_dict()
    assert any(not torch.equal(first[k], now[k]) for k in now)


def test_checkpoint_fits_hold_each_state():
    model, X, y, snaps, _ = trained_run()
    snaps.append((60, model.state_dict()))
    cps = me.checkpoint_fits(model, snaps, X, y)
    assert [c["step"] for c in cps] == [s for s, _ in snaps]
    with torch.no_grad():
        torch.testing.assert_close(cps[-1]["model"](X), model(X))
    ref = kkt_fit(model, X, y)
    torch.testing.assert_close(cps[-1]["fit"].mu, ref.mu)


def fixed_fit():
    mu = torch.tensor([0.0, 2.0, 0.0, 0.5] + [0.0] * 8)
    q = torch.tensor([3.0, 1.0, 2.5, 1.02] + [4.0] * 8)
    return KKTResult(mu=mu, residual=0.01, support=mu > 0.01 * mu.max(), q=q, q_min=1.0)


def test_point_summary_and_title():
    _, y = toy_problem()
    s = me.point_summary(fixed_fit(), y, 3)
    assert s == {"index": 3, "label": 0, "q": pytest.approx(1.02), "q_ratio": pytest.approx(1.02),
                 "mu": 0.5, "mu_ratio": 0.25, "support": True}
    assert me.point_title(s) == ("point 3 (class 0): q = 1.02 = 1.020 q_min, μ = 0.5 (0.25 max μ), "
                                 "a support vector")
    s0 = me.point_summary(fixed_fit(), y, 0)
    assert not s0["support"] and me.point_title(s0).endswith("not a support vector")
    neg = KKTResult(mu=torch.zeros(12), residual=1.0, support=torch.zeros(12, dtype=torch.bool),
                    q=torch.linspace(-1, 1, 12), q_min=-1.0)
    s1 = me.point_summary(neg, y, 0)
    assert s1["q_ratio"] is None and "not separated" in me.point_title(s1)


def test_figure_rings_the_chosen_point_and_names_its_q_and_mu():
    model, X, y, _, _ = trained_run()
    fit = fixed_fit()
    fig = me.plot_margin_point(model, X, y, fit, 1, step=60, name="raw", resolution=30)
    assert fig._suptitle.get_text() == me.point_title(me.point_summary(fit, y, 1))
    assert "μ = 2" in fig._suptitle.get_text() and "a support vector" in fig._suptitle.get_text()
    left, right = fig.axes[:2]
    assert left.get_title().startswith("raw, step 60")
    rings = [c for c in left.collections if c.get_label() == "point 1"]
    assert len(rings) == 1
    np.testing.assert_allclose(rings[0].get_offsets()[0], X[1].numpy(), rtol=1e-6)
    # right panel: the red ring sits at (q_1/q_min, μ_1/max μ) = (1, 1)
    red = [c for c in right.collections
           if np.allclose(c.get_edgecolor()[:, :3], matplotlib.colors.to_rgb(me.HIGHLIGHT))]
    np.testing.assert_allclose(red[-1].get_offsets()[0], [1.0, 1.0])
    assert right.get_xlabel() == "q_i / q_min"


def test_explore_margins_picks_run_and_clamps_checkpoint():
    model, X, y, snaps, _ = trained_run()
    cps = me.checkpoint_fits(model, snaps, X, y)
    runs = {"a": cps, "b": cps[:1]}
    fig = me.explore_margins(runs, X, y, index=2, classifier="b", checkpoint=5, resolution=20)
    assert fig.axes[0].get_title().startswith(f"b, step {cps[0]['step']}")
    fig = me.explore_margins(runs, X, y, index=2, resolution=20)  # first run, last checkpoint
    assert fig.axes[0].get_title().startswith(f"a, step {cps[-1]['step']}")
    assert fig._suptitle.get_text().startswith("point 2 (class 2)")
