"""Weight decay's KKT form, the 'pairs' stationarity, particles, the judges and the recovery map."""

import copy
import json
from dataclasses import replace

import numpy as np
import pytest
import torch

from gbc_teach.baselines.particles import Particles, fit_in_span
from gbc_teach.cli import main
from gbc_teach.evaluation.judges import augment, train_second_evaluator, tstr_accuracy
from gbc_teach.experiments import image_nets, recovery, reports
from gbc_teach.experiments.image_nets import make_classifier
from gbc_teach.experiments.mnist_config import MnistConfig
from gbc_teach.experiments.mnist_multi import run_mnist_multi
from gbc_teach.gbc import train_generator
from gbc_teach.homogeneity import every_tensor
from gbc_teach.kkt import kkt_residual_with, wd_diagnostics, wd_multipliers
from gbc_teach.losses import GBCObjective
from gbc_teach.models import MLP
from gbc_teach.training import (
    data_loss,
    finish_in_float64,
    stationarity_by_direction,
    train_weight_decay,
    wd_residual,
)
from gbc_teach.viz.recovery import plot_recovery_map


def blobs(n_per_class=4, d=12, C=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    centers = torch.rand(C, d, generator=g)
    X = (centers.repeat_interleave(n_per_class, 0)
         + 0.15 * torch.randn(C * n_per_class, d, generator=g)).clamp(0, 1)
    return X, torch.arange(C).repeat_interleave(n_per_class)


def smooth_net(d=12, C=3, width=32, seed=0):
    torch.manual_seed(seed)
    return MLP(d, [width, width], C, bias="first", act="softplus")


@pytest.fixture(scope="module")
def stationary():
    """A smooth net trained with weight decay to its stationary point (shared: ~1 s)."""
    X, y = blobs()
    model = smooth_net()
    hist = train_weight_decay(model, X, y, wd=1e-2, adam_steps=300, lr=1e-2, lbfgs_iters=300,
                              progress=False)
    return model, X, y, hist


def test_wd_multipliers_reproduce_the_stationarity_residual_exactly():
    """‖θ − Σ μ_ij ∇(f_y − f_j)‖/‖θ‖ with μ_ij = p_ij/(n·wd) equals ‖∇L + wd·θ‖/‖wd·θ‖ for ANY θ:
    −∇_θ CE_i = Σ_{j≠y} p_ij ∇_θ(f_y − f_j). Checked on an untrained net, where both are large."""
    X, y = blobs()
    model = smooth_net(seed=3)
    wd = 0.05
    a = kkt_residual_with(model, X, y, wd_multipliers(model, X, y, wd))
    b = wd_residual(model, X, y, wd)
    assert a > 0.1 and abs(a - b) < 1e-4 * b


def test_weight_decay_training_reaches_the_kkt_form(stationary):
    model, X, y, hist = stationary
    assert hist["train_acc"][-1] == 1.0
    # L-BFGS takes the residual orders of magnitude below where Adam left it
    assert hist["residual"][-1] < 1e-3 < hist["residual"][0]
    d = wd_diagnostics(model, X, y, wd=1e-2, chunk=16)
    assert d["residual_wd"] < 1e-3
    # NNLS with every (point, wrong class) constraint fits θ at least as well as the prediction,
    # and better than one constraint per point; its multipliers follow the predicted ones
    assert d["kkt_residual_pairs"] <= d["residual_wd"] + 1e-4
    assert d["kkt_residual_pairs"] < d["kkt_residual_per_image"]
    assert d["mu_correlation"] > 0.9


def test_a_small_residual_can_hide_a_weak_direction_still_decaying():
    """Four points, a smooth MLP trained to its weight-decay stationary point: every r_j is 1.
    Then W₁'s third direction (10⁻⁴ of the first) is doubled, as if it were still decaying: the
    residual, which weighs directions by their size, hardly moves, r₃ falls to about 1/2, and r_j
    is the direct −u_jᵀ∇_{W₁}L v_j / (wd·s_j)."""
    torch.manual_seed(0)
    X, y, wd = torch.rand(4, 12, dtype=torch.float64), torch.tensor([0, 1, 0, 1]), 1e-2
    model = MLP(12, [16, 16], 2, bias="first", act="softplus").double()
    train_weight_decay(model, X, y, wd=wd, adam_steps=200, lr=1e-2, lbfgs_iters=500,
                       progress=False)
    W = model.net[0].weight
    assert max(abs(v - 1) for v in stationarity_by_direction(model, model.net[0], X, y, wd, 3)) < 1e-3
    before = wd_residual(model, X, y, wd)
    U, s, Vh = torch.linalg.svd(W.detach(), full_matrices=False)
    with torch.no_grad():
        W.add_(s[2] * torch.outer(U[:, 2], Vh[2]))  # s₃ → 2·s₃
    r = stationarity_by_direction(model, model.net[0], X, y, wd, 3)
    assert abs(r[0] - 1) < 1e-2 and abs(r[1] - 1) < 1e-2 and abs(r[2] - 0.5) < 0.05
    assert wd_residual(model, X, y, wd) < before + 1e-3  # the residual barely sees it
    model.zero_grad()
    data_loss(model(X), y).backward()
    U, s, Vh = torch.linalg.svd(W.detach(), full_matrices=False)
    direct = -(U[:, :3].T @ W.grad @ Vh[:3].T).diagonal() / (wd * s[:3])
    assert torch.allclose(direct, torch.tensor(r, dtype=torch.float64), atol=1e-8)


def test_a_float64_finish_goes_on_where_float32_l_bfgs_has_stopped():
    """Four points, a float32 MLP at its weight-decay stationary point as far as float32 L-BFGS
    goes: 300 more float32 iterations leave the residual where it was, 300 in float64 bring it
    down a hundredfold, and the model comes back in float32 with the gain kept."""
    def residual(m):  # measured in float64 on a copy, so that both are judged alike
        return wd_residual(copy.deepcopy(m).double(), X.double(), y, wd)

    torch.manual_seed(0)
    X, y, wd = torch.rand(4, 12), torch.tensor([0, 1, 0, 1]), 1e-2
    model = MLP(12, [16, 16], 2, bias="first", act="softplus")
    train_weight_decay(model, X, y, wd=wd, adam_steps=200, lr=1e-2, lbfgs_iters=500,
                       progress=False)
    stalled = copy.deepcopy(model)
    train_weight_decay(stalled, X, y, wd=wd, adam_steps=0, lbfgs_iters=300, progress=False)
    r32 = residual(model)
    assert residual(stalled) > 0.5 * r32  # float32 has stopped moving (measured: unchanged)
    hist = finish_in_float64(model, X, y, wd, lbfgs_iters=300, progress=False)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert hist["residual"][-1] < r32 / 100  # measured 10⁻⁷ against 10⁻³
    assert residual(model) < r32 / 100  # rounding back to float32 keeps it (measured 3·10⁻⁷)


def test_weight_decay_training_ends_on_its_most_stationary_iterate(monkeypatch):
    """Near the stationary point the residual wanders from one L-BFGS chunk to the next; the
    model returned is the logged iterate of lowest residual, and the history ends on it. The
    last chunk is made to wander for sure: its step is followed by a kick to the parameters."""
    X, y = blobs(seed=1)
    model = smooth_net(seed=1)
    step, calls = torch.optim.LBFGS.step, []

    def kicked(self, closure):
        loss = step(self, closure)
        calls.append(1)
        if len(calls) == 40:  # 400 iterations in chunks of 10: the last one
            with torch.no_grad():
                for p in model.parameters():
                    p.add_(0.05 * torch.randn_like(p))
        return loss

    monkeypatch.setattr(torch.optim.LBFGS, "step", kicked)
    hist = train_weight_decay(model, X, y, wd=1e-2, adam_steps=100, lr=1e-2, lbfgs_iters=400,
                              log_every=10, progress=False)
    lbfgs = hist["residual"][10:]  # the L-BFGS chunks (after Adam's 10 logs), then the restore
    # the restore is logged at the same step; steps count the iterations that ran (≤ 100 + 400)
    assert len(calls) == 40 and hist["step"][-1] == hist["step"][-2] <= 500
    assert hist["residual"][-2] > 10 * hist["residual"][-1]  # the kick, then the best put back
    assert hist["residual"][-1] == pytest.approx(min(lbfgs[:-1]), rel=1e-3)
    assert wd_residual(model, X, y, 1e-2) == pytest.approx(hist["residual"][-1], rel=1e-3)


def test_pairs_form_v_is_the_softmax_weighted_sum_over_wrong_classes(stationary):
    model, X, y, _ = stationary
    lam = every_tensor(model)
    obj = GBCObjective(model, lam.Pi, lam.lam_max, 3, qmin_mode="none", alpha_mode="closed",
                       stat_form="pairs", class_weights=False)
    v, _ = obj.v_of(X, y)
    # reference: E_i Σ_{j≠y_i} p_ij ∇(f_y − f_j), one point at a time
    params = list(model.parameters())
    ref = [torch.zeros_like(p) for p in params]
    for xi, yi in zip(X, y):
        f = model(xi[None])[0]
        p = torch.softmax(f, 0).detach()
        s = sum(p[j] * (f[yi] - f[j]) for j in range(3) if j != yi)
        for r, gi in zip(ref, torch.autograd.grad(s, params)):
            r += gi / len(X)
    for a, b in zip(v, ref):
        torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    # at a weight-decay stationary point the training points make L_stat vanish; others do not
    L_train = float(obj(X, y)["L_stat"].detach())
    L_other = float(obj(blobs(seed=9)[0], y)["L_stat"].detach())
    assert L_train < 1e-4 and L_other > 100 * L_train
    with pytest.raises(ValueError, match="stat_form"):
        GBCObjective(model, lam.Pi, 1.0, 3, stat_form="cosine")


def one_point_a_class():
    """(X, y, the pairs objective) of a smooth net at its weight-decay stationary point on three
    points, one a class (the n = 10 MNIST regime in miniature)."""
    X, y = blobs(n_per_class=1, d=12, C=3)
    model = smooth_net()
    train_weight_decay(model, X, y, wd=1e-2, adam_steps=300, lr=1e-2, lbfgs_iters=300,
                       progress=False)
    lam = every_tensor(model)
    obj = GBCObjective(model, lam.Pi, lam.lam_max, 3, qmin_mode="none", alpha_mode="closed",
                       stat_form="pairs", class_weights=False)
    return X, y, obj


def test_particles_recover_the_training_points():
    """One point a class (the n = 10 MNIST regime in miniature): free particles fitted by the
    pairs objective alone land near the training points, each nearest to its own."""
    X, y, obj = one_point_a_class()
    P = Particles(3, len(X), shape=(X.shape[1],), init=0.01, seed=0)
    assert P.y.tolist() == [0, 1, 2]
    d0 = torch.cdist(X, P.sample()[0]).diag()
    hist = train_generator(P, obj, steps=1500, lr=0.02, progress=False, log_every=500)
    assert hist["L_stat"][-1] < 0.01 * hist["L_stat"][0]
    x, yy = P.sample()
    assert x.min() >= 0 and x.max() <= 1  # projected back into the domain after every step
    d = torch.cdist(X, x)  # (train, particle); particle k has label k = training point k's
    assert (d.argmin(0) == torch.arange(3)).all()
    assert (d.diag() < 0.15 * d0).all() and float(d.diag().max()) < 0.2 * float(torch.pdist(X).min())


def test_particles_in_the_span_stay_there_and_find_the_points():
    """fit_in_span searches only c in x = Bᵀc: its answer lies in the span to float precision,
    lowers L_stat, keeps the training points where they are when started on them, and (one point a
    class, a 3-dimensional span) finds each point from a dark start."""
    X, y, obj = one_point_a_class()
    B = torch.linalg.svd(X, full_matrices=False)[2]  # (3, 12): the span of the points
    x0 = 0.01 * torch.rand(X.shape, generator=torch.Generator().manual_seed(0))  # dark start
    x, hist = fit_in_span(obj, B, x0, y, rounds=20)
    assert float((x - (x @ B.T) @ B).norm()) < 1e-5 * float(x.norm())
    assert hist["L_stat"][-1] < 0.01 * float(obj(x0, y)["L_stat"].detach())
    d = torch.cdist(X, x)
    assert (d.argmin(0) == torch.arange(3)).all() and float(d.diag().max()) < 0.05
    L_train = float(obj(X, y)["L_stat"].detach())
    x_t, hist_t = fit_in_span(obj, B, X, y, rounds=3)
    assert hist_t["L_stat"][-1] <= L_train and float((x_t - X).norm()) < 0.01
    with pytest.raises(ValueError, match="rows of 5"):
        fit_in_span(obj, B[:, :5], x0, y)


def test_particles_refuse_fewer_than_one_a_class():
    with pytest.raises(ValueError, match="one particle a class"):
        Particles(10, 5)


def test_tstr_tells_signal_from_shuffled_labels():
    X, y = blobs(n_per_class=30, d=20, C=4, seed=1)
    Xt, yt = blobs(n_per_class=30, d=20, C=4, seed=1)
    Xt = (Xt + 0.05 * torch.randn(Xt.shape, generator=torch.Generator().manual_seed(5))).clamp(0, 1)
    good = tstr_accuracy(X, y, Xt, yt, steps=200)
    shuffled = tstr_accuracy(X, y[torch.randperm(len(y), generator=torch.Generator().manual_seed(0))],
                             Xt, yt, steps=200)
    assert good > 0.9 and shuffled < 0.6


def test_second_evaluator_learns_and_caches(tmp_path):
    g = torch.Generator().manual_seed(0)
    # two "classes" of 28×28 images: a bright left half or a bright right half
    x = torch.zeros(200, 1, 28, 28)
    y = torch.arange(200) % 2
    x[y == 0, :, :, :14] = 1
    x[y == 1, :, :, 14:] = 1
    x = (x * (0.7 + 0.3 * torch.rand(200, 1, 1, 1, generator=g))).clamp(0, 1)
    a = augment(x, g)
    assert a.shape == x.shape and a.min() >= 0 and a.max() <= 1 and not torch.equal(a, x)
    path = tmp_path / "ev2.pt"
    ev = train_second_evaluator(x, y, epochs=3, progress=False, path=path)
    assert path.is_file()
    with torch.no_grad():
        acc = float((ev(x).argmax(1) == y).float().mean())
    assert acc > 0.95
    ev2 = train_second_evaluator(x, y, epochs=3, progress=False, path=path)  # from the cache
    for p, q in zip(ev.parameters(), ev2.parameters()):
        assert torch.equal(p, q)
    path.write_bytes(b"not a checkpoint")  # a broken cache is a miss, not a crash
    train_second_evaluator(x, y, epochs=1, progress=False, path=path)


def test_recovery_profile_cli_tiny(no_mnist):
    """`gbc-teach mnist --fast` runs the recovery profile: weight decay, particles, the judges."""
    out = no_mnist / "run"
    assert main(["mnist", "--fast", "--seed", "0", "--out", str(out), "--quiet",
                 "--set", "n_eval_images=300", "--set", "eval_epochs=1"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    c = m["classifier"]
    assert m["config"]["clf_rule"] == "weight_decay" and "first-layer bias" in c["architecture"]
    # near its stationary point (measured 0.06; 50 L-BFGS iterations left 0.26 and W₁'s init)
    assert 0 <= c["residual_wd"] < 0.15
    assert c["kkt_residual_pairs"] <= c["kkt_residual_per_image"] + 1e-6
    assert set(m) >= {"gbc", "particles", "naive", "real"} and "bnstat" not in m
    fl = c["first_layer"]  # what W₁ sees of the training images: 1 ≤ rank ≤ n, shares in [0, 1]
    assert 1 <= fl["rank"] <= 10 * m["config"]["n_per_class"] + 1
    assert len(fl["outside"]) == 10 * m["config"]["n_per_class"]
    assert all(0 <= v <= 1 for v in fl["outside"]) and fl["singular_values"][0] == 1.0
    for row in ("gbc", "particles", "naive", "real"):
        for key in ("evaluator_accuracy", "second_evaluator_accuracy", "tstr_accuracy",
                    "ssim_recovery_share", "l2_recovery_share"):
            assert 0 <= m[row][key] <= 1, (row, key)
    assert m["particles"]["n"] == 10 * m["config"]["n_per_class"] * m["config"]["particle_mult"]
    assert (out / "samples_particles.png").is_file() and (out / "recovery.png").is_file()
    assert ("rowspace" in m) != ("rowspace_skipped" in m)  # ran, or says why not
    # the ceiling row: the training images themselves, judged the same way
    ti = m["train_images"]
    assert ti["n"] == m["particles"]["n"] and ti["l2_recovery_share"] == 1.0
    assert 0 <= ti["second_evaluator_accuracy"] <= 1
    rows = reports.recovery_target_rows(m)
    assert [r["target"].split()[1] for r in rows][:2] == ["SSIM", "L2"]
    assert all(isinstance(r["met"], bool) for r in rows)


def test_parity_task_is_binary_end_to_end(no_mnist):
    """--set task=parity: Haim et al.'s even/odd setting, two classes throughout (classifier,
    generator, particles, evaluators), on the same digit-balanced training images."""
    out = no_mnist / "parity"
    assert main(["mnist", "--fast", "--seed", "0", "--out", str(out), "--quiet",
                 "--set", "task=parity", "--set", "n_eval_images=600", "--set", "eval_epochs=4",
                 "--set", "n_codes=5"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["classifier"]["architecture"].split(",")[0].endswith("-2")
    assert "even/odd" in m["classifier"]["architecture"] and m["data"]["task"] == "parity"
    assert m["particles"]["n"] == 10  # one a training image: 5 even, 5 odd digits
    for row in ("gbc", "particles", "real"):
        assert 0 <= m[row]["evaluator_accuracy"] <= 1
    # real digits are easy to tell even from odd: a binary evaluator must beat chance clearly
    assert m["real"]["evaluator_accuracy"] > 0.6
    # the row-space reconstruction either ran or says why not (no gap in W₁'s spectrum)
    assert ("rowspace" in m) != ("rowspace_skipped" in m)
    if "rowspace_skipped" in m:
        assert "no gap" in m["rowspace_skipped"]
    else:
        assert 1 <= m["rowspace"]["n"] <= m["rowspace"]["rowspace"]["k"]  # at most one a direction


def test_the_recovery_profile_can_finish_its_classifier_in_float64():
    """clf_f64_lbfgs: the weight-decay classifier goes on in float64 where float32 stopped; it
    comes back in float32, more stationary, and its history runs on from float32's."""
    g = torch.Generator().manual_seed(0)
    X, y = torch.rand(20, 1, 28, 28, generator=g), torch.arange(10).repeat(2)
    runs = {}
    for f64 in (0, 600):
        torch.manual_seed(0)
        cfg = MnistConfig.recovery(fast=True, clf_f64_lbfgs=f64)
        runs[f64] = image_nets.train_mnist_classifier(X, y, cfg, 10)
    (_, _, h32), (model, _, hist) = runs[0], runs[600]
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert hist["residual"][-1] < h32["residual"][-1] / 3  # measured 0.010 against 0.033
    assert hist["step"][:len(h32["step"])] == h32["step"]
    assert hist["step"][len(h32["step"])] == h32["step"][-1]  # the float64 start, logged
    assert all(b >= a for k in ("step", "seconds") for a, b in zip(hist[k], hist[k][1:]))


def test_a_float64_finish_never_ends_less_stationary_than_it_started(monkeypatch):
    """Where every float64 iterate is worse than the start (here: L-BFGS made to kick the
    parameters away), the start is put back and logged again as the last step."""
    X, y = blobs(seed=2)
    model = smooth_net(seed=2)
    train_weight_decay(model, X, y, wd=1e-2, adam_steps=100, lr=1e-2, lbfgs_iters=300,
                       progress=False)
    before = copy.deepcopy(model.state_dict())
    step = torch.optim.LBFGS.step

    def kicked(self, closure):
        loss = step(self, closure)
        with torch.no_grad():
            for p in self.param_groups[0]["params"]:
                p.add_(0.05 * torch.randn_like(p))
        return loss

    monkeypatch.setattr(torch.optim.LBFGS, "step", kicked)
    hist = finish_in_float64(model, X, y, 1e-2, lbfgs_iters=50, progress=False)
    assert min(hist["residual"][1:-1]) > hist["residual"][0]  # every iterate worse than the start
    assert hist["residual"][-1] == hist["residual"][0] and hist["step"][-1] == hist["step"][-2]
    for k, v in model.state_dict().items():
        assert v.dtype == torch.float32
        torch.testing.assert_close(v, before[k], rtol=0, atol=0)


def test_small_init_scales_the_first_layer():
    """init_scale (Haim et al.'s small initialization) multiplies the first layer's weights."""
    cfg = MnistConfig.recovery(fast=True)
    torch.manual_seed(0)
    big = make_classifier(cfg)
    torch.manual_seed(0)
    small = make_classifier(replace(cfg, init_scale=1e-3))
    for i, (a, b) in enumerate(zip(big.parameters(), small.parameters())):
        torch.testing.assert_close(b, 1e-3 * a if i == 0 else a)
    assert MnistConfig(task="parity").n_classes == 2
    assert MnistConfig(task="parity", n_per_class=3).images_per_class == 15


def test_plot_recovery_map():
    row = lambda s: {"ssim_recovery_share": s, "l2_recovery_share": min(1, s + 0.2)}  # noqa: E731
    res = {"rows": [{"n_train": n, "classifier": {"residual_wd": r}, "gbc": row(s),
                     "particles": row(s / 2)}
                    for n, r, s in ((10, 0.01, 1.0), (20, 0.02, 0.4), (50, 0.03, 0.0))]}
    fig = plot_recovery_map(res)
    ax = fig.axes[0]
    assert len(ax.lines) == 5  # 2 methods × (SSIM, L2) + the real line
    np.testing.assert_allclose(ax.lines[0].get_ydata(), [1.0, 0.4, 0.0])
    assert len(fig.axes) == 2  # the residual's twin axis


def test_plot_recovery_map_draws_a_method_missing_at_some_n():
    """The row-space reconstruction does not run where W₁ has no gap: its line covers the
    other points instead of vanishing."""
    row = lambda s: {"ssim_recovery_share": s, "l2_recovery_share": s}  # noqa: E731
    res = {"rows": [{"n_train": 10, "classifier": {}, "gbc": row(1.0), "rowspace": row(1.0)},
                    {"n_train": 50, "classifier": {}, "gbc": row(0.0), "rowspace": row(0.9)},
                    {"n_train": 100, "classifier": {}, "gbc": row(0.0)}]}
    ax = plot_recovery_map(res).axes[0]
    drawn = {line.get_label(): list(line.get_xdata()) for line in ax.lines}
    assert drawn["rowspace (SSIM)"] == [10, 50] and drawn["gbc (SSIM)"] == [10, 50, 100]


def test_haim_profile_small_first_layer_sees_every_image(no_mnist):
    """--profile haim: plain GD from a 10⁴× smaller first layer, no weight decay. Its W₁ then
    holds every training image: each one lies in W₁'s strong row space."""
    cfg = MnistConfig.profile("haim")
    assert (cfg.clf_rule, cfg.init_scale, cfg.act, cfg.clf_steps) == ("plain", 1e-4, "relu", 20000)
    out = no_mnist / "haim"
    assert main(["mnist", "--fast", "--profile", "haim", "--seed", "0", "--out", str(out),
                 "--quiet", "--set", "n_eval_images=300", "--set", "eval_epochs=1",
                 "--set", "particle_steps=0"]) == 0
    m = json.loads((out / "metrics.json").read_text())
    fl = m["classifier"]["first_layer"]
    assert m["config"]["clf_rule"] == "plain" and m["profile"] == "haim"
    assert fl["rank"] >= 10 and fl["outside_max"] < 0.05


def test_mnist_multi_refuses_the_parity_task():
    with pytest.raises(ValueError, match="task='parity'"):
        run_mnist_multi(0, MnistConfig.fast(task="parity"))


def test_map_markdown_shows_what_the_first_layer_sees():
    row = {"ssim_recovery_share": 1.0, "l2_recovery_share": 1.0, "ssim_recovery_mean": 0.9,
           "ssim_reference_mean": 0.6, "evaluator_accuracy": 0.9}
    clf = {"test_accuracy": 0.4, "residual_wd": 0.01, "kkt_residual_per_image": 0.7,
           "kkt_residual_pairs": 0.004}
    res = {"rows": [{"n_train": 10, "classifier": {**clf, "first_layer": {
        "rank": 10, "outside_mean": 0.0}}, "gbc": row},
        {"n_train": 20, "classifier": clf, "gbc": row},  # a point cached before the lens
        {"n_train": 50, "classifier": {**clf, "first_layer": {
            "rank": 23, "outside_mean": 0.41, "gap_rank": 50, "outside_gap_mean": 0.0014}},
         "gbc": row},
        {"n_train": 100, "classifier": {**clf, "first_layer": {
            "rank": 29, "outside_mean": 0.46, "gap_rank": None, "outside_gap_mean": None}},
         "gbc": row, "train_images": {**row, "tstr_accuracy": 0.69, "frechet": 17.21}}]}
    lines = recovery.map_markdown(res).splitlines()
    assert "W₁ sees" in lines[0] and lines[0].count("|") == lines[1].count("|")
    assert "| 10 (0.000) |" in lines[2] and "| — |" in lines[3]
    assert "| 23 (0.410); 50 (0.001) |" in lines[4] and "| 29 (0.460); no gap |" in lines[5]
    # the ceiling: the training images' own scores, with the Fréchet distance beside TSTR
    assert lines[6].startswith("| | | | | | | train_images |") and "| 0.690 | 17.2 |" in lines[6]
    assert lines[2].endswith("| — |")  # no Fréchet distance in the row: a dash


def test_weight_decay_history_counts_the_lbfgs_iterations_that_ran():
    """A chunk of L-BFGS ends early where its evaluation budget runs out: the logged steps add the
    iterations that ran (here some chunks run fewer than the 50 asked), never more than asked."""
    X, y = blobs()
    model = smooth_net()
    hist = train_weight_decay(model, X, y, wd=1e-2, adam_steps=300, lr=1e-2, lbfgs_iters=300,
                              progress=False, log_every=50)
    steps = [s for s in hist["step"] if s > 300]
    gaps = np.diff([300, *steps])
    assert (gaps > 0).all() and (gaps <= 50).all()
    assert steps[-1] <= 300 + 300
    assert (gaps < 50).any()  # measured: chunks of 14 and 4 iterations at the end
