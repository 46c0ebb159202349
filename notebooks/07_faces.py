# ---
# jupyter:
#   gbc_teach:
#     fast_minutes: 2
#     full_minutes: 18
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
# > **Source:** this notebook is written as the Python script [`07_faces.py`](07_faces.py).
# > Edit the script, not the `.ipynb`, then run `jupytext --sync`.

# %% [markdown]
# # 07 — Faces: a generator from one multi-label attribute classifier
#
# The paper's second experiment generates faces with chosen attributes from attribute classifiers
# alone. Here the faces are drawn procedurally (`gbc_teach.datasets.faces`: five attributes named
# after CelebA's — Smiling, Eyeglasses, Blond_Hair, Bangs, Mustache); the same code reads CelebA
# (`gbc-teach faces --data celeba --celeba-root DIR`).
#
# **What you will learn**
#
# 1. Attributes as margins of one multi-label classifier: q_ia = s_ia f_a(x_i), one constraint per
#    (image, attribute) (docs/method.md §11).
# 2. Λ for a conv net: which tensors keep Π, and why weight decay makes the question moot.
# 3. The KKT form with weight decay and BCE: known multipliers σ(−q_ia)/(n·wd).
# 4. What GBC, free particles and the naive baseline give back, judged by an independent attribute
#    evaluator, train-on-synthetic/test-on-real and the calibrated recovery share.
# 5. When the classifier gives its training faces back: what its first layer sees (the convolution
#    at the end of section 6, the fully connected layer in sections 7–8),
#    the scale of the multipliers that weight decay fixes (section 9), and GBC started on the
#    particles' answer (section 10).

# %% tags=["parameters"]
import os

FAST = os.environ.get("GBC_FAST", "0") not in ("", "0")
SEED = 0

# %%
import matplotlib.pyplot as plt
import torch
from IPython.display import Markdown, display

from gbc_teach.datasets.faces import ATTRIBUTES, draw_faces
from gbc_teach.experiments import faces, faces_report
from gbc_teach.experiments.faces_config import FaceConfig
from gbc_teach.experiments.faces_nets import combination_index
from gbc_teach.viz.faces import nearest_faces, samples_by_combination

torch.set_num_threads(1)
cfg = FaceConfig.fast() if FAST else FaceConfig()

# %% [markdown]
# ## 1. The faces and their attributes
#
# Each face is drawn from a seed; its attributes are independent coin flips, and everything else
# (skin, hair shade, pose, light, background) varies continuously.

# %%
d = draw_faces(16, seed=SEED, size=cfg.size)
fig, axes = plt.subplots(2, 8, figsize=(9, 2.6))
for ax, img, a in zip(axes.flat, d.images, d.attrs):
    ax.imshow(img.permute(1, 2, 0).numpy())
    ax.set_title(" ".join(n[:5] for n, v in zip(ATTRIBUTES, a) if v) or "none", fontsize=6)
    ax.axis("off")

# %% [markdown]
# ## 2. One multi-label head, and its margins
#
# One classifier f(x) ∈ R^5 with a logit per attribute, trained with binary cross-entropy. Its
# margins are q_ia = s_ia f_a(x_i) with s = 2a − 1, and the max-margin problem has one constraint
# q_ia ≥ 1 per (image, attribute). Five separate classifiers would give five separate KKT systems,
# each with its own θ, and five generators' worth of conditions to satisfy at once; the shared head
# ties all attributes of one face to one θ, so a single stationarity condition binds them together.
#
# **Λ for the conv net.** The classifier is bias-free except for its first convolution, so with ReLU
# it is quasi-homogeneous. Solving the Euler identity (`homogeneity.solve_lambda`) on its ReLU
# twin:

# %%
lam = faces.relu_lambda(cfg, draw_faces(8, seed=SEED, size=cfg.size).images, len(ATTRIBUTES))
for name, value, in_pi in lam.table():
    print(f"{name:20s} λ = {value:.4f}   in Π: {in_pi}")
assert lam.residual < 1e-6, lam.residual  # the Euler identity holds to round-off

# %% [markdown]
# The min-norm Λ gives every weight the same λ = 1/4 (four layers on every path). The first
# convolution's bias starts at zero in this fresh twin, so ⟨b, ∇_b f⟩ = 0: the identity does not
# constrain its λ, and the min-norm member leaves it at 0, outside Π. A nonzero bias adds to W·x,
# so it must share its weight's λ; the trained classifier's bias is nonzero, and below Π is every
# tensor, the bias included. The classifier actually trained
# uses softplus(10·x)/10, a smooth ReLU: it is not exactly homogeneous, and it does not need to be,
# because **weight decay** puts it in the KKT form at its stationary point:
#
# wd·θ = (1/n) Σ_i Σ_a σ(−q_ia) ∇_θ q_ia,   μ_ia = σ(−q_ia)/(n·wd) ≥ 0, known,
#
# with Π = every tensor, no Λ and no q_min. GBC then matches v = E_p[∇_θ log p(s|x)] with
# log p(s|x) = Σ_a log σ(s_a f_a(x)).

# %% [markdown]
# ## 3. The whole experiment
#
# One face per training attribute combination, eight of the 32 combinations held out of the
# classifier's training set; then GBC, free particles and the naive baseline on the frozen
# classifier, each judged by the same metrics (this is what `gbc-teach faces` runs).

# %%
res = faces.run_faces(SEED, cfg)
m = res["metrics"]
c = m["classifier"]
display(Markdown(
    f"Classifier: {len(res['train'][0])} training faces, training accuracy {c['train_accuracy']:.3f}; "
    f"weight-decay stationarity residual ‖∇L + wd·θ‖/‖wd·θ‖ = {c['residual_wd']:.4f}; KKT fit with "
    f"one constraint per (image, attribute) {c['kkt_residual_pairs']:.3f}; L_stat of the training "
    f"faces themselves {c['L_stat_of_train_images']:.4f}."))

# %%
tol = 1.0 if FAST else 0.1  # the fast profile stops the classifier long before its stationary point
assert c["residual_wd"] < tol or FAST, c["residual_wd"]
assert m["train_images"]["ssim_recovery_share"] == 1.0  # the ceiling: the faces themselves

# %% [markdown]
# ## 4. What the generator gives back
#
# Top row: the classifier's training faces; below, the most similar sample (SSIM) of the same
# attribute combination from each method.

# %%
tx, ta = res["train"]
labelled = {k: (x, combination_index(a)) for k, (x, a) in res["samples"].items()}
nearest_faces(tx, combination_index(ta), labelled);  # `;`: the figure is shown once, by the backend

# %% [markdown]
# ## 5. Attribute-conditional samples, held-out combinations included

# %%
x, a = res["samples"]["gbc"]
hx, ha = res["held_samples"]["gbc"]
samples_by_combination(torch.cat([hx, x]), torch.cat([ha, a]), list(ATTRIBUTES), held=res["held"],
                       max_rows=12);

# %% [markdown]
# ## 6. The metrics against the baselines and real faces

# %%
display(Markdown(faces_report.markdown_table(m)))
g, r = m["gbc"], m["real"]
display(Markdown(
    f"GBC: attribute evaluator {g['evaluator_accuracy']:.3f} (held-out combinations "
    f"{g['held_out_evaluator_accuracy']:.3f}), TSTR {g['tstr_accuracy']:.3f}, SSIM recovery share "
    f"{g['ssim_recovery_share']:.3f}; fresh real faces: evaluator {r['evaluator_accuracy']:.3f}, "
    f"recovery share {r['ssim_recovery_share']:.3f} (≈ 0.5 by construction). The classifier has "
    f"no batch norm, so there is no DeepInversion baseline: free particles are the second one."))

# %% [markdown]
# **Reading.** On these faces the classifier sits at its stationary point and its training faces
# satisfy the conditions almost exactly (L_stat of the training faces near 0), yet neither GBC nor
# the particles find them from a blank start: the stationarity loss stays near 1 (v nearly
# orthogonal to θ), where 1 − cos² has almost no gradient. That the training faces satisfy the
# conditions does not mean nothing else does — and the next cells show how little of a face the
# conditions can hold at all. FINDINGS.md ("Faces") lists what was tried.

# %%
assert all(0 <= m[k]["evaluator_accuracy"] <= 1 for k in ("gbc", "naive", "particles", "real"))

# %% [markdown]
# ### What the first convolution sees
#
# The first convolution is a linear map of the face, x ↦ conv(x) (its bias aside): a matrix with
# one row per output (filter × position) and one column per pixel value (`kkt.conv_operator`).
# Everything the classifier computes, and so everything the KKT conditions can say about a face,
# goes through that matrix, so its row space is all of a face the classifier sees — exactly as W₁'s
# is for a fully connected net (notebook 05c). Two spectra: the filter bank's (how many *different*
# filters the layer really has) and the whole matrix's (how many directions of a face it responds
# to).

# %%
from gbc_teach.kkt import conv_operator, filter_spectrum

conv = faces.first_layer(res["model"])
M = conv_operator(conv, tuple(tx.shape[1:]))  # (filters × positions, 3·S²)
spec = filter_spectrum(conv)
sv = torch.linalg.svdvals(M.double())
sv = (sv / sv[0]).numpy()
positions = M.shape[0] // conv.out_channels
fl = c["first_layer"]  # the same view, recorded by the run (kkt.first_layer_view)
fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
axes[0].semilogy(range(1, len(spec) + 1), spec, "o-", ms=4)
axes[0].set(xlabel="direction of the filter bank", ylabel="σ / σ_max",
            title=f"the {conv.out_channels} filters of the first convolution")
axes[1].semilogy(range(1, len(sv) + 1), sv, lw=1.5)
axes[1].axvline(positions, color="grey", ls=":", label=f"{positions} positions: one value each")
axes[1].set(xlabel=f"direction of a face ({M.shape[1]} values)", ylabel="σ / σ_max",
            title="what the convolution responds to")
axes[1].legend(fontsize=8)
fig.tight_layout()
plt.show()
display(Markdown(
    f"- filter bank: σ₂/σ₁ = {spec[1]:.4f}; {sum(v > 0.05 for v in spec)} of {len(spec)} filter "
    f"directions above 0.05\n"
    f"- the convolution: {int((sv > 0.05).sum())} of {len(sv)} directions above 0.05, "
    f"{fl['rank']} above 10⁻³; share of a training face outside them {fl['outside_mean']:.3f} "
    f"(largest {fl['outside_max']:.3f})"))

# %%
with torch.no_grad():  # the matrix is the convolution: M·x = conv(x) − bias, to float precision
    direct = (conv(tx[:2]) - conv.bias.view(1, -1, 1, 1)).flatten(1)
assert torch.allclose(tx[:2].flatten(1) @ M.T, direct, atol=1e-4)
assert fl["rank"] == int((sv > 1e-3).sum())
assert FAST or spec[1] < 0.05, spec[:3]  # at its stationary point: one filter (the fast run stops early)

# %% [markdown]
# **Reading.** At its stationary point weight decay leaves the first convolution with one filter:
# every filter is a multiple of the same 3×3×3 pattern, so the classifier sees a face as one
# number a position — a single-channel, half-resolution view of a colour image — and a large part
# of every training face lies outside it. This is weight decay's bias toward low rank: the penalty
# ‖θ‖² on a product of layers favours products of low rank, and on these faces one filter is enough
# to tell the attributes apart. The conditions then pin at most that view of each face; the rest is
# whatever the generator's start put there, which is why neither GBC nor the particles, judged on
# the whole image, give these faces back. The fully connected classifiers below tell the same story
# with W₁.

# %% [markdown]
# ## 7. What a fully connected classifier's first layer sees of the faces
#
# An MLP sees a face only through W₁x (+ b), so the part of a face outside W₁'s row space is
# invisible to it and to anything that reads θ. Two training rules for the same MLP
# (3·S² → 256 → 256 → A, a bias in the first layer only) on the same training faces: weight decay
# to its stationary point (the KKT form of §2), and Haim et al.'s rule — plain gradient descent on
# the same loss from a first layer 10⁴× smaller than usual, no weight decay. For each: W₁'s
# singular values (relative to the largest), the share of each training face outside the
# directions above 10⁻³ and outside all the directions above the spectrum's floor (its gap,
# `kkt.gap_rank`: what is left of the initialization lies below it), and the stationarity loss
# of the training faces themselves.

# %%
from dataclasses import replace

from gbc_teach.kkt import first_layer_view
from gbc_teach.utils import seed_everything

X, A = res["train"]
rules = {"weight decay": dict(act="softplus", clf_rule="weight_decay"),
         "Haim et al.'s rule": dict(act="relu", clf_rule="plain", init_scale=1e-4,
                                    clf_steps=6000 if FAST else 20000)}
views, mlps = {}, {}
for name, kw in rules.items():
    seed_everything(SEED)
    mcfg = replace(cfg, arch="mlp", mlp_width=128 if FAST else 256, **kw)
    mlp, _, _ = faces.train_attribute_classifier(X, A, mcfg)
    mlps[name] = mlp, mcfg
    views[name] = first_layer_view(faces.first_layer(mlp).weight, X)
    views[name]["L_stat"] = float(faces.gbc_objective(mlp, A.shape[1], mcfg)(X, A)["L_stat"].detach())

fig, ax = plt.subplots(figsize=(6, 3.2))
for name, v in views.items():
    ax.semilogy(range(1, len(v["singular_values"]) + 1), v["singular_values"], "o-", ms=3,
                label=name)
ax.axvline(len(X), color="grey", ls=":", label=f"{len(X)} training faces")
ax.axvline(A.shape[1], color="k", ls="--", lw=0.8, label=f"{A.shape[1]} attribute logits")
ax.set(xlabel="direction of W₁", ylabel="σ / σ_max", title="What the first layer responds to")
ax.legend(fontsize=8)
plt.show()
display(Markdown("\n".join(
    f"- {name}: {sum(s > 0.05 for s in v['singular_values'])} directions above 0.05, "
    f"{v['rank']} above 10⁻³; share of a training face outside them {v['outside_mean']:.4f} "
    f"(largest {v['outside_max']:.4f}); "
    + (f"the gap: after direction {v['gap_rank']}, share outside the directions above it "
       f"{v['outside_gap_mean']:.4f} (largest {v['outside_gap_max']:.4f}); "
       if v["gap_rank"] else "no gap; ")
    + f"L_stat of the training faces {v['L_stat']:.4f}"
    for name, v in views.items())))

# %%
haim, wd = views["Haim et al.'s rule"], views["weight decay"]
assert haim["rank"] == len(X) and haim["outside_max"] < 0.01, haim  # every face, nothing else
assert wd["L_stat"] < 0.1 < haim["L_stat"] or FAST, (wd["L_stat"], haim["L_stat"])
# measured (full, seed 0): weight decay's spectrum too has its gap at one direction per face, and
# every face lies (to 1 %) in the directions above it
assert FAST or (wd["gap_rank"] == len(X) and wd["outside_gap_max"] < 0.01), wd

# %% [markdown]
# Both rules keep every training face in W₁'s row space: weight decay too, once its weak
# directions are counted. Its strong directions are few — the loss gradients of all faces are
# combinations of the same few output gradients — but below them the spectrum goes on falling,
# one direction per face, to the floor. So the classifier does see the faces, some of them only
# weakly. Does that make them easy to find? A search that looks nowhere else:
# `particles.fit_in_span` writes each particle as x_k = Bᵀc_k, with B the directions above the
# gap, and fits only the coefficients c (a few numbers a face instead of 3·S² pixels), by full-batch
# L-BFGS on the same stationarity loss (with weight decay's scale, γ = 10⁻², as in section 9) plus
# a penalty that keeps the pixels in [0, 1]. One particle per training face, with that face's
# attributes, from two starts: noise images, and 40 % of the face mixed with 60 % noise. The score
# is the SSIM of each particle with the training face of its attributes, beside the best fresh face
# of the same combination.

# %%
from gbc_teach.baselines.particles import fit_in_span
from gbc_teach.evaluation.images import ssim_matrix
from gbc_teach.kkt import gap_rank, seen_directions

mlp, mcfg = mlps["weight decay"]
B, rel = seen_directions(faces.first_layer(mlp).weight, rtol=0.0)
k = gap_rank(rel) or len(X)  # the fast profile's short training may leave no gap
obj = faces.gbc_objective(mlp, A.shape[1], replace(mcfg, scale_weight=0.01))
noise = 0.9 * torch.rand(X.shape, generator=torch.Generator().manual_seed(SEED))
fresh_x, fresh_a = res["real"]
same = combination_index(A)[:, None] == combination_index(fresh_a)[None, :]
fresh_best = ssim_matrix(X, fresh_x).masked_fill(~same, -1).max(1).values
span_rows = [f"| the training faces | {float(obj(X, A)['L_stat'].detach()):.2e} | 1.000 | 1.000 |",
             f"| the best fresh face of the combination | — | {float(fresh_best.mean()):.3f} | "
             f"{float(fresh_best.min()):.3f} |"]
span = {}
for start, x0 in {"noise": noise, "40 % face, 60 % noise": 0.4 * X + 0.6 * noise}.items():
    x, h = fit_in_span(obj, B[:k], x0, A, rounds=5 if FAST else 100, box=100.0)
    own = ssim_matrix(x.clamp(0, 1), X).diagonal()
    span[start] = {"L_stat": h["L_stat"][-1], "own": float(own.mean()),
                   "start_own": float(ssim_matrix(x0, X).diagonal().mean())}
    span_rows.append(f"| from {start} (its start: {span[start]['start_own']:.3f}) | "
                     f"{h['L_stat'][-1]:.2e} | {float(own.mean()):.3f} | {float(own.min()):.3f} |")
display(Markdown(f"Particles in the {k} directions above the gap, L-BFGS:\n\n"
                 "| | L_stat | SSIM with its face, mean | min |\n|---|---|---|---|\n"
                 + "\n".join(span_rows)))

# %%
# measured (full, seed 0): from either start the search ends on images whose stationarity loss is
# far above the training faces' own (a different near-minimum, not the faces)
L_train = float(obj(X, A)["L_stat"].detach())
assert FAST or all(r["L_stat"] > 5 * L_train for r in span.values()), (L_train, span)

# %% [markdown]
# **Reading.** The two rules fail in opposite ways. Weight decay reaches a KKT point (the training
# faces satisfy the conditions almost exactly) and its first layer holds every face, most of it in
# weak directions. But the conditions have other near-minima in that same small space: L-BFGS,
# searching only there, ends from noise on images no closer to the faces than fresh faces are, and
# from a start 40 % of the way to the faces it moves toward them but stops short — each time at a
# stationarity loss more than ten times the faces' own. Seeing the faces is not the limit; finding the
# lowest of many shallow minima is. Haim et al.'s rule gives every training face a strong
# direction of its own and nothing else: the faces are all there in W₁. But that net is far from
# a KKT point, and its stationarity loss is no lower at the training faces than at blends of them,
# so the conditions do not single the faces out. On MNIST with ten digit logits the same two rules
# give ten training digits back (notebook 05c), and there the training images are also the
# sparsest non-negative vectors of the span, which a linear program finds; faces have no such
# simple shape. With five attributes, neither rule has given the faces back here (FINDINGS.md,
# "Faces", lists the runs: fewer faces, restarts, the known multipliers, the sigmoid derivative,
# the search in the span).

# %% [markdown]
# ## 8. Four faces: where the faces come back
#
# The figure above says when weight decay can work: its first layer keeps only a handful of strong
# directions (about four when it is trained on four to eight faces), so with four training faces
# (28 of the 32 combinations held out) every face lies in its strong directions. `FaceConfig.recovery()`
# (`gbc-teach faces --profile recovery`) trains the same weight-decay MLP on four faces, starts
# the particles from noise images (uniform in [0, 0.9]: mid-grey on average) with a small step,
# and judges each method twice: as drawn, and by the part of its images that W₁ sees
# (`kkt.seen_part`, the projection on W₁'s row space). The rest of an image is invisible to the
# classifier: whatever is there is left over from the start, and no condition on θ can fix it.
# A third run, `gbc_warm`, starts GBC's generator on the particles' answer (section 9).

# %%
rec = faces.run_faces(SEED, FaceConfig.recovery(fast=FAST))
mr = rec["metrics"]
rx, ra = rec["train"]
shown = {k: (x, combination_index(a)) for k, (x, a) in rec["samples"].items()
         if k in ("particles", "particles_seen", "gbc_seen", "gbc_warm_seen")}
nearest_faces(rx, combination_index(ra), shown);
display(Markdown(faces_report.markdown_table(
    mr, rows=("gbc", "gbc_seen", "gbc_warm", "gbc_warm_seen", "particles", "particles_seen",
              "naive", "real"))))
ps = mr["particles_seen"]
display(Markdown(
    f"Classifier: {len(rx)} faces, stationarity residual {mr['classifier']['residual_wd']:.4f}, "
    f"first layer: {mr['classifier']['first_layer']['rank']} directions above 10⁻³, the faces' "
    f"share outside them {mr['classifier']['first_layer']['outside_mean']:.5f}. Particles as "
    f"seen by W₁: L_stat {ps['L_stat']:.5f} (the training faces: "
    f"{mr['classifier']['L_stat_of_train_images']:.6f}), SSIM recovery share "
    f"{ps['ssim_recovery_share']:.2f}, mean best SSIM {ps['ssim_recovery_mean']:.3f} against "
    f"{ps['ssim_reference_mean']:.3f} for the best fresh face of the same combination."))

# %%
# measured (full, seed 0): particles as seen by W₁ recover every face; as drawn, they do not
assert FAST or ps["ssim_recovery_share"] >= 0.75, ps["ssim_recovery_share"]
assert FAST or ps["ssim_recovery_mean"] > mr["particles"]["ssim_recovery_mean"]

# %% [markdown]
# **Reading.** With four faces the conditions do pin the training faces — but only the part of
# them the classifier sees. The particles, from noise, satisfy the conditions closely; drawn as
# they are they still carry the noise they started with in every direction W₁ ignores, and
# projected on W₁'s row space they are the training faces. The price is the setting: four faces,
# five attributes, a classifier that has learned little about the attributes beyond its four
# examples. With more faces than strong directions (eight already), part of each face lies in
# the weak directions, where the search of section 7 does not pin it, and the recovery is partial. GBC's generator, whose samples share one
# network and a noise input, needs one more piece of the conditions to get there (section 9).

# %% [markdown]
# ## 9. The scale that weight decay fixes
#
# The closed-form α (the best scale of v against θ) makes L_stat a statement about directions
# only: 1 − cos²(θ, v). Weight decay says more. At its stationary point
# wd·θ = (1/n) Σ_i Σ_a σ(−q_ia) ∇_θ q_ia, so for p uniform over the training faces θ = v/wd:
# the scale is known, α = 1/wd. Without it the generator has a resting place that the particles
# mostly miss: dim blends of the training faces, with small margins, hence multipliers σ(−q)
# far too large, whose v points nearly the right way at an α hundreds of times below 1/wd.
# (One reason: near a black image the first layer's bias dominates, the network is almost linear
# in x, and a linear map cannot tell one mixture of the faces from another.) The recovery
# profile adds the scale back as a penalty,
#
#     L_scale = (log ‖v‖ − log(wd·‖θ‖))²,   L = L_stat + γ·L_scale,  γ = 10⁻²
#
# (`GBCObjective(scale_target=1/wd, scale_weight=γ)`; the particles use the same objective),
# and GBC takes small constant steps (3·10⁻⁴). A run that still ends far from 1/wd (L_scale > 4)
# starts once more from noise images — the particles' start, from which α climbs toward 1/wd — and
# the run with the lower loss is kept (`restart_start='noise'`; metrics.json `gbc.restarts`).
# Below: the closed-form α of the kept run's batches while it trains, against 1/wd.

# %%
hg, gs = rec["history"]["gbc"], mr["gbc_seen"]
fig, ax = plt.subplots(1, 2, figsize=(9, 3))
# from the second logged step: at the first, ⟨θ, v⟩ < 0 and the closed form is clamped to ~0
ax[0].semilogy(hg["step"][1:], hg["alpha"][1:], label="closed-form α of GBC's batch")
ax[0].axhline(1 / rec["cfg"].wd, color="k", ls=":", label="1/wd: the training faces' α")
ax[0].set_xlabel("GBC step")
ax[0].legend()
ax[1].semilogy(hg["step"], hg["L_stat"], label="L_stat")
ax[1].semilogy(hg["step"], hg["L_scale"], label="L_scale")
ax[1].set_xlabel("GBC step")
ax[1].legend()
plt.tight_layout()
plt.show()
display(Markdown(
    f"GBC from its own start: α {hg['alpha'][1]:.3g} at step {hg['step'][1]}, "
    f"{hg['alpha'][-1]:.3g} at the last (1/wd = {1 / rec['cfg'].wd:.0f}); L_stat "
    f"{hg['L_stat'][-1]:.3f}. As seen by W₁: SSIM recovery share "
    f"{gs['ssim_recovery_share']:.2f}, mean best SSIM {gs['ssim_recovery_mean']:.3f} against "
    f"{gs['ssim_reference_mean']:.3f} for the best fresh face, L2 share "
    f"{gs['l2_recovery_share']:.2f}, evaluator {gs['evaluator_accuracy']:.3f}; the naive "
    f"baseline: mean best SSIM {mr['naive']['ssim_recovery_mean']:.3f}."))

# %%
# measured (full, seed 0): α climbs towards 1/wd and GBC's seen part beats the fresh faces
assert FAST or hg["alpha"][-1] > 30 * hg["alpha"][1], (hg["alpha"][1], hg["alpha"][-1])
assert FAST or gs["ssim_recovery_share"] >= 0.75, gs["ssim_recovery_share"]
assert FAST or gs["ssim_recovery_mean"] > gs["ssim_reference_mean"], gs["ssim_recovery_mean"]

# %% [markdown]
# ## 10. GBC started where the particles ended
#
# The toy of notebook 01 had the same trouble — a generator whose own steps miss the support
# vectors that a simpler search finds — and the same cure: start the generator on that search's
# answer, then let the GBC losses move it with a small step, and end on the lowest loss seen.
# Here `faces_nets.fit_generator` fits G(z, a, 0) to the particle of each combination for every
# z (least squares), and GBC then runs at a step of 10⁻⁵ with `keep_best`. Nothing but θ is used:
# the particles were read off the classifier too. The generator can only be as good as its start
# on the faces' part that W₁ sees; what the GBC steps add is a lower L_stat (the conditions of
# the generator's own samples).

# %%
w, ws = mr["gbc_warm"], mr["gbc_warm_seen"]
hw = rec["history"]["gbc_warm"]
plt.figure(figsize=(5, 3))
plt.semilogy(hw["step"], hw["L_stat"], label="GBC from the particles' answer")
plt.axvline(w["kept_step"], color="k", ls=":", label=f"kept: step {w['kept_step']}")
plt.xlabel("GBC step")
plt.ylabel("L_stat")
plt.legend()
plt.tight_layout()
plt.show()
display(Markdown(
    f"GBC from the particles' answer: L_stat {hw['L_stat'][0]:.3f} at its fitted start, "
    f"{w['final_losses']['L_stat']:.4f} at the kept step {w['kept_step']}; as seen by W₁, SSIM "
    f"recovery share {ws['ssim_recovery_share']:.2f} (mean best SSIM "
    f"{ws['ssim_recovery_mean']:.3f}), L2 share {ws['l2_recovery_share']:.2f}, evaluator "
    f"{ws['evaluator_accuracy']:.3f}; GBC from its own start as seen: "
    f"{mr['gbc_seen']['ssim_recovery_share']:.2f} ({mr['gbc_seen']['ssim_recovery_mean']:.3f})."))

# %%
# measured (full, seed 0): from the particles' answer GBC lowers L_stat and keeps every face
assert FAST or ws["ssim_recovery_share"] >= 0.75, ws["ssim_recovery_share"]
assert FAST or w["final_losses"]["L_stat"] < hw["L_stat"][0]

