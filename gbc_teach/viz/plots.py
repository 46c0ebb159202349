"""Figures for the notebooks: the toy, the classifier's landscape, samples, histories, images.

The 2-D panel follows the paper's toy figure (docs/method.md §7–8; notebook 01): data, decision
regions and support vectors | GBC samples | naive samples. Every function takes `ax=None`
(a new figure when missing), returns the figure and never calls plt.show(). Class c is
always drawn in tab10 colour c.
"""

from __future__ import annotations

import copy
import math

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.colors import ListedColormap
from matplotlib.lines import Line2D
from matplotlib.patches import Circle, Patch

from ..evaluation import points as _metrics
from ..margins import q as margin


def class_color(c: int):
    """The colour of class c (tab10, cycling after 10)."""
    return plt.get_cmap("tab10")(int(c) % 10)


def _np(a) -> np.ndarray:
    return a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)


def _axes(ax, figsize=(4.5, 4.5)):
    if ax is None:
        fig, ax = plt.subplots(figsize=figsize)
    return ax.figure, ax


def plot_toy(X, y, ax=None, support=None, mu=None):
    """Training points by class; support vectors ringed in black; marker area ∝ μ if given."""
    fig, ax = _axes(ax)
    X, y = _np(X), _np(y).astype(int)
    if mu is not None:
        mu = _np(mu).astype(float)
        sizes = 20 + 280 * mu / max(mu.max(), 1e-30)  # area ∝ μ, a floor so μ = 0 stays visible
    else:
        sizes = np.full(len(X), 40.0)
    for c in np.unique(y):
        m = y == c
        ax.scatter(X[m, 0], X[m, 1], s=sizes[m], color=class_color(c), edgecolors="white",
                   linewidths=0.5, label=f"class {c}", zorder=3)
    if support is not None:
        sv = _np(support).astype(bool)
        ax.scatter(X[sv, 0], X[sv, 1], s=sizes[sv] + 60, facecolors="none", edgecolors="black",
                   linewidths=1.2, label="support vectors", zorder=4)
    ax.set_aspect("equal")
    return fig


@torch.no_grad()
def plot_landscape(model, box: float, ax=None, resolution: int = 200, q_min: float | None = None):
    """Decision regions of a 2-D classifier on [−box, box]² and its margin level lines.

    Solid: the decision boundary, where some class margin d_c = f_c − max_{j≠c} f_j is 0.
    Dashed, in class c's colour: d_c = q_min, the margin the support vectors sit on (a few
    levels of d_c when q_min is not given).
    The classifier is evaluated on a copy without gradients, so it is left untouched.
    """
    fig, ax = _axes(ax)
    model = copy.deepcopy(model)  # a train-mode batch norm would otherwise update its stats
    p = next(model.parameters(), None)
    dtype, device = (p.dtype, p.device) if p is not None else (torch.float32, "cpu")
    g = torch.linspace(-box, box, resolution, dtype=dtype, device=device)
    gx, gy = torch.meshgrid(g, g, indexing="xy")
    grid = torch.stack([gx.flatten(), gy.flatten()], 1)  # (R², 2)
    logits = model(grid)
    if logits.shape[1] == 1:  # binary, one logit: classes {0, 1} ↔ labels {−1, +1}
        pred = (logits[:, 0] > 0).long()
        # signed margins of the two labels: q(x, +1) = f, q(x, −1) = −f
        d = torch.stack([-logits[:, 0], logits[:, 0]], 1)
    else:
        pred = logits.argmax(1)
        # signed margin of every class c: d_c = f_c − max_{j≠c} f_j, (R², C)
        d = torch.stack([margin(logits, torch.full_like(pred, c))
                         for c in range(logits.shape[1])], 1)
    C = d.shape[1]
    pred = _np(pred).reshape(resolution, resolution)
    d = _np(d).reshape(resolution, resolution, C)
    G = _np(g)
    cmap = ListedColormap([class_color(c) for c in range(C)])
    ax.contourf(G, G, pred, levels=np.arange(C + 1) - 0.5, cmap=cmap, alpha=0.18)
    top = float(d.max())
    if q_min is not None and 0 < q_min < top:
        levels = [q_min]
    else:  # no margin given: a few level lines show the shape of the margin
        levels = list(np.linspace(0, top, 5)[1:-1]) if top > 0 else []
    for c in range(C):
        dc = d[..., c]
        if dc.min() < 0 < dc.max():  # d_c = 0: the boundary of class c's region
            ax.contour(G, G, dc, levels=[0.0], colors="k", linewidths=1.2)
        lv = [v for v in levels if dc.min() < v < dc.max()]
        if lv:
            ax.contour(G, G, dc, levels=lv, colors=[class_color(c)], linewidths=0.9,
                       linestyles="--")
    ax.set_xlim(-box, box)
    ax.set_ylim(-box, box)
    ax.set_aspect("equal")
    return fig


# how generated samples are drawn: small translucent dots (GBC), or, for a set that piles up
# on a few spots (the naive baseline), a larger black-edged cross that shows on a training point
SAMPLE_STYLE = {"marker": "o", "s": 12, "alpha": 0.5, "linewidths": 0}
PILED_SAMPLE_STYLE = {"marker": "X", "s": 60, "alpha": 0.9, "edgecolors": "black",
                      "linewidths": 0.7}


def plot_samples(samples, labels, X, y, ax=None, r: float | None = None, support=None,
                 style: dict | None = None):
    """Generated samples over the training points, in their class colour; circles of radius r.

    Samples are drawn above the training points (a sample sitting on a point stays visible);
    style: scatter keywords for the samples (default SAMPLE_STYLE). support: ring the support
    vectors in black, as plot_toy does.
    """
    fig, ax = _axes(ax)
    S, ls, X, y = _np(samples), _np(labels).astype(int), _np(X), _np(y).astype(int)
    style = SAMPLE_STYLE if style is None else style
    for c in np.unique(ls):
        m = ls == c
        ax.scatter(S[m, 0], S[m, 1], color=class_color(c), zorder=5, **style)
    for c in np.unique(y):
        m = y == c
        ax.scatter(X[m, 0], X[m, 1], s=40, color=class_color(c), edgecolors="black",
                   linewidths=0.8, zorder=3)
    if support is not None:
        sv = _np(support).astype(bool)
        ax.scatter(X[sv, 0], X[sv, 1], s=100, facecolors="none", edgecolors="black",
                   linewidths=1.2, zorder=4)
    if r is not None:
        for (a, b), c in zip(X, y):
            ax.add_patch(Circle((a, b), r, fill=False, edgecolor=class_color(c), linewidth=0.8,
                                zorder=3))
    ax.set_aspect("equal")
    return fig


def _annotate_piles(ax, samples, labels, r: float) -> None:
    """Write how many samples sit on one spot, for every class whose samples all lie within r/4
    of their mean (collapsed generators: one marker would otherwise stand for hundreds)."""
    S, ls = _np(samples), _np(labels).astype(int)
    for c in np.unique(ls):
        pts = S[ls == c]
        centre = pts.mean(0)
        if len(pts) > 1 and np.linalg.norm(pts - centre, axis=1).max() <= r / 4:
            ax.annotate(f"all {len(pts)} of class {c}", centre, xytext=(8, -14),
                        textcoords="offset points", fontsize=8, zorder=6,
                        bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "0.6", "alpha": 0.85})


def toy_legend_handles(classes, r: float) -> list:
    """Legend entries of plot_toy_panel: what every mark of the three panels means."""
    none = {"linestyle": "none"}
    handles = [Line2D([], [], marker="o", markersize=7, color=class_color(c), markeredgecolor="black",
                      markeredgewidth=0.8, label=f"training point, class {c}", **none)
               for c in classes]
    grey = "0.45"
    handles += [
        Line2D([], [], marker="o", markersize=10, markerfacecolor="none", markeredgecolor="black",
               markeredgewidth=1.2, label="support vector (KKT multiplier μ > 1% of max μ)", **none),
        Line2D([], [], marker="o", markersize=4, color=grey, alpha=0.6,
               label="GBC sample (colour: the class it is drawn for)", **none),
        Line2D([], [], marker="X", markersize=8, color=grey, markeredgecolor="black",
               markeredgewidth=0.7, label="naive sample (colour: the class it is drawn for)", **none),
        Line2D([], [], marker="o", markersize=16, markerfacecolor="none", markeredgecolor=grey,
               label=f"circle of radius r = {r:.2f} (0.1 × data diameter) around each training point",
               **none),
        Line2D([], [], color="black", linewidth=1.2, label="decision boundary"),
        Line2D([], [], color=grey, linewidth=0.9, linestyle="--",
               label="margin q = q_min of the class (the support vectors lie on it)"),
        Patch(facecolor=grey, alpha=0.25, label="region a class is predicted (its colour)"),
    ]
    return handles


def _scores(samples, labels, X, y, support, r):
    return {"recall": _metrics.sv_recall(samples, labels, X, y, support, r),
            "precision": _metrics.precision(samples, labels, X, y, r)}


def plot_toy_panel(model, X, y, support, gbc_samples, naive_samples, metrics=None,
                   box: float | None = None):
    """The paper's 2-D figure: (data + landscape + SVs) | GBC samples | naive samples.

    gbc_samples, naive_samples: (samples, labels) pairs. metrics: {"gbc": {"recall": ...,
    "precision": ...}, "naive": {...}}; computed with r = 0.1 × diameter when missing.
    Below the panels, a legend names every mark and a note defines recall and precision; a
    class whose samples all sit on one spot (the naive baseline's usual collapse) is labelled
    with their number.
    """
    X_t = torch.as_tensor(_np(X))
    y_t = torch.as_tensor(_np(y))
    sup = torch.as_tensor(_np(support)).bool()
    r = _metrics.radius(X_t)
    if metrics is None:
        metrics = {name: _scores(torch.as_tensor(_np(s)), torch.as_tensor(_np(ls)), X_t, y_t,
                                 sup, r)
                   for name, (s, ls) in (("gbc", gbc_samples), ("naive", naive_samples))}
    if box is None:  # the data and every sample, with room to spare
        extent = [np.abs(_np(X)).max()] + [np.abs(_np(s)).max() for s, _ in
                                           (gbc_samples, naive_samples) if len(s)]
        box = 1.1 * max(extent)
    p = next(model.parameters(), None)
    with torch.no_grad():
        logits = copy.deepcopy(model)(X_t.to(p.dtype if p is not None else torch.float32))
        q_min = float(margin(logits, y_t).min())
    fig, axes = plt.subplots(1, 3, figsize=(13.5, 6.2), sharex=True, sharey=True)
    plot_landscape(model, box, ax=axes[0], q_min=q_min)
    plot_toy(X, y, ax=axes[0], support=support)
    axes[0].set_title(f"data, classifier, {int(sup.sum())} support vectors")
    for ax, name, (s, ls) in zip(axes[1:], ("GBC", "naive"), (gbc_samples, naive_samples)):
        plot_landscape(model, box, ax=ax, resolution=100, q_min=q_min)
        plot_samples(s, ls, X, y, ax=ax, r=r, support=sup,
                     style=SAMPLE_STYLE if name == "GBC" else PILED_SAMPLE_STYLE)
        _annotate_piles(ax, s, ls, r)
        m = metrics.get(name.lower(), {})
        scores = ", ".join(f"{k} {v:.2f}" for k, v in m.items())
        ax.set_title(f"{name} samples" + (f": {scores}" if scores else ""))
    for ax in axes:
        ax.set_xlim(-box, box)
        ax.set_ylim(-box, box)
    fig.tight_layout(rect=(0, 0.22, 1, 1))
    top = min(ax.get_position().y0 for ax in axes) - 0.05  # below the tick labels
    fig.legend(handles=toy_legend_handles(np.unique(_np(y)), r), loc="upper left",
               bbox_to_anchor=(0.01, top), ncol=2, fontsize=9, frameon=False)
    fig.text(0.99, top - 0.01, "recall: share of support vectors with a sample\nof their class within r\n\n"
             "precision: share of samples within r\nof a training point of their class",
             ha="right", va="top", multialignment="left", fontsize=9)
    return fig


def plot_history(hist: dict, keys, ax=None, logy: bool = True):
    """hist[key] against hist['step'] for each key; log scale (symlog if a value is ≤ 0)."""
    fig, ax = _axes(ax, figsize=(5.5, 3.5))
    keys = [keys] if isinstance(keys, str) else list(keys)
    missing = [k for k in keys if k not in hist]
    if missing:
        raise KeyError(f"history has no {missing}; it has {sorted(hist)}")
    steps = hist.get("step")
    all_pos = True
    for k in keys:
        v = np.asarray(hist[k], dtype=float)
        x = np.arange(len(v)) if steps is None else np.asarray(steps)[:len(v)]
        ax.plot(x, v, label=k)
        all_pos &= bool((v[np.isfinite(v)] > 0).all())
    if logy:
        ax.set_yscale("log" if all_pos else "symlog")
    ax.set_xlabel("step")
    ax.legend()
    return fig


def image_grid(images, labels=None, nrow: int | None = None, ax=None, pad: int = 1):
    """Images (N, 1, H, W) or (N, H, W) in [0, 1] as one mosaic; one row per class if labels.

    nrow: images per row (torchvision's convention); default √N, or every image of the
    largest class when labels are given.
    """
    imgs = _np(images).astype(float)
    if imgs.ndim == 4:
        if imgs.shape[1] != 1:
            raise ValueError(f"expected one channel, got shape {imgs.shape}")
        imgs = imgs[:, 0]
    if imgs.ndim != 3:
        raise ValueError(f"images must be (N, 1, H, W) or (N, H, W), got shape {imgs.shape}")
    N, H, W = imgs.shape
    if labels is not None:
        labels = _np(labels).astype(int)
        classes = np.unique(labels)
        rows = [imgs[labels == c] for c in classes]
        ncol = nrow or max(len(r) for r in rows)
        rows = [r[:ncol] for r in rows]
    else:
        ncol = nrow or max(1, math.ceil(math.sqrt(N)))
        rows = [imgs[i:i + ncol] for i in range(0, N, ncol)]
    mosaic = np.ones((len(rows) * (H + pad) + pad, ncol * (W + pad) + pad))  # white padding
    for i, row in enumerate(rows):
        for j, im in enumerate(row):
            top, left = pad + i * (H + pad), pad + j * (W + pad)
            mosaic[top:top + H, left:left + W] = im
    fig, ax = _axes(ax, figsize=(max(2.0, 0.5 * ncol), max(1.0, 0.5 * len(rows))))
    ax.imshow(mosaic, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    if labels is not None:
        ax.set_yticks([pad + i * (H + pad) + H / 2 for i in range(len(rows))])
        ax.set_yticklabels([str(c) for c in classes])
    else:
        ax.set_yticks([])
    return fig
