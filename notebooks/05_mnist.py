# ---
# jupyter:
#   gbc_teach:
#     fast_minutes: 0.5
#     full_minutes: 5
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
# > **Source:** this notebook is written as the Python script [`05_mnist.py`](05_mnist.py).
# > Edit the script, not this file, then run `jupytext --sync` ([how](README.md#editing-and-running-a-notebook)).

# %% [markdown]
# # 05 — The paper's digits: a generator born from a 500-image MNIST classifier
#
# Notebooks 01–04 ran the method on 2-D points, where everything could be checked. This one runs the
# paper's MNIST experiment (Yu & Wang 2023, §5): a three-layer fully connected classifier with batch
# norm is trained on 500 real digits (50 a class); then a conditional generator is trained **from the
# frozen classifier alone** so that its samples satisfy the classifier's KKT conditions. An independent
# evaluator and held-out real images judge the samples, against two baselines on the same classifier.
#
# It is also a notebook about a result that falls short. On CPU defaults the targets of §6 are not met,
# and the last sections show, with numbers measured here, why: this classifier is far from a KKT point,
# so its conditions do not single out its training images.
#
# **What you will learn**
#
# 1. How the experiment's data are laid out: which MNIST split, the 500 training images drawn with a
#    seed, and the disjoint real pools that the metrics need.
# 2. The classifier (784-256-256-10, Linear → BN → ReLU, Kaiming init): its training, test accuracy,
#    KKT residual and support vectors; Λ for it, checked by the Euler identity.
# 3. GBC against a naive margin-maximizing generator and BN-statistics matching (DeepInversion-style):
#    sample grids, the metric table of [docs/method.md §8](../docs/method.md), nearest training images.
# 4. How recovery is scored against fresh real data, and the "gauge": why GBC samples are defined only up
#    to an affine intensity map, and what stretching them does to the metrics.
# 5. How to diagnose a failure: the stationarity loss the training images themselves would get.
#
# **Prerequisites**: notebooks 01 (the method end to end), 02 (KKT conditions and the residual), 03 (Λ, Π)
# and 04 (the losses, α). PyTorch, batch norm in training and eval mode.
#
# **Run time** on one CPU thread: about 5 minutes in full mode (the default, `MnistConfig()`: 2 minutes, then 3 for §8; the stored
# outputs come from it), under a minute with `GBC_FAST=1` (`MnistConfig.fast()`: 100 training images, a
# 64-wide classifier, a few dozen generator steps — the same cells and checks, meaningless numbers).
# No GPU needed; `MnistConfig.paper()` is the GPU profile (exercise 3).
#
# **Data**: real MNIST if found (`--data`, then `$GBC_DATA_DIR`, then `data/`); otherwise scikit-learn's 8×8
# digits upsampled, with a loud warning. The same experiment from the command line:
#
# ```
# gbc-teach mnist --profile paper --seed 0 --out outputs/mnist     # metrics.json, samples.png, nearest.png, ...
# ```

# %%
import os
import time
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from IPython.display import Markdown, display

from gbc_teach.datasets import mnist as gdata
from gbc_teach import homogeneity
from gbc_teach.evaluation import images
from gbc_teach.experiments import image_nets, mnist, mnist_config, reports
from gbc_teach.viz import plots, recovery as recovery_plots

plt.rcParams["figure.dpi"] = 80
torch.set_num_threads(1)  # small dense layers: extra threads only add contention on a busy CPU
print(f"torch {torch.__version__} on CPU, {torch.get_num_threads()} thread")

# %% tags=["parameters"]
FAST = os.environ.get("GBC_FAST") == "1"
SEED = 0
CLF_STEPS_H = 10000  # §8: steps of the homogeneous classifier (full mode)
CFG = mnist_config.MnistConfig.fast() if FAST else mnist_config.MnistConfig()
print(f"FAST={FAST}: {CFG.n_per_class} training images a class, classifier width {CFG.width}, "
      f"{CFG.clf_steps} classifier steps, {CFG.gen_steps} GBC / {CFG.naive_steps} naive / "
      f"{CFG.bnstat_steps} BN-stat generator steps")

# %% [markdown]
# ## 1. Data: one split, five disjoint sets
#
# The data folder of the stored run holds only MNIST's official **test** split (10,000 images;
# [docs/method.md §9](../docs/method.md)), so everything below is cut from it. `mnist.mnist_split`
# draws, with the seed, pairwise disjoint and class-balanced index sets:
#
# | set | size (full) | used for |
# |---|---|---|
# | `train` | 500 (50 a class) | the classifier's training set — the images GBC should recover |
# | `pool_a` | 500 | the `real` row of the metric table: fresh digits never seen by the classifier |
# | `pool_b` | 500 | the recovery reference: what "as close as fresh real data" means |
# | `pool_c` | 500 | the Fréchet reference |
# | `evaluator` | 6,000 | the independent evaluator's training images |
#
# Test accuracy is measured on every image outside `train`. If no MNIST is found, the package falls back
# to scikit-learn's digits and says so — check the first line printed below.

# %%
data = mnist.load_data()  # --data / $GBC_DATA_DIR / data/, else the flagged fallback
FALLBACK = data.split == "sklearn-digits-fallback"
print(f"split: {data.split!r} from {Path(data.source).name}/, {len(data.labels)} images")  # the folder's name only
if FALLBACK:
    display(Markdown(f"<span style='color:red'>**{mnist_config.FALLBACK_BANNER}**</span>"))
split, cfg_used = mnist.mnist_split(data.labels, CFG, SEED)
for k, v in split.items():
    print(f"{k:10s} {len(v):5d} images, per class {np.bincount(data.labels[v], minlength=10).tolist()}")

# %%
# pairwise disjoint: no image is in two sets (exact check)
sets = [set(v.tolist()) for v in split.values()]
assert sum(map(len, sets)) == len(set().union(*sets))
assert np.all(np.bincount(data.labels[split["train"]]) == cfg_used.n_per_class)
train_x = gdata.to_float_images(data.images[split["train"]])
train_y = torch.from_numpy(data.labels[split["train"]])
fig, ax = plt.subplots(figsize=(6, 6))
plots.image_grid(train_x, train_y, nrow=10, ax=ax)
ax.set_title(f"the first 10 training images of each class (of {cfg_used.n_per_class})");

# %% [markdown]
# ## 2. Run the experiment
#
# `mnist.run_mnist` does everything of this notebook that takes time, in this order: train (or load from
# `outputs/cache`) the evaluator; train the classifier full-batch; fit its KKT multipliers; train the GBC,
# naive and BN-statistics generators on the frozen classifier; draw 500 samples from each; compute the
# metrics. It returns the metrics (`metrics.json` of the CLI) and the objects, which the rest of the
# notebook inspects. It draws the same split as above from the same seed.

# %%
t0 = time.perf_counter()
res = mnist.run_mnist(SEED, CFG)
m = res["metrics"]
clf = m["classifier"]
print(f"done in {time.perf_counter() - t0:.0f} s (classifier {res['t_classifier']:.0f} s, generators "
      + ", ".join(f"{k} {m[k]['train_seconds']:.0f} s" for k in ("gbc", "naive", "bnstat")) + ")")
assert all(np.array_equal(res["split"][k], split[k]) for k in split)  # the same draw as in §1
assert m["data"]["fallback"] == FALLBACK

# %% [markdown]
# ## 3. The classifier
#
# 784 → 256 → 256 → 10, each hidden layer Linear → BatchNorm → ReLU, Kaiming init, trained full-batch
# on the 500 images with batch norm in training mode. The update rule is notebook 02's *relative* step:
# a step of `clf_lr`·‖θ‖ along −∇log L, decayed to `clf_lr·clf_lr_final`. Once the training set is
# separated, cross-entropy only grows the margins, and the normalized margin $\gamma$ measures whether
# the direction of θ still improves (notebook 02).

# %%
hist = res["history"]["classifier"]
fig, axes = plt.subplots(1, 4, figsize=(15, 3))
plots.plot_history(hist, "loss", ax=axes[0], logy=False)  # underflows to 0 once separated
plots.plot_history(hist, "q_min", ax=axes[1], logy=False)
plots.plot_history(hist, "norm_margin", ax=axes[2], logy=False)
plots.plot_history(hist, "train_acc", ax=axes[3], logy=False)
axes[0].set_title("cross-entropy")
axes[1].set_title("smallest margin q_min")
axes[2].set_title("normalized margin γ = q_min / ‖Πθ‖^(1/λ_max)", fontsize=9)
axes[3].set_title("training accuracy")
fig.tight_layout()
print(f"last logged: loss {hist['loss'][-1]:.2e}, q_min {hist['q_min'][-1]:.3g}, γ {hist['norm_margin'][-1]:.3g}")

# %%
print(f"architecture      {clf['architecture']}")
print(f"train accuracy    {clf['train_accuracy']:.3f}")
print(f"test accuracy     {clf['test_accuracy']:.3f}  (on the {clf['n_test']} images outside train)")
print(f"KKT residual      {clf['kkt_residual']:.3f}  ({clf['kkt_mode']})")
print(f"support vectors   {clf['n_support_vectors']} of {len(train_y)}  (μ_i > 1% of max μ)")
print(f"q_min             {clf['q_min']:.3g}")
print(f"Λ: {clf['lambda']['choice']}, Π keeps {clf['lambda']['Pi']}, λ_max = {clf['lambda']['lam_max']}")

# %% [markdown]
# **Λ for a batch-norm net.** With batch norm in training mode, everything before the last BN is
# scale-invariant, so many Λ satisfy the Euler identity (notebook 03). The experiment uses the simplest:
# λ = 1 on the last layer (weight and bias), 0 elsewhere, so Π keeps the last layer. Scaling the last
# layer by $e^s$ scales the logits by $e^s$ — check it, in training mode (what the KKT conditions and the
# GBC loss see) and in eval mode (the deployed classifier):

# %%
model, lam = res["model"], res["lam"]
Xb = train_x[:128]
with torch.no_grad():
    for mode in ("train", "eval"):
        net = image_nets.frozen_copy(model, mode)  # 'train': batch statistics, running stats frozen
        f = net(Xb)
        for s in (-1.0, 0.5, 2.0):
            fs = homogeneity.scale_params(net, lam.lam, s)(Xb)  # f(x; e^{sΛ}θ)
            err = float((fs - np.exp(s) * f).abs().max() / f.abs().max())
            print(f"{mode:5s} s={s:+.1f}: max |f(e^(sΛ)θ) − e^s f(θ)| / max|f| = {err:.1e}")
            assert err < 1e-5, (mode, s, err)  # float32 rounding: tolerance 1e-5 of the largest logit

# %% [markdown]
# **How far from a KKT point?** The KKT fit (notebook 02) looks for μ ≥ 0 with
# $\Pi\theta = \sum_i \mu_i \nabla_\theta q_i$ over the 500 training images. The residual
# $\|\Pi\theta - \sum_i\mu_i\nabla q_i\|/\|\Pi\theta\|$ is 0 at a KKT point; its square is the share of
# $\|\Pi\theta\|^2$ that no non-negative combination of margin gradients explains. At a KKT point only the
# images on the margin ($q_i = q_{\min}$) carry μ > 0.

# %%
kkt = res["kkt"]
q_rel = (kkt.q / kkt.q_min).numpy()
mu_rel = (kkt.mu / kkt.mu.max()).numpy()
print(f"residual {kkt.residual:.3f}: {kkt.residual ** 2:.0%} of ‖Πθ‖² unexplained by Σ μ_i ∇q_i")
print(f"margins q_i / q_min: median {np.median(q_rel):.2f}, max {q_rel.max():.2f}")
fig, ax = plt.subplots(figsize=(5, 3.2))
ax.scatter(q_rel, mu_rel, s=6)
ax.set(xlabel="q_i / q_min", ylabel="μ_i / max μ", title="complementary slackness: μ > 0 only at q = q_min?")
fig.tight_layout()

# %% [markdown]
# Read the figure against the two KKT conditions. *Complementary slackness* looks plausible: the
# margins of all 500 images sit within a few tens of percent of $q_{\min}$ (500 images in 784 dimensions
# with 2 × 256 hidden units: the classifier can put every image on the margin), so μ > 0 for almost all of
# them is allowed. *Stationarity* is what fails: even with μ free on every image, a large share of
# $\|\Pi\theta\|^2$ stays unexplained. The normalized margin γ was still rising at the end of training
# (plot above): θ's direction had not converged. Keep this in mind for §7.
#
# ## 4. Samples: GBC, naive, BN statistics, real
#
# * **GBC**: a conditional generator G(z, y, c) (a small conv net, K = 10 codes a class) trained only on
#   $L_{\rm stat} + \beta L_{\rm dual}$ of notebook 04, against the frozen classifier in training mode.
# * **naive**: the same generator trained only to maximize the classifier's margin (eval mode).
# * **BN-stat**: DeepInversion-style — cross-entropy plus matching the batch-norm running statistics.
# * **real**: `pool_a`, fresh digits the classifier never saw.
#
# One row a class, 10 samples a row:

# %%
rows = {"GBC": res["samples"]["gbc"], "naive": res["samples"]["naive"],
        "BN-stat": res["samples"]["bnstat"], "real (pool_a)": res["real"]}
fig, axes = plt.subplots(1, 4, figsize=(14, 4))
for ax, (name, (x, y)) in zip(axes, rows.items()):
    plots.image_grid(x, y, nrow=10, ax=ax)
    ax.set_title(name)
fig.tight_layout()

# %% [markdown]
# **The metric table** ([docs/method.md §8](../docs/method.md)), one row per image set of 500 (100 in fast mode):
#
# * `evaluator_accuracy`: an independent CNN trained on the 6,000 evaluator images labels the samples;
#   the share that matches the conditioning label.
# * `ssim_recovery_share`: share of the training images whose best same-class sample has a higher SSIM
#   than their best same-class image of the reference pool `pool_b` (fresh real data ≈ 0.5 by
#   construction, §5). `ssim_recovery_mean`: the mean of that best SSIM. `l2_recovery_share`: the same
#   contest by L2 distance.
# * `frechet`: Fréchet distance to `pool_c` in the evaluator's penultimate features (lower is more
#   realistic). `diversity`: mean pairwise distance within a class.

# %%
display(Markdown(reports.markdown_table(m)))
print(f"evaluator accuracy on real pool_c: {m['evaluator']['accuracy_on_pool_c']:.3f} "
      f"({m['evaluator']['n_train']} training images, {m['evaluator']['epochs']} epochs)")

# %% [markdown]
# **Nearest training images.** Each pair: a training image (top) and the same-class sample most similar
# to it by SSIM (bottom, the SSIM under it). If GBC recovered its training set, the bottom row would copy
# the top row. For scale, the second figure pairs the same training images with their nearest image of the
# reference pool `pool_b` — fresh digits of the same class.

# %%
pool_b = (gdata.to_float_images(data.images[split["pool_b"]]), torch.from_numpy(data.labels[split["pool_b"]]))
recovery_plots.nearest_figure(train_x, train_y, *res["samples"]["gbc"], label="GBC")
recovery_plots.nearest_figure(train_x, train_y, *pool_b, label="real pool");

# %% [markdown]
# ## 5. Recovery, calibrated by fresh data
#
# A fixed SSIM threshold means little on MNIST: fresh digits already resemble most training images
# ([docs/method.md §8](../docs/method.md)). So recovery is a contest per training image: best SSIM
# against the generated set vs best SSIM against a real pool of the same size that the classifier never
# saw. Two real pools drawn alike win
# about half the contests each — the `real` row's share is a check of the metric itself. Here are the
# per-image scores behind the shares:

# %%
b_gbc = images.best_ssim(train_x, train_y, *res["samples"]["gbc"])
b_ref = images.best_ssim(train_x, train_y, *pool_b)
b_real = images.best_ssim(train_x, train_y, *res["real"])
# the shares of the table are these contests (ties go to the reference)
assert abs(float((b_gbc > b_ref).mean()) - m["gbc"]["ssim_recovery_share"]) < 1e-9
assert abs(float((b_real > b_ref).mean()) - m["real"]["ssim_recovery_share"]) < 1e-9
fig, ax = plt.subplots(figsize=(6, 3.2))
bins = np.linspace(min(b_gbc.min(), b_ref.min(), 0), 1, 41)
ax.hist(b_ref, bins, alpha=0.6, label=f"reference pool_b (mean {b_ref.mean():.2f})")
ax.hist(b_real, bins, histtype="step", lw=1.5, label=f"real pool_a (mean {b_real.mean():.2f})")
ax.hist(b_gbc, bins, alpha=0.6, label=f"GBC samples (mean {b_gbc.mean():.2f})")
ax.set(xlabel="best same-class SSIM of a training image", ylabel="training images")
ax.legend(fontsize=8)
fig.tight_layout()

# %%
share_real = m["real"]["ssim_recovery_share"]
print(f"real pool_a beats the reference on {share_real:.3f} of the training images; GBC on "
      f"{m['gbc']['ssim_recovery_share']:.3f}")
# two real pools drawn alike: 0.5 in expectation; ±0.2 covers the sampling noise of 100–500 contests
assert 0.3 <= share_real <= 0.7, share_real

# %% [markdown]
# **The gauge.** The GBC loss sees the classifier in training mode, where the first batch norm normalizes
# every feature of $W_1x$ over the batch. A batch $x$ and $c\,x + g$ (any $c > 0$, any constant $g$)
# then give the *same* logits: $W_1(cx + g\mathbf 1) = c\,W_1x + g\,W_1\mathbf 1$ is a per-feature scale
# and shift, which BN removes. So the losses fix the GBC samples only up to this affine intensity map — a
# gauge freedom — and the generator may land on any member, e.g. grey digits on a grey canvas.
# `image_nets.stretch` picks one member: it maps the 1% and 99% intensity quantiles of the whole sample set to
# 0 and 1 (one map for all samples). The baselines use the eval-mode classifier, which has no such freedom.

# %%
net = image_nets.frozen_copy(model, "train")
xr = res["real"][0]
with torch.no_grad():
    f1, f2 = net(xr), net(0.5 * xr + 0.2)
gap = float((f1 - f2).abs().max() / f1.abs().max())
print(f"train-mode classifier, x vs 0.5·x + 0.2: max logit change / max|logit| = {gap:.1e}")
assert gap < 1e-3  # exact but for BN's ε in √(var + ε): tolerance 1e-3 of the largest logit

x_raw, y_raw = image_nets.draw(res["generators"]["gbc"], len(res["samples"]["gbc"][1]), 10, SEED + 7)
assert torch.allclose(image_nets.stretch(x_raw), res["samples"]["gbc"][0], atol=1e-6)  # the same draw
print(f"raw GBC samples: intensities {float(x_raw.quantile(0.01)):.3f} … {float(x_raw.quantile(0.99)):.3f} "
      "(1% and 99% quantiles)")
fig, axes = plt.subplots(1, 2, figsize=(8, 4))
plots.image_grid(x_raw, y_raw, nrow=10, ax=axes[0])
plots.image_grid(res["samples"]["gbc"][0], y_raw, nrow=10, ax=axes[1])
axes[0].set_title("GBC, raw")
axes[1].set_title("GBC, stretched")
fig.tight_layout()

# %%
g = m["gbc"]
display(Markdown("| GBC samples | evaluator accuracy | Fréchet |\n|---|---|---|\n"
                 f"| raw | {g['evaluator_accuracy_unstretched']:.3f} | {g['frechet_unstretched']:.3g} |\n"
                 f"| stretched | {g['evaluator_accuracy']:.3f} | {g['frechet']:.3g} |"))

# %% [markdown]
# The stretch changes nothing the classifier can see, only what the evaluator and the Fréchet distance
# see. It is fair to report the stretched numbers (the classifier's information does not fix the gauge),
# but both are shown so the choice is visible. How much it matters depends on where the generator
# happened to land: when the raw samples already span most of [0, 1] (compare the quantiles printed
# above), the two rows are close; a generator that settles on grey-on-grey images loses a lot without it.
#
# ## 6. Targets against measurements
#
# The targets for the CPU defaults, against this run's metrics (`reports.target_rows`):

# %%
display(Markdown(reports.targets_markdown(m)))

# %% [markdown]
# **Run to run.** The table above is this notebook's own run. Repeated full runs of the same pipeline
# with the same seed, differing only in floating-point rounding (which sends 1,000 Adam steps to a
# different place), measured evaluator accuracy between 0.596 and 0.684 for GBC and between 0.512 and
# 0.598 for the naive baseline. The picture is the same in all: GBC is at or above the naive
# baseline on accuracy, BN-statistics matching produces far more recognisable and realistic digits,
# and GBC recovers none of the training images. Differences of a few points are what the seed and
# rounding alone move; none of them comes near the targets.
#
# ## 7. Diagnosis: do the conditions single out the training images?
#
# GBC can only recover the training set if, among all image sets, the training images are (close to) the
# best at satisfying the classifier's KKT conditions — that is the whole premise
# ([docs/method.md §1](../docs/method.md)). We can test the premise directly: evaluate the stationarity loss of notebook 04,
# $L_{\rm stat} = \|\Pi\theta - \alpha v\|^2/\|\Pi\theta\|^2$ with $v = \mathbb E[\nabla_\theta q]$ and the
# best α, on image sets we choose (`image_nets.L_stat_of`, uniform weights; same set size for all, since batch
# norm sees batch statistics):

# %%
cfg_run = res["cfg"]  # the sizes actually used
sets = {"training images (the target)": res["train"], "fresh real, pool_a": res["real"],
        "GBC samples, raw": (x_raw, y_raw), "GBC samples, stretched": res["samples"]["gbc"],
        "naive samples": res["samples"]["naive"], "BN-stat samples": res["samples"]["bnstat"]}
L = {name: image_nets.L_stat_of(model, lam, cfg_run, x, y) for name, (x, y) in sets.items()}
display(Markdown("| image set | L_stat (0 = stationarity holds) |\n|---|---|\n"
                 + "\n".join(f"| {k} | {v:.3f} |" for k, v in L.items())))
print(f"L_stat of the training images, as stored in metrics.json: {clf['L_stat_of_train_images']:.3f}")
print(f"GBC generator's final L_stat (its own weighting and α): {m['gbc']['final_losses']['L_stat']:.3f}")
assert abs(L["training images (the target)"] - clf["L_stat_of_train_images"]) < 1e-4  # same computation

# %%
L_train, L_gbc = L["training images (the target)"], L["GBC samples, raw"]
if L_gbc < L_train:
    verdict = (f"GBC samples reach L_stat {L_gbc:.3f} < {L_train:.3f} of the training images: the generator "
               "satisfies the stationarity condition *better* than the data the classifier was trained "
               "on, so minimizing the loss further does not lead to the training images.")
else:
    verdict = (f"GBC samples reach L_stat {L_gbc:.3f} ≥ {L_train:.3f} of the training images: the generator "
               "has not yet matched the training images' stationarity; longer or better optimization "
               "could still help.")
print(verdict)
print(f"fresh real digits get L_stat {L['fresh real, pool_a']:.3f} vs {L_train:.3f} for the training images")

# %% [markdown]
# **Reading it** (the numbers are this run's).

# %%
L_fresh, r2 = L["fresh real, pool_a"], clf["kkt_residual"] ** 2
display(Markdown(f"""
1. The training images themselves leave much of $\\|\\Pi\\theta\\|^2$ unexplained: $L_{{\\rm stat}}$ = {L_train:.2f},
   in line with the KKT residual of §3 (the KKT fit may weight the images freely, so its residual²,
   {r2:.2f}, is {"lower" if r2 < L_train else "no lower"}). This classifier was not trained to a KKT point: ReLU, batch norm
   and {cfg_run.clf_steps} full-batch steps separate the training images with large, nearly equal margins, but leave θ's
   direction short of a max-margin one.
2. The conditions {"*do*" if L_train < L_fresh else "do *not*"} carry information about the training set: fresh real digits score
   $L_{{\\rm stat}}$ = {L_fresh:.2f}, the training images {L_train:.2f}.
3. The GBC samples reach $L_{{\\rm stat}}$ = {L_gbc:.2f}, {"lower than the training images, with images that look nothing like them" if L_gbc < L_train else "not yet below the training images"}
   (SSIM recovery share {m["gbc"]["ssim_recovery_share"]:.2f}, diversity {m["gbc"]["diversity"]:.2f} against {m["real"]["diversity"]:.2f} for real digits).
   Far from a KKT point, $\\Pi\\theta$ can be a direction that unnatural images explain better than the real
   training set, and the generator, doing its job on the loss, goes there. Nothing in the loss asks for
   natural-looking images; only the premise "θ is a KKT point of this data" ties the optimum to the training set.
"""))

# %% [markdown]
# So the bottleneck is the classifier's distance from a KKT point, not the generator's capacity or
# training. In notebook 02's toy, relu² and long relative-step training brought the residual to a few
# percent; the paper's GPU runs train the classifier much longer (exercises 1–3, 5).

# %% [markdown]
# ## 8. Beyond the paper: a classifier closer to a KKT point
#
# §7 blames the classifier, so change only the classifier and see. Haim et al. (2022), who reconstruct
# training images from the same kind of conditions, use a **homogeneous** net: no batch norm, no biases,
# so f(x; cθ) = c³ f(x; θ) for this 3-layer MLP and Λ is uniform (λ = 1/3 on every tensor, Π keeps them
# all). Trained with the same relative-step rule, its KKT residual keeps falling with more steps, where
# the BN net's does not (FINDINGS.md §4: 0.86 → 0.59 → 0.50 at 600 / 3,000 / 10,000 steps, then flat).
# Same data, same generator, same losses and metrics; the BN-statistics baseline does not exist here (no
# batch norm), and there is no gauge to fix (`gauge="none"`). Command line:
#
# ```
# gbc-teach mnist --profile paper --set bn=false --set bias=false --set lam_choice=uniform --set gauge=none --set clf_steps=10000
# ```

# %%
HOMOG = dict(bn=False, bias=False, lam_choice="uniform", gauge="none")
CFG_H = (mnist_config.MnistConfig.fast(**HOMOG, clf_steps=300) if FAST
         else mnist_config.MnistConfig(**HOMOG, clf_steps=CLF_STEPS_H))
t0 = time.perf_counter()
res_h = mnist.run_mnist(SEED, CFG_H)
m_h, clf_h = res_h["metrics"], res_h["metrics"]["classifier"]
print(f"done in {time.perf_counter() - t0:.0f} s; {clf_h['architecture']}, {CFG_H.clf_steps} steps")
print(f"test accuracy {clf_h['test_accuracy']:.3f}, KKT residual {clf_h['kkt_residual']:.3f} "
      f"(BN classifier: {clf['kkt_residual']:.3f}), {clf_h['n_support_vectors']} support vectors")
assert "bnstat" not in m_h and "bnstat_skipped" in m_h  # no batch norm: no BN-stat baseline, recorded

# %%
# the homogeneous net: scaling every tensor by e^{sλ} (λ = 1/3) scales the logits by e^s
net_h, lam_h = res_h["model"].eval(), res_h["lam"]
with torch.no_grad():
    f = net_h(Xb)
    for s in (-1.0, 0.5, 2.0):
        err = float((homogeneity.scale_params(net_h, lam_h.lam, s)(Xb) - np.exp(s) * f).abs().max()
                    / f.abs().max())
        assert err < 1e-5, (s, err)  # float32 rounding: tolerance 1e-5 of the largest logit
print("λ per tensor:", sorted({round(float(v), 4) for v in lam_h.lam}), "— Euler identity holds to 1e-5")

# %%
fig, axes = plt.subplots(1, 3, figsize=(11, 4))
for ax, (name, (x, y)) in zip(axes, {"GBC (homogeneous classifier)": res_h["samples"]["gbc"],
                                      "naive (same classifier)": res_h["samples"]["naive"],
                                      "real (pool_a)": res_h["real"]}.items()):
    plots.image_grid(x, y, nrow=10, ax=ax)
    ax.set_title(name)
fig.tight_layout()
display(Markdown(reports.markdown_table(m_h, rows=("gbc", "naive", "real"))))
display(Markdown(reports.targets_markdown(m_h)))

# %%
L_h = {name: image_nets.L_stat_of(res_h["model"], res_h["lam"], res_h["cfg"], x, y)
       for name, (x, y) in {"training images": res_h["train"], "fresh real, pool_a": res_h["real"],
                            "GBC samples": res_h["samples"]["gbc"]}.items()}
bn_col = (L["training images (the target)"], L["fresh real, pool_a"], L["GBC samples, raw"])
display(Markdown("| image set | L_stat, homogeneous classifier | L_stat, BN classifier (§7) |\n|---|---|---|\n"
                 + "\n".join(f"| {k} | {v:.3f} | {b:.3f} |" for (k, v), b in zip(L_h.items(), bn_col))))
print(f"GBC evaluator accuracy: homogeneous classifier {m_h['gbc']['evaluator_accuracy']:.3f}, "
      f"BN classifier {m['gbc']['evaluator_accuracy']:.3f}")

# %% [markdown]
# **Reading it.**

# %%
g_h, g_bn = m_h["gbc"], m["gbc"]
display(Markdown(f"""
With the classifier closer to a KKT point (KKT residual {clf_h["kkt_residual"]:.2f} against {clf["kkt_residual"]:.2f}), the same
generator and losses give evaluator accuracy {g_h["evaluator_accuracy"]:.2f} against {g_bn["evaluator_accuracy"]:.2f} on the BN classifier
(Fréchet {g_h["frechet"]:.0f} against {g_bn["frechet"]:.0f}, diversity {g_h["diversity"]:.2f} against {g_bn["diversity"]:.2f}; the naive generator on the
same classifier: {m_h["naive"]["evaluator_accuracy"]:.2f}), and the GBC samples
{"no longer beat" if L_h["GBC samples"] >= L_h["training images"] else "still beat"} the training images on $L_{{\\rm stat}}$
({L_h["GBC samples"]:.2f} against {L_h["training images"]:.2f}). It is still not recovery: the SSIM recovery share is
{g_h["ssim_recovery_share"]:.2f} (fresh real digits: about 0.5). The KKT residual is still far from 0, and 3× more steps
did not lower it (FINDINGS.md §4); notebook 05b trains a classifier that reaches its KKT form and gets its training images back.
"""))

# %% [markdown]
# ## Summary
#
# * The experiment cuts five disjoint, class-balanced sets from the one split present (here MNIST's test
#   split): 500 training images, three real pools of 500 for the metrics, 6,000 evaluator images.
# * The 784-256-256-10 BN/ReLU classifier separates its 500 images and generalizes reasonably, and the
#   last-layer Λ satisfies the Euler identity to float precision in both BN modes; but its KKT residual is
#   large: it is not at a KKT point of the max-margin problem.
# * Recovery is a contest against fresh real data (≈ 0.5 by construction for a real pool); in training-mode
#   BN, GBC samples are defined up to an affine intensity map (the gauge), fixed by `image_nets.stretch`.
# * On CPU defaults GBC is at or above the naive margin-maximizer on accuracy and well below
#   BN-statistics matching, and recovers no training image. The stationarity loss explains why: the
#   training images score better than fresh digits, but generated non-digits score better still — far
#   from a KKT point the conditions do not single out the training images.
# * Changing only the classifier to a homogeneous one (no BN, no biases) trained longer lowers the KKT
#   residual and lifts GBC to recognizable digits (§8): the premise matters more than the generator.
#
# ## Exercises
#
# 1. **A smooth activation.** Rerun with `CFG = mnist_config.MnistConfig(act="relu2")` (or
#    `gbc-teach mnist --profile paper --set act=relu2`). Does the KKT residual drop? Does $L_{\rm stat}$ of the training
#    images drop below that of fresh real digits, and does the recovery share move?
# 2. **Longer classifier training.** `gbc-teach mnist --profile paper --set clf_steps=3000` (about 5× the classifier time).
#    Plot the KKT residual against `clf_steps` for a few values. Is it still falling at the end?
# 3. **The paper profile.** On a GPU: `gbc-teach mnist --paper --device cuda` (784-512-512-10, 3,000
#    classifier steps, 20,000 generator steps; about 5 minutes on an H100). Which of the targets of §6
#    does it meet? Predict first whether 20× more generator steps help; the measured answer is in
#    `FINDINGS.md` §5.
# 4. **The gauge.** Set `CFG = mnist_config.MnistConfig(gbc_bn_mode="eval", gauge="none")` so the GBC loss sees
#    the deployed classifier. What happens to the raw samples and to the KKT reasoning (whose conditions
#    are they)?
# 5. *Open-ended.* What classifier training would bring the KKT residual of a BN/ReLU net on 500 images
#    close to 0 — normalized or relative steps for much longer, no batch norm (`bn=False, bias=False`,
#    Haim et al.'s setting), a smooth activation, a different Λ? Design a small experiment that
#    separates these factors, and predict which one matters most before you run it.
