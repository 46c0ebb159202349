# ---
# jupyter:
#   gbc_teach:
#     fast_minutes: 1
#     full_minutes: 6
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
# > **Source:** this notebook is written as the Python script [`05c_first_layer.py`](05c_first_layer.py).
# > Edit the script, not the `.ipynb`, then run `jupytext --sync`.

# %% [markdown]
# # 05c — What the classifier can see of its training images
#
# Notebook 05b recovered all ten training images from a classifier at its KKT point. Whether a
# classifier gives its images back depends on more than the KKT residual, and the first layer
# shows why. An MLP reads an image only through its first layer, $h = W_1x + b$: any part of $x$
# orthogonal to every row of $W_1$ changes nothing the network computes. That part is invisible to
# the classifier, so no method that reads $\theta$ alone — GBC, particles, anything — can get it back.
#
# Where do the rows of $W_1$ lie? Every plain gradient step adds $-\eta\,\delta_i x_i^\top$ for
# each training image ($\delta_i$: the loss gradient at $h$), so after gradient descent
# $$W_1 = W_1^{(0)} - \sum_i c_i\, x_i^\top ,$$
# the initialization plus a combination of the training images; at a weight-decay stationary point,
# whatever optimizer reached it, the first term is gone
# ($\mathrm{wd}\,W_1 = -\tfrac1n\sum_i \delta_i x_i^\top$). But the images are
# only *seen* along the directions where $W_1$ is large. If the $\delta_i$ of different images are
# nearly parallel combinations of the C output gradients, as in a net that is close to linear on
# its data, $W_1$ has at most about C strong directions, however many images there are.
#
# `kkt.first_layer_view(W1, X)` measures it: the singular values of $W_1$ relative to the largest,
# how many exceed $10^{-3}$ ("directions"), and for each training image the share of its norm
# outside those directions. We compare three classifiers on the **same ten images**:
#
# * **10 classes, weight decay** — the recovery profile of 05b (at its KKT point);
# * **2 classes, weight decay** — the same images labelled even/odd (Haim et al.'s binary task);
# * **10 classes, Haim et al.'s rule** — a first layer started 10⁴× smaller, plain gradient descent
#   on cross-entropy, no weight decay: far from a KKT point after the steps we can afford.
#
# and ask free particles (05b §4: the KKT losses on free images) for the images back.

# %% tags=["parameters"]
import os

FAST = os.environ.get("GBC_FAST") == "1"
SEED = 0

# %%
import matplotlib.pyplot as plt
import torch
from IPython.display import Markdown, display

from gbc_teach.baselines.particles import Particles
from gbc_teach.evaluation.images import recovery
from gbc_teach.experiments import image_nets, mnist
from gbc_teach.experiments.mnist_config import MnistConfig
from gbc_teach.gbc import train_generator
from gbc_teach.kkt import first_layer_view, kkt_fit
from gbc_teach.models import surrogate_relu

plt.rcParams["figure.dpi"] = 80
torch.set_num_threads(1)
torch.set_flush_denormal(True)

WD10, BINARY, HAIM = ("10 classes, weight decay", "2 classes, weight decay",
                      "10 classes, Haim et al.'s rule")
CLASSIFIERS = {
    WD10: MnistConfig.recovery(fast=FAST),
    BINARY: MnistConfig.recovery(fast=FAST, task="parity"),
    HAIM: MnistConfig.haim(fast=FAST),
}
STEPS = 300 if FAST else 3000  # particle steps
for name, cfg in CLASSIFIERS.items():
    print(f"{name:32s} {image_nets.architecture(cfg)}; rule {cfg.clf_rule}, {cfg.clf_steps} steps")

# %% [markdown]
# ## 1. Train the three classifiers on the same images
#
# The data split depends only on the seed and the number of images a digit, so the three
# classifiers see the same ten digits; the binary one sees them as even (0) or odd (1).

# %%
runs = {}
for name, cfg in CLASSIFIERS.items():
    d = mnist.mnist_data(SEED, cfg)
    X, y = d["imgs"]["train"], d["labs"]["train"]
    torch.manual_seed(SEED)
    model, lam, hist = image_nets.train_mnist_classifier(X, y, d["cfg"], cfg.n_classes)
    fit = kkt_fit(model, X, y, lam.Pi, pairs=True, chunk=cfg.kkt_chunk)
    runs[name] = dict(cfg=cfg, d=d, X=X, y=y, model=model, lam=lam, kkt=fit.residual,
                      view=first_layer_view(model.net[0].weight, X))
    print(f"{name:32s} labels {y.tolist()}  KKT residual (pairs) {fit.residual:.3f}")
same = all(torch.equal(r["X"], runs[WD10]["X"]) for r in runs.values())
assert same  # one set of ten images for all three

# %% [markdown]
# ## 2. The spectrum of the first layer
#
# One line a classifier: the singular values of $W_1$ divided by the largest, on a log scale. The
# dashed line is the threshold $10^{-3}$ below which a direction counts as unseen; the dotted line
# marks the number of training images.

# %%
n = len(runs[WD10]["y"])
fig, ax = plt.subplots(figsize=(6.5, 3.4))
for name, r in runs.items():
    sv = r["view"]["singular_values"]
    ax.semilogy(range(1, len(sv) + 1), sv, "o-", ms=4, label=name)
ax.axhline(1e-3, ls="--", c="gray", lw=1)
ax.axvline(n + 0.5, ls=":", c="k", lw=1)
ax.set_xlabel("index of the singular value")
ax.set_ylabel("σ_k / σ_1 of W₁")
ax.legend(fontsize=8)
ax.set_title("What the first layer responds to")
plt.show()

rows = ["| classifier | KKT residual (pairs) | directions above 10⁻³ | strong (σ/σ₁ > 0.1) "
        "| image share outside (mean / max) |", "|---|---|---|---|---|"]
for name, r in runs.items():
    v = r["view"]
    strong = sum(s > 0.1 for s in v["singular_values"])
    rows.append(f"| {name} | {r['kkt']:.3f} | {v['rank']} | {strong} | "
                f"{v['outside_mean']:.3f} / {v['outside_max']:.3f} |")
display(Markdown("\n".join(rows)))

# %%
# what the lens claims, checked: the binary net sees few strong directions and misses much of
# each image; Haim et al.'s rule holds every image (≤ 5 % of any image outside)
binary, haim = runs[BINARY]["view"], runs[HAIM]["view"]
assert sum(s > 0.1 for s in binary["singular_values"]) <= 3
assert binary["outside_mean"] > 0.2
assert haim["rank"] >= n and haim["outside_max"] < 0.05
print("binary:", binary["outside_mean"], " Haim:", haim["outside_max"])

# %% [markdown]
# ## 3. Ask for the images back
#
# Free particles, one per training image with its label, started black and fitted to the KKT
# losses of each classifier (the 'pairs' stationarity of 05b). Each is judged by the calibrated
# SSIM recovery share: the share of training images closer to a particle of their class than to
# any fresh real digit of that class (0.5 is what fresh real digits score against each other).

# %%
for name, r in runs.items():
    cfg, d = r["cfg"], r["d"]
    torch.manual_seed(SEED)
    P = Particles(cfg.n_classes, len(r["X"]), seed=SEED, labels=r["y"])
    obj = image_nets.gbc_objective(r["model"], r["lam"], cfg, cfg.n_classes)
    h = train_generator(P, obj, steps=STEPS, batch=len(r["X"]), lr=cfg.particle_lr,
                        lr_final=cfg.gen_lr_final, seed=SEED, progress=False,
                        log_every=max(STEPS // 10, 1))
    x, yy = P.sample()
    ref_x, ref_y = d["imgs"]["pool_b"], d["labs"]["pool_b"]
    r["x"] = x
    r["rec"] = recovery(r["X"], r["y"], x, yy, ref_x, ref_y, metric="ssim")
    print(f"{name:32s} L_stat {h['L_stat'][-1]:.3f}  SSIM recovery share {r['rec']['share']:.2f}"
          f"  mean best SSIM {r['rec']['mean']:.3f} (fresh digits {r['rec']['ref_mean']:.3f})")

# %%
fig, axes = plt.subplots(1 + len(runs), n, figsize=(0.9 * n, 1.0 * (1 + len(runs))))
rows_img = [("training images", runs[WD10]["X"])]
rows_img += [(name, r["x"]) for name, r in runs.items()]
for i, (label, imgs) in enumerate(rows_img):
    for j in range(n):
        axes[i, j].imshow(imgs[j, 0], cmap="gray", vmin=0, vmax=1)
        axes[i, j].set_xticks([])
        axes[i, j].set_yticks([])
    axes[i, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
plt.show()

# %%
share = {name: r["rec"]["share"] for name, r in runs.items()}
if not FAST:  # at the full sizes: the nets that see their images give them back, the binary not
    assert share[WD10] >= 0.8 and share[HAIM] >= 0.8
    assert share[BINARY] <= 0.2
display(Markdown(
    f"Recovery follows what the first layer sees: the 10-class weight-decay net "
    f"({share[WD10]:.2f}) and the Haim-rule net ({share[HAIM]:.2f}) give their images back; the "
    f"binary net, which misses {binary['outside_mean']:.0%} of each image on average, gives "
    f"{share[BINARY]:.2f}."))

# %% [markdown]
# ## 4. Kinks: why Haim et al. smooth ReLU's derivative
#
# The Haim-rule net uses ReLU, and the particle objective differentiates through it twice (once for
# $\nabla_\theta q$, once more for the pixels). A ReLU whose input is exactly 0 at a training image
# sits on its kink: there the loss is not differentiable, and the gradient says little about any
# finite step. Count the first-layer pre-activations $h = W_1x + b$ that vanish at the training
# images, then step from the training images along the normalized negative gradient of $L_{\rm stat}$
# and measure the change: with the exact derivative, and with ReLU's derivative replaced by
# sigmoid$(a\cdot h)$ in the backward passes only (`surrogate_a`, $a = 20$ relative to each layer's
# rms input). Either way the change is measured on the exact $L_{\rm stat}$.

# %%
r = runs[HAIM]
obj = image_nets.gbc_objective(r["model"], r["lam"], r["cfg"], r["cfg"].n_classes)
with torch.no_grad():
    h = obj.classifier.net[0](r["X"].flatten(1))
on_kink = float((h.abs() < 1e-6).float().mean())


def L_stat_at(x, a=None):
    with surrogate_relu(obj.classifier, a, calib_x=r["X"]):
        return obj(x, r["y"])["L_stat"]  # a tensor with a graph back to x


steps = (1e-5, 1e-4, 1e-3, 1e-2)
L0 = float(L_stat_at(r["X"]).detach())
change = {}
for a in (None, 20.0):
    x = r["X"].clone().requires_grad_(True)
    g, = torch.autograd.grad(L_stat_at(x, a), x)
    d = -g / g.norm()  # one unit step moves the ten images by 1 in total (L2)
    # (no torch.no_grad here: L_stat itself takes a gradient, ∇_θ q)
    change[a] = [float(L_stat_at(r["X"] + eps * d).detach()) - L0 for eps in steps]
rows = ["| backward pass | " + " | ".join(f"step {e:g}" for e in steps) + " |",
        "|---|" + "---|" * len(steps)]
for a, name in ((None, "exact ReLU derivative"), (20.0, "sigmoid(20·h) derivative")):
    rows.append(f"| {name} | " + " | ".join(f"{v:+.1e}" for v in change[a]) + " |")
print(f"{on_kink:.1%} of the first layer's pre-activations are exactly 0 at the training images; "
      f"L_stat there {L0:.4f}; change of L_stat after a step along each direction:")
display(Markdown("\n".join(rows)))

# %%
assert on_kink > 0, on_kink  # some units on their kinks; measured 5.7% (full), 0.16% (fast)

# %% [markdown]
# The exact gradient is not a reliable descent direction here: the loss rises for some steps along
# it, because a step of any size moves units across their kinks. The sigmoid derivative averages
# the two sides of each kink, and its direction lowers the loss for the small steps. In the runs of `gbc-teach recovery-map --profile haim` this is what
# let particles started on the training images stay there, and it raised the recovery share at 20
# training images; the profile uses it (`surrogate_a = 20`, as Haim et al. do).
#
# ## What to take away
#
# * A classifier can only give back what its first layer sees. The lens costs one SVD:
#   `kkt.first_layer_view`, recorded by `gbc-teach mnist` and `gbc-teach recovery-map` as
#   `classifier.first_layer` in metrics.json.
# * Weight decay makes the KKT form exact (05b), but a net near linear on its data keeps only about
#   as many strong first-layer directions as it has outputs: two for a binary net, so ten images
#   cannot all be seen. Multi-class nets see more; an MLP attribute classifier of faces
#   (`gbc-teach faces --set arch=mlp`), with five logits, sees about five directions of eight faces.
# * Haim et al.'s small-initialization rule is far from a KKT point here, yet its first layer holds
#   every image, and recovery follows that. On the map (`gbc-teach recovery-map --profile haim
#   --ns 2,5`) it gives back more of 20 images than the weight-decay net of the same width (05b's
#   map), and little of 50: once the span holds every image, telling them apart is the
#   deeper layers' job.
# * ReLU nets put some units exactly on their kinks at the training images, where the exact
#   gradient of the particle objective is no guide to a finite step; ReLU's derivative replaced by
#   a sigmoid in the backward pass (Haim et al.'s recipe, `surrogate_a`) fixes the direction.
#
# ## Exercises
#
# 1. Rerun §1 with `MnistConfig.recovery(n_per_class=2)`: how many strong directions does the
#    10-class weight-decay net keep for 20 images?
# 2. Give the binary net a third output (a class no image has): does it see more of its images?
# 3. Change `init_scale` of the Haim rule to 1 (the usual initialization): what does the random
#    part of $W_1$ do to the share outside, and to recovery?
