# ---
# jupyter:
#   gbc_teach:
#     fast_minutes: 1
#     full_minutes: 3
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
# > **Source:** this notebook is written as the Python script [`03_quasi_homogeneity_and_lambda.py`](03_quasi_homogeneity_and_lambda.py).
# > Edit the script, not this file, then run `jupytext --sync` ([how](README.md#editing-and-running-a-notebook)).

# %% [markdown]
# # 03 — Quasi-homogeneity and Λ: which parameters the max-margin norm keeps
#
# The max-margin problem of notebook 02 minimizes $\frac12\|\Pi\theta\|^2$. For a homogeneous net Π
# keeps every tensor; once a network has biases or normalization layers it does not, and which
# tensors it keeps comes from a diagonal matrix Λ. This notebook finds Λ for real architectures by
# solving a linear system, and shows that the system rarely has a single solution — and that the
# choice among its solutions matters.
#
# **What you will learn**
#
# 1. The definition of a Λ-quasi-homogeneous net, the Euler identity, and the linear system
#    $A\lambda = b$ that `homogeneity.solve_lambda` solves — for a bias-free MLP, an MLP with biases, an
#    MLP with batch norm and a small CNN, each checked against $f(x;e^{s\Lambda}\theta) = e^s f(x;\theta)$.
# 2. The family of valid Λ (the null space of the system), the member the library picks, and the member
#    gradient descent actually follows (a conservation law tells).
# 3. What the choice changes: Π, $\lambda_{\max}$, the KKT residual, and a generator trained from it.
# 4. What happens with a non-quasi-homogeneous net (GELU, sigmoid), and why the check needs more than
#    the residual of the system.
#
# **Prerequisites**: notebook 02 (the max-margin problem, KKT residual); forward-mode derivatives
# (`torch.func.jvp`) help but are not required. Notation: `lam` (Λ), `lam_max`, `Pi`, `theta`.
#
# Runs on CPU: about 3 minutes in full mode (default), under a minute with `GBC_FAST=1`.

# %%
import inspect
import os
import time

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display
from torch import nn

from gbc_teach import homogeneity, kkt
from gbc_teach.datasets import toy2d as toy_data
from gbc_teach.experiments import toy2d
from gbc_teach.viz import explore, plots, widgets
from gbc_teach.gbc import train_generator
from gbc_teach.losses import GBCObjective
from gbc_teach.evaluation.points import precision, radius, sv_recall
from gbc_teach.models import MLP, ReLU, SmallCNN
from gbc_teach.utils import seed_everything

plt.rcParams["figure.dpi"] = 80
torch.set_num_threads(1)  # tiny tensors: extra threads only add contention on a busy machine
print(f"torch {torch.__version__} on CPU, {torch.get_num_threads()} thread")

# %% tags=["parameters"]
FAST = os.environ.get("GBC_FAST") == "1"
SEED = 0
CFG = toy2d.ToyConfig.fast() if FAST else toy2d.ToyConfig()  # the toy classifier of notebooks 01–02
GEN_STEPS = 150 if FAST else 1500  # a short GBC run per Λ member (§5)
print(f"FAST={FAST}: toy classifier {CFG.clf_steps} steps, generators {GEN_STEPS} steps")

# %% [markdown]
# ## 1. Definition, Euler identity, linear system
#
# A network $f(x;\theta)$ with parameter tensors $\theta_1,\dots,\theta_K$ is **Λ-quasi-homogeneous**
# for $\Lambda = \mathrm{diag}(\lambda_1,\dots,\lambda_K)\succeq 0$ if, for every $s\in\mathbb R$,
#
# $$f(x;\, e^{s\Lambda}\theta) = e^{s} f(x;\theta),\qquad e^{s\Lambda}\theta = (e^{s\lambda_1}\theta_1,\dots,e^{s\lambda_K}\theta_K).$$
#
# A homogeneous net of degree $L$ is the special case $\lambda_k = 1/L$. Differentiate both sides in
# $s$ at $s=0$: the left side gives $\sum_k \lambda_k\langle\theta_k, \nabla_{\theta_k} f\rangle$ by the
# chain rule, the right side $f$. This is the **Euler identity**
#
# $$\sum_{k}\lambda_k\,\langle\theta_k,\nabla_{\theta_k} f_j(x;\theta)\rangle = f_j(x;\theta)\qquad\text{for every input } x \text{ and output } j,$$
#
# linear in λ. One row per (input, output) pair, one column per tensor:
#
# $$A\lambda = b,\qquad A_{(x,j),k} = \langle\theta_k,\nabla_{\theta_k} f_j(x)\rangle = \tfrac{d}{dt} f_j(x;\,\theta + t\,\theta_k e_k)\big|_{t=0},\qquad b_{(x,j)} = f_j(x).$$
#
# Column $k$ is a directional derivative: one forward-mode `jvp` per tensor. `euler_system` builds
# $A$ in float64 at several input scales (more independent rows); `solve_lambda` solves it by SVD.

# %%
print(inspect.getsource(homogeneity.euler_system))


# %% [markdown]
# Four architectures, with random (non-zero) biases and batch-norm affine parameters so that no
# column of $A$ vanishes by accident. The batch-norm net stays in training mode: it normalizes with
# the statistics of the batch, as during training.

# %%
def randomize_affine(model, std=0.1):
    # biases and BN scales are initialized to 0 and 1: make them generic
    with torch.no_grad():
        for name, p in model.named_parameters():
            if not name.endswith("weight") or p.dim() == 1:
                p.add_(std * torch.randn_like(p))
    return model


torch.manual_seed(SEED)
x_vec, x_img = torch.randn(32, 4), torch.randn(8, 1, 8, 8)
seed_everything(SEED)
data = toy_data.make_toy2d(SEED, CFG.n_classes, CFG.n_per_class)
ARCHS = {
    "MLP, no bias": (MLP(4, [16, 16], 3, bias=False), x_vec),
    "MLP, biases": (randomize_affine(MLP(4, [16, 16], 3, bias=True)), x_vec),
    "MLP, batch norm": (randomize_affine(MLP(4, [16, 16], 3, bias=True, bn=True)), x_vec),
    "small CNN": (randomize_affine(SmallCNN(1, 3, width=4, side=8)), x_img),
    "toy relu² net": (toy2d.toy_classifier(CFG), data.X),
}
for name, (m, _) in ARCHS.items():
    print(f"{name:>16}: {sum(p.numel() for p in m.parameters()):5d} parameters in "
          f"{len(list(m.parameters()))} tensors")

# %% [markdown]
# First, one column of $A$ against its definition, by central finite differences in float64:

# %%
model, x = ARCHS["MLP, biases"]
A, b, names = homogeneity.euler_system(model, x, scales=(1.0,))
m64 = model.double()
k, eps = 2, 1e-6  # column k: the second layer's weight
params = list(m64.parameters())
with torch.no_grad():
    base = params[k].clone()
    params[k].copy_(base * (1 + eps))
    f_plus = m64(x.double()).reshape(-1)
    params[k].copy_(base * (1 - eps))
    f_minus = m64(x.double()).reshape(-1)
    params[k].copy_(base)
fd = (f_plus - f_minus) / (2 * eps)  # d/dt f(θ + t θ_k) at t = 0
model.float()
err = float((A[:, k] - fd).abs().max() / fd.abs().max())
print(f"column {names[k]}: jvp vs finite difference, max relative error {err:.1e}")
assert err < 1e-6  # central differences in float64 with ε = 1e-6: tolerance 1e-6

# %% [markdown]
# Now solve each system. `solve_lambda` returns the minimum-norm solution (the default), the relative
# residual $\|A\lambda - b\|/\|b\|$, the rank of $A$ and a basis of its null space.

# %%
RES = {}
for name, (m, x) in ARCHS.items():
    res = homogeneity.solve_lambda(m, x, "min_norm")
    RES[name] = res
    print(f"== {name}: residual {res.residual:.1e}, rank {res.rank} of {len(res.names)}, "
          f"null space of dimension {res.null_space.shape[1]}, λ_max = {res.lam_max:.4f}")
    for n, v, in_pi in res.table():
        print(f"   {n:<18} λ = {v:7.4f}" + ("   ← Π" if in_pi else ""))
# float64 SVD solve: the Euler identity holds to 1e-8 relative for every architecture
assert all(r.residual < 1e-8 for r in RES.values()), {k: r.residual for k, r in RES.items()}

# %% [markdown]
# And the defining identity itself, $f(x;e^{s\Lambda}\theta)$ against $e^s f(x;\theta)$ for several $s$,
# with the minimum-norm Λ just found:

# %%
S_VALUES = [-1.0, -0.3, 0.5, 1.0]
fig, axes = plt.subplots(1, len(ARCHS), figsize=(3.0 * len(ARCHS), 3.0))
for ax, (name, (m, x)) in zip(axes, ARCHS.items()):
    worst = 0.0
    for s in S_VALUES:
        lhs, rhs = explore.euler_sides(m, RES[name].lam, x, s)
        worst = max(worst, float((lhs - rhs).abs().max() / rhs.abs().max()))
        if s == 1.0:
            ax.scatter(rhs.numpy(), lhs.numpy(), s=5)
            ax.plot(*[[float(rhs.min()), float(rhs.max())]] * 2, color="0.6", lw=1)
    ax.set_title(f"{name}\nworst rel. error {worst:.0e}", fontsize=9)
    ax.set_xlabel("e^s f(x; θ), s = 1")
    # float64: the identity holds to 1e-9 relative at every s
    assert worst < 1e-9, (name, worst)
axes[0].set_ylabel("f(x; e^{sΛ}θ)")
fig.tight_layout()

# %% [markdown]
# Reading the tables:
#
# * **bias-free MLP**: every ReLU layer passes scale through, so any $\lambda$ with
#   $\lambda_1+\lambda_2+\lambda_3 = 1$ works; the minimum-norm member is $\lambda_k = 1/3$ and Π keeps all.
# * **MLP with biases**: for $h_1 = W_1x + b_1$ to scale like $e^{s\lambda_{W_1}}$ the bias must have
#   $\lambda_{b_1} = \lambda_{W_1}$; layer $l$'s bias takes the sum of the weight exponents up to $l$, so
#   the last bias carries $\sum_l\lambda_{W_l} = 1$ and is the largest — the minimum-norm Λ puts
#   λ_max on the last bias alone. Π keeps 3 numbers: a degenerate max-margin norm ([docs/method.md §7](../docs/method.md)).
# * **batch norm (train mode)**: normalizing with the batch statistics makes every tensor *before*
#   a BN layer scale-invariant: its column of $A$ is zero, the null space contains it, and the
#   minimum-norm solution gives it λ = 0.
# * **small CNN**: convolutions and average pooling are linear, ReLU is homogeneous: the same
#   structure as the MLP with biases.

# %%
bn = RES["MLP, batch norm"]
lam_bn = dict(zip(bn.names, bn.lam.tolist()))
# tensors in front of a BN layer get λ = 0 (to 1e-10)
assert abs(lam_bn["net.0.weight"]) < 1e-10 and abs(lam_bn["net.0.bias"]) < 1e-10, lam_bn
bias = RES["MLP, biases"]
assert bias.Pi.tolist() == [n == "net.4.bias" for n in bias.names], bias.table()  # last bias alone
# eval mode: BN is a fixed affine map, and the picture changes
m_eval = ARCHS["MLP, batch norm"][0].eval()
ev = homogeneity.solve_lambda(m_eval, x_vec, "min_norm")
ARCHS["MLP, batch norm"][0].train()
print("eval-mode BN, min-norm Λ:", [(n, round(v, 3)) for n, v, _ in ev.table()])

# %% [markdown]
# ## 2. The family of valid Λ and the member gradient descent follows
#
# If $A\lambda = b$ and $An = 0$, then $A(\lambda + tn) = b$: every valid Λ is the chosen one plus a
# vector of the null space (`LambdaResult.null_space`, `explore.family_member`). For the toy net
# $f = W_2\,\mathrm{relu}(W_1\phi)^2$ the system says $2\lambda_1 + \lambda_2 = 1$ — a line. Its
# minimum-norm point is $(0.4, 0.2)$: Π would keep $W_1$ only. The uniform point $(1/3, 1/3)$ keeps both.
# Which one does the theory need?
#
# A null vector is a symmetry of the net: $An = 0$ says $\sum_k n_k\langle\theta_k,\nabla_{\theta_k}f\rangle = 0$,
# so $\theta_k\to e^{a n_k}\theta_k$ leaves $f$ unchanged. Under gradient flow
# $\frac{d}{dt}\|\theta_k\|^2 = -2\langle\theta_k,\nabla_{\theta_k}\mathcal L\rangle$, hence
#
# $$\frac{d}{dt}\sum_k n_k\|\theta_k\|^2 = -2\sum_k n_k\langle\theta_k,\nabla_{\theta_k}\mathcal L\rangle = 0 .$$
#
# For the toy net, $n \propto (-1, 2)$: $\|W_1\|^2 - 2\|W_2\|^2$ is **conserved**
# (`explore.conserved_quantities`). As training grows the norms without bound, the constant becomes
# negligible and $\|W_1\|^2/\|W_2\|^2\to 2$: both tensors grow at the same rate, $\theta(t)\approx e^{s\Lambda}\theta^*$
# with $\lambda_1 = \lambda_2$, the uniform member. The minimum-norm member describes a rescaling
# that gradient descent never performs.

# %%
seed_everything(SEED)
t0 = time.perf_counter()
clf, lam_u, clf_hist = toy2d.train_toy_classifier(data, CFG)
print(f"toy classifier trained in {time.perf_counter() - t0:.0f} s")
fam = homogeneity.solve_lambda(clf, data.X, "min_norm")
n = fam.null_space[:, 0]
print(f"min-norm Λ = {fam.lam.tolist()}, null vector n = {(n / n[0] * -1).tolist()} (scaled)")

# conservation along plain gradient descent with a small step (close to gradient flow),
# from the default scale, where the norms move visibly
seed_everything(SEED)
net = toy2d.toy_classifier(toy2d.ToyConfig(init_scale=1.0))
c0 = float(explore.conserved_quantities(net, fam.null_space)[0])
sq0 = [float(p.detach().pow(2).sum()) for p in net.parameters()]
opt = torch.optim.SGD(net.parameters(), lr=0.5)
for _ in range(100):
    opt.zero_grad()
    nn.functional.cross_entropy(net(data.X), data.y).backward()
    opt.step()
c1 = float(explore.conserved_quantities(net, fam.null_space)[0])
sq1 = [float(p.detach().pow(2).sum()) for p in net.parameters()]
moved = max(abs(a - b) for a, b in zip(sq0, sq1))
print(f"100 GD steps: ‖W1‖² {sq0[0]:.2f} → {sq1[0]:.2f}, ‖W2‖² {sq0[1]:.2f} → {sq1[1]:.2f}, "
      f"n·(‖θ_k‖²) ∝ ‖W1‖² − 2‖W2‖²: {c0:.4f} → {c1:.4f}")
# discrete steps conserve it only approximately: within 2% of how far the norms moved
assert abs(c1 - c0) < 0.02 * moved, (c0, c1, moved)

W1, W2 = [float(p.detach().pow(2).sum()) for p in clf.parameters()]
print(f"trained toy classifier: ‖W1‖²/‖W2‖² = {W1 / W2:.4f} (uniform Λ predicts 2)")
assert abs(W1 / W2 - 2) < 0.1 * 2  # the norms' ratio: 2 within 10%

# %% [markdown]
# ## 3. What the choice changes
#
# Along the line $2\lambda_1+\lambda_2 = 1$ with $\lambda\ge 0$, only three masks Π occur:
# $\{W_1\}$ for $\lambda_1 > 1/3$ (minimum norm), $\{W_1, W_2\}$ at $\lambda_1 = 1/3$ (uniform), $\{W_2\}$ for
# $\lambda_1 < 1/3$ (e.g. the last-layer Λ $(0, 1)$, always valid for a linear head). Each defines a
# different max-margin problem, a different $\lambda_{\max}$, a different KKT residual on the real
# points, a different $\alpha = \lambda_{\max}\|\Pi\theta\|^2/q_{\min}$ — and a different target for a
# generator. Below, for each member: the KKT fit of notebook 02, and a short GBC run (notebook 04's
# objective; `GEN_STEPS` steps, default toy settings otherwise) scored by support-vector recall and
# precision ([docs/method.md §8](../docs/method.md)).

# %%
fig, ax = plt.subplots(figsize=(5, 3.5))
l1 = np.linspace(0, 0.5, 50)
ax.plot(l1, 1 - 2 * l1, color="0.5", label="2λ₁ + λ₂ = 1")
MEMBERS = {"min_norm": fam.lam, "uniform": lam_u.lam.double(),
           "last_layer": homogeneity.last_layer_lambda(clf)}
for i, (name, lam) in enumerate(MEMBERS.items()):
    ax.plot(*lam.tolist(), "o", color=f"C{i}", label=f"{name} {tuple(round(v, 3) for v in lam.tolist())}")
ax.set_xlabel("λ₁ (W₁)")
ax.set_ylabel("λ₂ (W₂)")
ax.legend(fontsize=8)
ax.set_title("the family of valid Λ for the toy net")
fig.tight_layout()

# %%
fit_u = kkt.kkt_fit(clf, data.X, data.y, lam_u.Pi)
r = radius(data.X)
ROWS = {}
for name, lam in MEMBERS.items():
    res = homogeneity.solve_lambda(clf, data.X, lam)  # checks Λ against the Euler identity
    fit = kkt.kkt_fit(clf, data.X, data.y, res.Pi)
    t_sq = sum(float(p.detach().pow(2).sum()) for p, m in zip(clf.parameters(), res.Pi) if m)
    seed_everything(SEED + 1000)
    G = toy2d.toy_generator(CFG)
    obj = GBCObjective(clf, res.Pi, res.lam_max, CFG.n_classes, qmin_mode=CFG.qmin_mode,
                       beta=CFG.beta, kappa=CFG.kappa, class_weights=CFG.class_weights,
                       alpha_mode=CFG.alpha_mode)
    hist = train_generator(G, obj, steps=GEN_STEPS, batch=CFG.batch, lr=CFG.gen_lr,
                           lr_final=CFG.gen_lr_final, seed=SEED, progress=False)
    with torch.no_grad():
        xs, ys = G.sample(CFG.n_eval_samples, generator=torch.Generator().manual_seed(SEED))
    ROWS[name] = dict(lam=[round(v, 3) for v in res.lam.tolist()], Pi=res.Pi.tolist(),
                      lam_max=res.lam_max, kkt=fit.residual, alpha=res.lam_max * t_sq / fit.q_min,
                      L_stat=hist["L_stat"][-1],
                      recall=sv_recall(xs, ys, data.X, data.y, fit_u.support, r),
                      precision=precision(xs, ys, data.X, data.y, r), samples=(xs, ys))
print(f"{'member':>10} {'λ':>14} {'Π':>14} {'λ_max':>6} {'KKT res.':>8} {'α':>9} {'L_stat':>7} "
      f"{'recall':>6} {'prec.':>6}")
for name, row in ROWS.items():
    print(f"{name:>10} {str(row['lam']):>14} {str(row['Pi']):>14} {row['lam_max']:6.3f} "
          f"{row['kkt']:8.3f} {row['alpha']:9.3g} {row['L_stat']:7.3f} {row['recall']:6.2f} "
          f"{row['precision']:6.2f}")
print("(recall: of the support vectors of the uniform-Π fit, the classifier's own KKT point)")

# %%
# the theory's member explains θ: KKT residual < 0.05 with the uniform Π ...
assert ROWS["uniform"]["kkt"] < 0.05, ROWS["uniform"]["kkt"]
# ... the other masks do not: residual > 0.3
assert ROWS["min_norm"]["kkt"] > 0.3 and ROWS["last_layer"]["kkt"] > 0.3, ROWS
fig, axes = plt.subplots(1, 3, figsize=(12, 4), sharex=True, sharey=True)
for ax, (name, row) in zip(axes, ROWS.items()):
    plots.plot_landscape(clf, 2.5, ax=ax, resolution=100, q_min=fit_u.q_min)
    plots.plot_samples(*row["samples"], data.X, data.y, ax=ax, r=r)
    ax.set_title(f"{name}: L_stat {row['L_stat']:.2f}, recall {row['recall']:.2f}", fontsize=10)
fig.tight_layout()


# %%
LABEL = {"min_norm": "minimum-norm", "uniform": "uniform", "last_layer": "last-layer"}
by_kkt = sorted(ROWS, key=lambda m: ROWS[m]["kkt"])
by_stat = sorted(ROWS, key=lambda m: ROWS[m]["L_stat"])
best_recall = max(ROWS, key=lambda m: ROWS[m]["recall"])
stat_order = "follows the same order" if by_stat == by_kkt else "orders them differently"
recall_order = "does not" if best_recall != by_kkt[0] else "agrees this time, but only by chance"
display(Markdown(
    "The KKT residual separates the members cleanly: only the uniform Π — the one gradient descent "
    "follows — makes θ a non-negative combination of margin gradients ("
    + ", ".join(f"{LABEL[m]} {ROWS[m]['kkt']:.3f}" for m in by_kkt) + "). "
    f"The stationarity loss the generator reaches {stat_order} ("
    + ", ".join(f"{LABEL[m]} {ROWS[m]['L_stat']:.2f}" for m in by_stat) + "). "
    f"The generator's recall after a short run {recall_order}: the {LABEL[best_recall]} Π scored the "
    f"highest recall ({ROWS[best_recall]['recall']:.2f}, the uniform Π {ROWS['uniform']['recall']:.2f}). "
    "One seed and a short run make recall a noisy signal (notebook 04 runs the full-length version over "
    "seeds); it is not evidence for or against a member."))

# %% [markdown]
# ## 4. Not quasi-homogeneous: GELU and sigmoid
#
# Replace the ReLUs of an MLP by GELU or sigmoid. No Λ can make $f(x;e^{s\Lambda}\theta) = e^sf(x;\theta)$
# hold for the hidden layers — yet the linear system still has an exact solution: λ = 1 on the
# **head** (last weight and bias) and 0 elsewhere. Scaling only the head scales the output, whatever
# comes before it. So the residual of $A\lambda=b$ cannot detect the problem; `solve_lambda` also probes
# every parameter-free module after the first parameterized one for positive homogeneity,
# $m(2h) = 2^d m(h)$ with $d>0$, and names the one that fails.

# %%
def swap_relu(model, make):
    for parent in model.modules():
        for cname, child in list(parent.named_children()):
            if isinstance(child, (ReLU, nn.ReLU)):
                setattr(parent, cname, make())
    return model


for act in (nn.GELU, nn.Sigmoid):
    torch.manual_seed(SEED)
    bad = swap_relu(randomize_affine(MLP(4, [16, 16], 3, bias=True)), act)
    A, b, names = homogeneity.euler_system(bad, x_vec)
    head = homogeneity.last_layer_lambda(bad)
    head_res = float((A @ head - b).norm() / b.norm())
    print(f"{act.__name__}: head-only Λ {head.tolist()} fits the Euler system, residual {head_res:.1e}")
    try:
        homogeneity.solve_lambda(bad, x_vec)
        raise AssertionError("expected NotQuasiHomogeneousError")
    except homogeneity.NotQuasiHomogeneousError as e:
        print(f"  NotQuasiHomogeneousError: {e}\n")
        assert act.__name__ in str(e)  # the message names the module at fault
    assert head_res < 1e-10  # float64: the trivial Λ is exact

# %% [markdown]
# ## 5. Explorer: architecture, Λ and scale
#
# Choose an architecture, a member of its Λ family and a scale $s$: the left panel plots both sides of
# the identity over a batch of inputs and outputs, the right panel the per-tensor $\lambda_k$ with Π in
# red. ('uniform' exists only for homogeneous nets; elsewhere the cell falls back to min-norm and says
# so.) All Λ are solved once, below; moving the sliders only runs two forward passes.

# %%
CHOICES = ["min_norm", "last_layer", "uniform"]
LAMS = {}
for name, (m, x) in ARCHS.items():
    for choice in CHOICES:
        try:
            LAMS[(name, choice)] = homogeneity.solve_lambda(m, x, choice)
        except homogeneity.NotQuasiHomogeneousError:
            pass  # e.g. 'uniform' for a net with biases
print({k: sorted(c for a, c in LAMS if a == k) for k in ARCHS})


def show_identity(arch="MLP, biases", choice="min_norm", s=1.0):
    res = LAMS.get((arch, choice)) or LAMS[(arch, "min_norm")]
    m, x = ARCHS[arch]
    fig = explore.plot_euler(m, res, x, s)
    note = "" if (arch, choice) in LAMS else f" ('{choice}' is not valid here: min-norm shown)"
    fig.suptitle(f"{arch}{note}", y=1.02)
    return fig


widgets.interactive_or_static(show_identity, {"arch": "MLP, biases", "choice": "min_norm", "s": 1.0},
                              arch=list(ARCHS), choice=CHOICES, s=(-2.0, 2.0, 0.1))

# %% [markdown]
# ## Summary

# %%
others = [m for m in ROWS if m != "uniform"]
bullets = [
    r"Λ-quasi-homogeneity, $f(x;e^{s\Lambda}\theta) = e^s f(x;\theta)$, becomes the linear Euler system "
    r"$A\lambda = b$ after differentiating at $s = 0$; its columns are forward-mode directional derivatives. "
    "For a bias-free MLP, an MLP with biases, an MLP with batch norm and a small CNN the system is solved "
    r"to $10^{-8}$ and the scaling identity checked to $10^{-9}$ (float64).",
    "The system is rank-deficient: its null space is a family of valid Λ, one per rescaling symmetry. "
    "Each null vector gives a quantity gradient flow conserves; for the toy net "
    r"$\|W_1\|^2-2\|W_2\|^2$ forces both layers to grow alike, so gradient descent follows the uniform "
    "Λ = (1/3, 1/3), not the minimum-norm (0.4, 0.2).",
    "The choice sets Π: with the uniform member the trained toy classifier is a KKT point (residual "
    f"{ROWS['uniform']['kkt']:.3f}); with the minimum-norm or last-layer member it is not ("
    + " and ".join(f"{ROWS[m]['kkt']:.2f}" for m in others) + "), and a generator aims at a different "
    "target. With biases the minimum-norm Λ collapses Π onto the last bias.",
    "GELU and sigmoid nets satisfy the system trivially (head-only Λ), so the library checks each "
    "activation for homogeneity and raises `NotQuasiHomogeneousError` naming it.",
]
display(Markdown("\n".join(f"* {b}" for b in bullets)))

# %% [markdown]
# ## Exercises
#
# 1. Derive by hand the family of Λ for a two-hidden-layer ReLU MLP with biases and compare with
#    `RES["MLP, biases"].null_space`. What is its dimension, and which symmetries do its vectors describe?
# 2. For the MLP with biases, find the member of the family that gradient descent follows: train it on
#    the toy (with the constant feature dropped) and track `explore.conserved_quantities`. Is it the
#    last-layer Λ that Kunin et al. single out for normalized nets?
# 3. Batch norm in eval mode: compare the eval-mode Λ above with the train-mode one. Which one describes
#    the function the network computes at test time, and which one the trajectory of training?
# 4. Max-pooling is positively homogeneous of degree 1, so a CNN with max-pool passes `solve_lambda`.
#    Check it, then add a `nn.LayerNorm`: what happens, and why is the message right?
# 5. *Open-ended.* The paper leaves Transformers open. Softmax attention is invariant to adding a
#    constant to the scores and LayerNorm to scaling its input: write down the rescaling symmetries of one
#    attention block, the Euler system they lead to, and guess which Λ (if any) gradient descent would
#    follow. What would Π keep?
