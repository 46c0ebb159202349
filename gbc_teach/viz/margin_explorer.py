"""The margin explorer: one training point's margin q_i, multiplier μ_i and support-vector status,
on the decision regions of a trained toy classifier, over training checkpoints and classifiers.

docs/method.md §4: at a KKT point of the max-margin problem μ_i > 0 only where q_i = q_min
(complementary slackness); the explorer lets one follow a single point while training pushes the
classifier towards such a point. Checkpoints are kept by `snapshot_callback` (a state_dict copy
every few logged steps of `train_classifier`), their KKT fits by `checkpoint_fits`, and
`plot_margin_point` draws one (classifier, checkpoint, point) — a pure function that
`widgets.interactive_or_static` wraps in the notebooks.
"""

from __future__ import annotations

import copy

import matplotlib.pyplot as plt
import numpy as np
import torch
from torch import nn

from ..kkt import KKTResult, kkt_fit
from .plots import class_color, plot_landscape, plot_toy

HIGHLIGHT = "#d62728"  # the chosen point's ring and its marker on the right panel


def snapshot_callback(every: int = 1, callback=None):
    """A train_classifier callback that keeps a state_dict copy at every `every`-th logged step
    (the first one included), then calls `callback(step, model)` if given.

    Returns (snapshots, callback); snapshots is a list of (step, state_dict) that grows in place.
    Add the final state after training (`snapshots.append((steps, model.state_dict()))`) when the
    last logged step does not fall on the stride.
    """
    snapshots: list[tuple[int, dict]] = []
    calls = [0]

    def cb(step, m):
        if calls[0] % every == 0:
            snapshots.append((int(step), copy.deepcopy(m.state_dict())))
        calls[0] += 1
        if callback is not None:
            callback(step, m)

    return snapshots, cb


def checkpoint_fits(model: nn.Module, snapshots, X: torch.Tensor, y: torch.Tensor,
                    Pi: torch.Tensor | None = None) -> list[dict]:
    """For each (step, state_dict): {'step', 'model' (a copy holding that state), 'fit' (kkt_fit)}."""
    out = []
    for step, state in snapshots:
        m = copy.deepcopy(model)
        m.load_state_dict(state)
        out.append({"step": int(step), "model": m, "fit": kkt_fit(m, X, y, Pi)})
    return out


def point_summary(fit: KKTResult, y, index: int) -> dict:
    """The numbers the explorer shows for point `index`: class, q, q/q_min (None when q_min ≤ 0:
    the data are not yet separated), μ, μ/max μ and whether it is a support vector."""
    q = float(fit.q[index])
    mu = float(fit.mu[index])
    mu_max = float(fit.mu.max())
    return {"index": int(index), "label": int(torch.as_tensor(y)[index]), "q": q,
            "q_ratio": q / fit.q_min if fit.q_min > 0 else None, "mu": mu,
            "mu_ratio": mu / mu_max if mu_max > 0 else 0.0, "support": bool(fit.support[index])}


def point_title(s: dict) -> str:
    ratio = f" = {s['q_ratio']:.3f} q_min" if s["q_ratio"] is not None else " (q_min ≤ 0: not separated)"
    sv = "a support vector" if s["support"] else "not a support vector"
    return (f"point {s['index']} (class {s['label']}): q = {s['q']:.4g}{ratio}, "
            f"μ = {s['mu']:.3g} ({s['mu_ratio']:.2f} max μ), {sv}")


def plot_margin_point(model: nn.Module, X, y, fit: KKTResult, index: int, step: int | None = None,
                      name: str = "", box: float = 2.2, resolution: int = 120):
    """Two panels for training point `index`: the decision regions and the q = q_min contours of
    `model` with every point (area ∝ μ, support vectors ringed) and the chosen one ringed in red |
    μ_i / max μ against q_i / q_min for all points, the chosen one in red. The figure's title holds
    its q, μ and support-vector status (point_title)."""
    X_np = np.asarray(torch.as_tensor(X).detach().cpu(), dtype=float)
    y_t = torch.as_tensor(y)
    s = point_summary(fit, y_t, index)
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.6), gridspec_kw={"width_ratios": [1, 1.15]})
    ax = axes[0]
    plot_landscape(model, box, ax=ax, resolution=resolution,
                   q_min=fit.q_min if fit.q_min > 0 else None)
    plot_toy(X_np, y_t, ax=ax, support=fit.support, mu=fit.mu)
    ax.scatter([X_np[index, 0]], [X_np[index, 1]], s=420, facecolors="none", edgecolors=HIGHLIGHT,
               linewidths=2.5, zorder=5, label=f"point {index}")
    where = f"{name}, " if name else ""
    when = f"step {step}" if step is not None else "trained"
    ax.set_title(f"{where}{when}: KKT residual {fit.residual:.3f}, {fit.n_support} SVs", fontsize=10)
    ax = axes[1]
    q = fit.q.double()
    mu = fit.mu.double()
    q_scale = fit.q_min if fit.q_min > 0 else 1.0
    mu_scale = max(float(mu.max()), 1e-30)
    for c in torch.unique(y_t).tolist():
        m = y_t == c
        ax.scatter((q[m] / q_scale).numpy(), (mu[m] / mu_scale).numpy(), s=30, color=class_color(c))
    ax.scatter([float(q[index]) / q_scale], [float(mu[index]) / mu_scale], s=200, facecolors="none",
               edgecolors=HIGHLIGHT, linewidths=2.5, zorder=5)
    if fit.q_min > 0:
        ax.axvline(1.0, color="k", lw=0.8, ls=":")
        ax.set_xlabel("q_i / q_min")
    else:
        ax.set_xlabel("q_i (q_min ≤ 0: not separated yet)")
    ax.set_ylabel("μ_i / max μ")
    ax.set_title("complementary slackness: μ_i > 0 only at q_i = q_min", fontsize=10)
    fig.suptitle(point_title(s), fontsize=11, color=HIGHLIGHT if s["support"] else "black")
    fig.tight_layout()
    return fig


def explore_margins(runs: dict, X, y, index: int = 0, classifier: str | None = None,
                    checkpoint: int = -1, box: float = 2.2, resolution: int = 120):
    """plot_margin_point for runs[classifier][checkpoint] (runs: {name: checkpoint_fits(...)});
    checkpoint is clamped to the run's length, −1 is its last. The widget's function."""
    name = classifier if classifier is not None else next(iter(runs))
    cps = runs[name]
    k = checkpoint if checkpoint < 0 else min(checkpoint, len(cps) - 1)
    cp = cps[k]
    return plot_margin_point(cp["model"], X, y, cp["fit"], index, step=cp["step"], name=name,
                             box=box, resolution=resolution)
