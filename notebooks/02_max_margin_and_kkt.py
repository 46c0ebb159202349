# ---
# jupyter:
#   gbc_teach:
#     fast_minutes: 1
#     full_minutes: 4
#     needs_gpu: false
#   jupytext:
#     notebook_metadata_filter: gbc_teach,-jupytext.text_representation.jupytext_version
#     text_representation:
#       extension: .py
#       format_name: percent
#       format_version: '1.3'
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# > **Source:** this notebook is written as the Python script [`02_max_margin_and_kkt.py`](02_max_margin_and_kkt.py).
# > Edit the script, not this file, then run `jupytext --sync` ([how](README.md#editing-and-running-a-notebook)).

# %% [markdown]
# # 02 — Gradient descent, the max-margin bias and the KKT conditions
#
# A generator can only be "born from a classifier" if the classifier's parameters remember its
# training points. They do so through an implicit bias: gradient descent on cross-entropy pushes a
# (quasi-)homogeneous network towards a KKT point of a max-margin problem, whose stationarity
# condition writes θ as a non-negative combination of the margin gradients of the support vectors.
# This notebook trains the toy classifier and watches that happen — or fail to happen.
#
# **What you will learn**
#
# 1. Why only the *direction* of θ matters for a homogeneous net, and the normalized margin
#    $\gamma(\theta) = q_{\min}/\|\theta\|^{1/\lambda}$ that measures it.
# 2. Three update rules — plain GD, normalized GD, and a step of fixed size relative to $\|\theta\|$ —
#    and how initial scale and rule decide whether training reaches the max-margin regime.
# 3. The max-margin problem and its KKT conditions (Lyu & Li 2020; Kunin et al. 2023), and how to
#    test them on a trained net: fit μ ≥ 0 by non-negative least squares, read the residual.
# 4. What the multipliers look like on the data: support vectors, and how exact complementary
#    slackness ($\mu_i > 0 \Rightarrow q_i = q_{\min}$) really is.
#
# **Prerequisites**: notebook 01 (the toy data, the classifier, margins $q$); gradients with autograd.
# Notation as in the README: margin `q`, `lam` (Λ), `lam_max`, `Pi`, `mu`, `q_min`.
#
# Runs on CPU: 2–11 minutes in full mode (default; the range over the CPUs it ran on), under a minute with `GBC_FAST=1`
# (fewer steps and checkpoints, the same cells and checks).

# %%
import inspect
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display
from torch.nn import functional as F

from gbc_teach import homogeneity, kkt, training
from gbc_teach.datasets import toy2d as toy_data
from gbc_teach.experiments import toy2d
from gbc_teach.viz import explore, widgets
from gbc_teach.margins import q as margin
from gbc_teach.utils import seed_everything

plt.rcParams["figure.dpi"] = 80
torch.set_num_threads(1)  # tiny tensors: extra threads only add contention (8× slower on a busy 2-core machine)
print(f"torch {torch.__version__} on CPU, {torch.get_num_threads()} threads")

# %% tags=["parameters"]
FAST = os.environ.get("GBC_FAST") == "1"
SEED = 0
CFG = toy2d.ToyConfig()  # the toy classifier of notebook 01: RBF features → 100 relu² units → 3 logits
STEPS = 2000 if FAST else 20000  # training steps of every run in the sweep
N_LOGS = 10 if FAST else 40  # checkpoints per run (KKT fit + state kept for the widget)
SCALES = [1.0, 0.1, 0.01]  # initial scale × Kaiming; 1.0 is PyTorch's usual default
print(f"FAST={FAST}: {len(SCALES)} scales × 3 rules × {STEPS} steps, {N_LOGS + 1} checkpoints each")

# %% [markdown]
# ## 1. Only the direction matters
#
# The toy classifier is $f(x;\theta) = W_2\,\mathrm{relu}(W_1\phi(x))^2$ with fixed features φ (RBF
# bumps and a constant 1) and no biases. Scaling every parameter by $c > 0$ scales the output by
# $c^2\cdot c = c^3$: the net is homogeneous of degree $L = 3$. In the language of notebook 03,
# $f(x; e^{s\Lambda}\theta) = e^s f(x;\theta)$ with $\lambda_k = 1/3$ for both tensors.
#
# So the decisions of θ and $c\theta$ are the same, and the margins grow as $c^3$. Cross-entropy
# can always be lowered by growing $\|\theta\|$; what gradient descent *chooses* is a direction.
# The scale-free quality of a direction is the **normalized margin**
#
# $$\gamma(\theta) = \frac{q_{\min}(\theta)}{\|\theta\|^{1/\lambda}} = \frac{\min_i q(x_i, y_i;\theta)}{\|\theta\|^{3}},$$
#
# unchanged by $\theta\to c\theta$ (`training.normalized_margin`, which takes $\|\Pi\theta\|$ and
# $\lambda_{\max}$ for a general Λ). Check both facts on a real net:

# %%
seed_everything(SEED)
data = toy_data.make_toy2d(SEED, CFG.n_classes, CFG.n_per_class)
net = toy2d.toy_classifier(CFG)
lam_toy = homogeneity.solve_lambda(net, data.X, "uniform")
print("Λ per tensor:", [(n, round(float(v), 6)) for n, v, _ in lam_toy.table()])

c = 2.5
big = homogeneity.scale_params(net, torch.full((2,), 1.0), np.log(c))  # θ → cθ
with torch.no_grad():
    f, f_big = net(data.X), big(data.X)
err_deg = float((f_big - c**3 * f).abs().max() / (c**3 * f).abs().max())
q_small, q_big = margin(f, data.y), margin(f_big, data.y)
g_small = training.normalized_margin(q_small, net, 1 / 3)
g_big = training.normalized_margin(q_big, big, 1 / 3)
print(f"f(cθ) vs c³ f(θ): max relative error {err_deg:.1e}")
print(f"γ(θ) = {g_small:.6g},  γ(cθ) = {g_big:.6g}")
# float32 forward passes: tolerance 1e-5 relative
assert err_deg < 1e-5, err_deg
assert abs(g_big - g_small) <= 1e-5 * abs(g_small), (g_small, g_big)

# %% [markdown]
# ## 2. Three ways to follow the gradient
#
# With $L(\theta) = \frac1N\sum_i \mathrm{CE}(f(x_i;\theta), y_i)$:
#
# * **plain GD**: $\theta \leftarrow \theta - \eta\,\nabla L$. Once every point is classified, $L$ decays
#   exponentially with the margins, and so do the steps: plain GD slows to a crawl long before the
#   direction has converged.
# * **normalized GD**: $\theta \leftarrow \theta - \eta\,\nabla L / L = \theta - \eta\,\nabla\log L$.
#   The step keeps its size as $L\to 0$ (this is the paper's classifier training).
# * **relative**: $\theta \leftarrow \theta - \eta_t\,\|\theta\|\;\nabla\log L/\|\nabla\log L\|$, a step
#   that is a fixed fraction $\eta_t$ of the current norm, with $\eta_t$ decayed geometrically.
#   Since the direction is what converges, the step is measured against the norm.
#
# $\log L$ underflows nowhere: `training.log_cross_entropy` computes it from the margins directly, so
# it still has a gradient when $L < 10^{-38}$ (float32). Its value agrees with the log of PyTorch's
# cross-entropy where the latter is representable:

# %%
with torch.no_grad():
    logits = net(data.X)
ours = float(training.log_cross_entropy(logits, data.y))
ref = float(torch.log(F.cross_entropy(logits.double(), data.y)))
print(f"log_cross_entropy {ours:.7f}   log(F.cross_entropy) {ref:.7f}")
assert abs(ours - ref) < 1e-5  # float32 against float64: tolerance 1e-5

# %% [markdown]
# Lyu & Li (2020) prove that for a homogeneous net, once the data are fit, gradient flow on an
# exponential-type loss keeps (a smoothed) γ increasing, and θ/‖θ‖ converges to a KKT point of the
# max-margin problem of §3. *Converges* is the catch: it is a statement about $t\to\infty$. How
# close a finite run gets depends on where it starts. A small initialization starts in the "rich"
# regime, where the hidden units move and align with the data before the loss is small; the
# default scale starts "lazy", fits the data with little feature learning and then spends a very
# long time turning.
#
# Now the sweep: every (initial scale, rule) pair from the same initial direction, with a KKT fit
# (§3) at each checkpoint. The checkpoints are kept for the widget of §5.

# %%
print(inspect.getsource(explore.track_training))

# %%
RULES = {
    "plain": {"lr": 1.0},
    "normalized": {"lr": 0.1},
    # lam: the relative rule moves θ back along e^{-sΛ}θ when margins pass 1e8 (same direction)
    "relative": {"lr": CFG.clf_lr, "lr_final": CFG.clf_lr_final, "lam": lam_toy.lam},
}


def make_net(scale):
    return toy2d.toy_classifier(toy2d.ToyConfig(init_scale=scale))


t0 = time.perf_counter()
runs = explore.sweep_training(make_net, data.X, data.y, SCALES, RULES, STEPS, n_logs=N_LOGS,
                              seed=SEED, Pi=lam_toy.Pi, lam_max=lam_toy.lam_max)
print(f"{len(runs)} runs in {time.perf_counter() - t0:.0f} s")
print(f"{'scale':>6} {'rule':>11} {'loss':>9} {'γ':>8} {'KKT res.':>9} {'#SV':>4} {'acc':>5}")
for (scale, rule), h in runs.items():
    print(f"{scale:6g} {rule:>11} {h['loss'][-1]:9.2e} {h['norm_margin'][-1]:8.4f} "
          f"{h['kkt_residual'][-1]:9.3f} {int(h['support'][-1].sum()):4d} {h['train_acc'][-1]:5.2f}")

# %%
fig, axes = plt.subplots(3, 3, figsize=(12, 8), sharex=True, sharey="row")
keys = [("loss", "loss L", "log"), ("norm_margin", "normalized margin γ", "linear"),
        ("kkt_residual", "KKT residual", "log")]
for j, rule in enumerate(RULES):
    for i, (key, label, yscale) in enumerate(keys):
        ax = axes[i, j]
        for k, scale in enumerate(SCALES):
            h = runs[(scale, rule)]
            v = np.asarray(h[key], dtype=float)
            if key == "loss":
                v = np.maximum(v, 1e-40)  # the relative rule drives L below float32's range
            ax.plot(h["step"], v, color=f"C{k}", label=f"init ×{scale:g}")
        ax.set_yscale(yscale)
        if key == "norm_margin":
            ax.set_ylim(bottom=min(0.0, ax.get_ylim()[0]))
        if j == 0:
            ax.set_ylabel(label)
        if i == 0:
            ax.set_title(rule)
        if i == 2:
            ax.set_xlabel("step")
axes[0, 0].legend()
fig.tight_layout()

# %%
final = {k: h["kkt_residual"][-1] for k, h in runs.items()}  # KKT residual at the last step
gamma = {k: h["norm_margin"][-1] for k, h in runs.items()}
display(Markdown(
    "Read the figure by rows. The loss falls in every run. The normalized margin rises and levels off "
    "— but at different heights. The KKT residual (§3) tells the story the loss hides: from the default "
    f"scale, plain and normalized GD stop at {final[(1.0, 'plain')]:.2f} and {final[(1.0, 'normalized')]:.2f}, "
    "far from any KKT point, while a smaller initial scale brings plain GD closer "
    f"({final[(0.01, 'plain')]:.2f} from ×0.01); the relative rule, "
    "which moves the direction at a steady pace, reaches the max-margin regime from every scale "
    f"(residual {max(final[(s, 'relative')] for s in SCALES):.3f} at most). (The normalized rule from the "
    "smallest scale sits on the saddle at θ ≈ 0, where ∇log L is tiny, for a long time; how long depends on η.)"
    "\n\nThe checks below hold in both modes; the tolerances are stated in the comments."))

# %%
# the relative rule reaches the max-margin regime from every scale: residual < 0.05
assert all(final[(s, "relative")] < 0.05 for s in SCALES), final
# from the default scale, plain and normalized GD do not: residual > 0.5
assert final[(1.0, "plain")] > 0.5 and final[(1.0, "normalized")] > 0.5, final
# a small initialization helps plain GD: at least 0.3 lower residual at ×0.01 than at ×1
assert final[(0.01, "plain")] < final[(1.0, "plain")] - 0.3, final
# and the relative rule finds the largest normalized margin of all runs (up to 2%)
best_rel = max(gamma[(s, "relative")] for s in SCALES)
assert all(g <= 1.02 * best_rel for g in gamma.values()), gamma

# %% [markdown]
# ## 3. The max-margin problem and its KKT conditions
#
# Normalize θ so that the smallest margin is 1. For a homogeneous net (Lyu & Li 2020) — and, with a
# mask Π, for a quasi-homogeneous one (Kunin et al. 2023; notebook 03) — the limit direction θ* is a
# KKT point of
#
# $$\min_\theta\ \tfrac12\|\Pi\theta\|^2\quad\text{s.t.}\quad f_{y_i}(x_i;\theta) - f_j(x_i;\theta) \ge 1\quad\text{for every point } i \text{ and class } j\ne y_i.$$
#
# (One constraint per wrong class: the multi-class margin $q_i = f_{y_i} - \max_{j\ne y_i} f_j$ is a
# minimum of these and is not differentiable where two runner-ups tie.) With the Lagrangian
# $\mathcal L = \tfrac12\|\Pi\theta\|^2 - \sum_{i,j}\mu_{ij}(f_{y_i}-f_j - 1)$ the KKT conditions are
#
# * **stationarity**: $\Pi\theta^* = \sum_{i,j}\mu_{ij}\,\nabla_\theta (f_{y_i}-f_j)(x_i;\theta^*)$,
# * **primal feasibility**: $f_{y_i}-f_j \ge 1$,
# * **dual feasibility**: $\mu_{ij}\ge 0$,
# * **complementary slackness**: $\mu_{ij}\,(f_{y_i}-f_j-1) = 0$.
#
# A point with some $\mu_{ij}>0$ is a **support vector**; $\mu_i = \sum_j\mu_{ij}$. The trained θ is
# not normalized, but for the toy net (every $\lambda_k$ equal) θ and θ* differ by a positive factor,
# which the multipliers absorb: the test is whether $\Pi\theta$ lies in the cone spanned by the
# constraint gradients. `kkt.kkt_fit` fits μ ≥ 0 by non-negative least squares and reports
#
# $$r = \frac{\|\Pi\theta - \sum_{i,j}\mu_{ij}\nabla_\theta(f_{y_i}-f_j)\|}{\|\Pi\theta\|},$$
#
# 0 at a KKT point, 1 when the cone explains nothing.

# %%
print(inspect.getsource(kkt.kkt_fit))

# %% [markdown]
# Two checks of what `kkt_fit` computes. The NNLS is solved on the small $N\times N$ Gram system
# instead of the $P$-dimensional one ($P$ = 6,800 parameters); it must give the same residual as a
# direct solve. And the residual must not depend on the scale of θ: with $\theta\to c\theta$ each
# gradient $\nabla(f_y - f_j)$ scales as $c^2$ and $\Pi\theta$ as $c$, so μ scales as $c^{-1}$ and $r$
# is unchanged.

# %%
from scipy.optimize import nnls

h_def = runs[(CFG.init_scale, "relative")]  # the toy default: init ×0.1, relative rule
clf = explore.load_state(make_net(CFG.init_scale), h_def["state"][-1])
fit = kkt.kkt_fit(clf, data.X, data.y, lam_toy.Pi)

J, _, _ = kkt.margin_jacobian(clf, data.X, data.y)  # (N·(C−1), P) constraint gradients
t = kkt.flat_Pi_theta(clf, lam_toy.Pi)
mu_direct, _ = nnls(J.double().T.numpy(), t.double().numpy())
r_direct = float(np.linalg.norm(t.double().numpy() - J.double().T.numpy() @ mu_direct) / t.norm())

fit_c = kkt.kkt_fit(homogeneity.scale_params(clf, lam_toy.lam, np.log(3.0) * 3), data.X, data.y,
                    lam_toy.Pi)  # θ → 3θ
print(f"residual: Gram NNLS {fit.residual:.5f}, direct NNLS {r_direct:.5f}, after θ → 3θ "
      f"{fit_c.residual:.5f}")
# same optimum up to solver precision: 1e-3 absolute; scale invariance: 1e-3 absolute (float32)
assert abs(fit.residual - r_direct) < 1e-3
assert abs(fit.residual - fit_c.residual) < 1e-3


# %% [markdown]
# ## 4. The KKT conditions on the data
#
# Each training point drawn with marker area ∝ $\mu_i$, support vectors ($\mu_i > 1\%$ of the largest)
# ringed, the dashed lines at margin $q_{\min}$. On the right, $\mu_i$ against $q_i/q_{\min}$:
# complementary slackness asks every point with $\mu_i>0$ to sit exactly on the line $q_i/q_{\min}=1$.
# First the toy default (init ×0.1, relative rule), then the classifier that plain GD gives from the
# default scale.

# %%
def slackness(fit):
    # share of Σμ on points off the margin (q > 1.05 q_min); largest q/q_min of a support vector
    off = fit.q > 1.05 * fit.q_min
    share = float(fit.mu[off].sum() / fit.mu.sum())
    return share, float((fit.q[fit.support] / fit.q_min).max())


fig = explore.plot_kkt_state(clf, data.X, data.y, fit.mu, fit.q, fit.support, h_def, -1)
fig.suptitle(f"init ×{CFG.init_scale:g}, relative rule: KKT residual {fit.residual:.3f}", y=1.02)
share, worst = slackness(fit)
print(f"toy default: {fit.n_support} support vectors, μ-mass off the margin {share:.1%}, "
      f"largest q/q_min of a support vector {worst:.3f}")

# %%
h_plain = runs[(1.0, "plain")]
clf_plain = explore.load_state(make_net(1.0), h_plain["state"][-1])
fit_plain = kkt.kkt_fit(clf_plain, data.X, data.y, lam_toy.Pi)
fig = explore.plot_kkt_state(clf_plain, data.X, data.y, fit_plain.mu, fit_plain.q,
                             fit_plain.support, h_plain, -1)
fig.suptitle(f"init ×1, plain GD: KKT residual {fit_plain.residual:.3f}", y=1.02)
share_p, worst_p = slackness(fit_plain)
print(f"plain GD, default init: {fit_plain.n_support} support vectors, μ-mass off the margin "
      f"{share_p:.1%}, largest q/q_min of a support vector {worst_p:.2f}")

# %%
display(Markdown(
    "In the max-margin regime the picture is what the theory draws: a handful of support vectors "
    f"({fit.n_support}), all on the dashed margin lines, the other points with μ ≈ 0. Complementary "
    f"slackness is not exact — the support vectors' margins spread up to {worst - 1:.1%} above "
    r"$q_{\min}$, the distance a finite run still has to go. From the default scale the best "
    f"non-negative combination explains little of θ (residual {fit_plain.residual:.2f}), the multipliers "
    f"spread over points well inside their class ({share_p:.0%} of Σμ off the margin, support vectors up "
    f"to {worst_p:.1f} q_min), and \"support vector\" loses its meaning."))

# %%
# in the max-margin regime: at most 5% of Σμ on points more than 5% above q_min,
# and every support vector within 25% of q_min
assert share < 0.05 and worst < 1.25, (share, worst)
# the default-scale plain-GD classifier explains θ far worse (residual at least 10× larger)
assert fit_plain.residual > 10 * fit.residual, (fit_plain.residual, fit.residual)

# %% [markdown]
# ## 5. Explorer: initial scale, rule, steps
#
# Pick a run and a step: the decision regions with the $q_{\min}$ level lines, the points sized by
# their fitted μ, the margins against μ and the KKT residual so far. Every checkpoint was stored by
# the sweep above, so moving a slider only redraws. Where no slider can be shown (GitHub, or a run
# with `GBC_WIDGETS=0`) the cell shows one static figure: the default-scale plain-GD run at its last step.

# %%
template = make_net(1.0)
LOG_EVERY = max(STEPS // N_LOGS, 1)


def show_run(scale=1.0, rule="plain", steps=STEPS):
    h = runs[(scale, rule)]
    i = min(steps // LOG_EVERY, len(h["step"]) - 1)
    m = explore.load_state(template, h["state"][i])
    fig = explore.plot_kkt_state(m, data.X, data.y, h["mu"][i], h["q"][i], h["support"][i], h, i,
                                 resolution=100)
    fig.suptitle(f"init ×{scale:g}, {rule}, step {h['step'][i]}: loss {h['loss'][i]:.2e}, "
                 f"γ {h['norm_margin'][i]:.4f}, KKT residual {h['kkt_residual'][i]:.3f}", y=1.02)
    return fig


widgets.interactive_or_static(show_run, {"scale": 1.0, "rule": "plain", "steps": STEPS},
                              scale=SCALES, rule=list(RULES), steps=(0, STEPS, LOG_EVERY))

# %% [markdown]
# ## Summary

# %%
rel_max = max(final[(s, "relative")] for s in SCALES)
bullets = [
    r"For a homogeneous net only the direction of θ matters; the normalized margin "
    r"$q_{\min}/\|\theta\|^{1/\lambda}$ measures it and is checked to be scale-invariant.",
    r"Gradient descent on cross-entropy drifts towards a KKT point of $\min\frac12\|\Pi\theta\|^2$ s.t. "
    "margins ≥ 1 — in the limit. In a finite run the initial scale and the step rule decide whether it "
    "gets there: from PyTorch's default scale, plain and normalized GD plateau at a KKT residual of "
    f"{final[(1.0, 'plain')]:.2f} and {final[(1.0, 'normalized')]:.2f}; a small scale helps "
    f"({final[(0.01, 'plain')]:.2f} for plain GD from ×0.01); a step of fixed size relative to "
    rf"$\|\theta\|$ reaches {rel_max:.3f} or less from every scale.",
    "The test is a non-negative least squares fit of μ on the real points; at a KKT point a few support "
    f"vectors ({fit.n_support} here) carry all the weight and sit on the margin, with complementary "
    f"slackness holding to {worst - 1:.1%}.",
    "Everything the generator of notebook 04 does presumes this regime: if the classifier is not at a "
    "KKT point, its parameters do not encode a distribution over its training points.",
]
display(Markdown("\n".join(f"* {b}" for b in bullets)))

# %% [markdown]
# ## Exercises
#
# 1. Replace the relu² net by the prototype's ReLU net, `toy2d.toy_classifier(toy2d.ToyConfig(act="relu"))`,
#    and rerun the sweep. The relative rule's residual now jumps from checkpoint to checkpoint:
#    explain it with the kink of ReLU at the support vectors (hint: $\nabla_\theta q$ is discontinuous
#    in θ there, so the cone in §3 changes abruptly).
# 2. Vary η of the plain rule (0.3, 1, 3) at init ×0.01. A larger step gives a *worse* residual here:
#    relate it to the rich/lazy picture of §2.
# 3. Show that normalized GD is plain GD with time rescaled by $1/L$ for gradient flow, and find the
#    discrete-time effect that makes the normalized run from ×0.01 fail in the sweep.
# 4. Complementary slackness: plot the share of μ-mass off the margin against the step for the
#    relative runs. Is it still decreasing at the last step?
# 5. *Open-ended.* The paper asks whether GBC carries over to Transformers and to few-shot learners.
#    A fine-tuned Transformer starts from a large pretrained θ — the lazy end of this notebook. Which of
#    the measurements here would you make first on such a model to decide whether its parameters could
#    remember its few training examples, and what would you change (which parameters, which Π) if the
#    KKT residual came out near 1?
