"""Figures of training-image recovery (docs/method.md §8, §10; notebooks 05, 05b).

nearest_figure: training images above their most similar sample; recovery_figure: one column a
training image, one row a method; plot_recovery_map: recovery share against the training-set size.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..evaluation.images import nearest_same_class


def nearest_figure(train_x, train_y, x, y, per_class: int = 2, label: str = "GBC"):
    """Training images (top of each pair) above their most similar (SSIM) same-class sample;
    `label` names the candidate set (e.g. "real pool")."""
    ty = train_y.numpy()
    idx = np.concatenate([np.flatnonzero(ty == c)[:per_class] for c in np.unique(ty)])
    best = nearest_same_class(train_x, train_y, idx, x, y)
    tops = [train_x[i, 0].numpy() for i in idx if i in best]
    bots = [x[best[i][0], 0].numpy() for i in idx if i in best]
    labels = [f"{ty[i]}: {best[i][1]:.2f}" for i in idx if i in best]
    n = len(tops)
    fig, axes = plt.subplots(2, n, figsize=(0.75 * n, 1.9), squeeze=False)
    for j in range(n):
        for i, im in enumerate((tops[j], bots[j])):
            axes[i, j].imshow(im, cmap="gray", vmin=0, vmax=1)
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
        axes[1, j].set_xlabel(labels[j], fontsize=6)
    axes[0, 0].set_ylabel("train", fontsize=7)
    axes[1, 0].set_ylabel(f"nearest\n{label}", fontsize=7)
    fig.tight_layout(pad=0.2)
    return fig


def recovery_figure(train_x, train_y, samples: dict,
                    methods=("gbc", "particles", "rowspace", "naive"),
                    per_row: int = 10):
    """One column a training image (the first `per_row`, sorted by class): the image, then the
    most similar (SSIM) same-class sample of each method."""
    methods = [k for k in methods if k in samples]
    order = torch.argsort(train_y, stable=True)[:per_row]
    best = {name: nearest_same_class(train_x, train_y, order, *samples[name]) for name in methods}
    fig, axes = plt.subplots(1 + len(methods), len(order), squeeze=False,
                             figsize=(0.8 * len(order) + 1.2, 0.85 * (1 + len(methods)) + 0.3))
    for j, i in enumerate(order.tolist()):
        ims = [train_x[i, 0]]
        for name in methods:
            x = samples[name][0]
            ims.append(x[best[name][i][0], 0] if i in best[name] else torch.zeros_like(ims[0]))
        for r, im in enumerate(ims):
            axes[r, j].imshow(im.numpy(), cmap="gray", vmin=0, vmax=1)
            axes[r, j].set_xticks([])
            axes[r, j].set_yticks([])
    for r, label in enumerate(["training image", *methods]):
        axes[r, 0].set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    fig.subplots_adjust(left=0.13, right=0.99, top=0.99, bottom=0.01, wspace=0.05, hspace=0.05)
    return fig


def plot_recovery_map(result: dict, ax=None):
    """Recovery share (SSIM, solid; L2, dashed) against n for GBC, particles and the row-space
    reconstruction where the map has them, the fresh real pool as the 0.5 line, and the
    classifier's weight-decay residual on a twin axis."""
    fig, ax = (plt.subplots(figsize=(6.5, 3.8)) if ax is None else (ax.figure, ax))
    n = [r["n_train"] for r in result["rows"]]
    for method, color in (("gbc", "C0"), ("particles", "C1"), ("rowspace", "C2")):
        rows = [r for r in result["rows"] if method in r]  # rowspace: only where W₁ has a gap
        if rows:
            nm = [r["n_train"] for r in rows]
            ax.plot(nm, [r[method]["ssim_recovery_share"] for r in rows], "o-",
                    color=color, label=f"{method} (SSIM)")
            ax.plot(nm, [r[method]["l2_recovery_share"] for r in rows], "s--",
                    color=color, alpha=0.6, label=f"{method} (L2)")
    ax.axhline(0.5, color="gray", lw=0.8, ls=":", label="fresh real digits ≈ 0.5")
    ax.set_xscale("log")
    ax.set_xticks(n, [str(v) for v in n])
    ax.set_xlabel("training images n")
    ax.set_ylabel("recovery share")
    ax.set_ylim(-0.03, 1.03)
    res = [r["classifier"].get("residual_wd") for r in result["rows"]]
    if all(v is not None for v in res):
        ax2 = ax.twinx()
        ax2.plot(n, res, "k^:", alpha=0.5, label="classifier ‖∇L + wd·θ‖/‖wd·θ‖")
        ax2.set_ylabel("stationarity residual")
        ax2.set_yscale("log")
        ax2.legend(loc="center right", fontsize=8)
    ax.legend(loc="upper right", fontsize=8)
    ax.set_title("When does the classifier give its training images back?")
    return fig
