"""When does a classifier give its training images back? (notebook 05b; `gbc-teach recovery-map`)

A classifier trained with weight decay sits, at its stationary point, exactly in the KKT form

    θ = Σ_i Σ_{j≠y_i} μ_ij ∇_θ(f_{y_i} − f_j)(x_i),   μ_ij = p_ij / (n·wd),

so its parameters are a known, non-negative combination of per-image gradients. `wd_diagnostics`
measures how close a trained net is to that form (and to its per-image and per-pair KKT fits);
`recovery_map` trains such classifiers on n = 10, 20, ... images and asks GBC and free
particles for the images back, scoring each run with the calibrated recovery share.
"""

from __future__ import annotations

import time
from dataclasses import asdict, replace

import numpy as np

from .kkt import kkt_fit, wd_multipliers
from .training import wd_residual


def wd_diagnostics(model, X, y, wd: float, chunk: int = 8) -> dict:
    """The weight-decay stationarity residual and the KKT fits per image and per pair.

    residual_wd = ‖∇L + wd·θ‖/‖wd·θ‖ is also the KKT residual with the *predicted* multipliers
    μ_ij = p_ij/(n·wd); NNLS fits its own μ ≥ 0 with one constraint per image (q = f_y − max f_j)
    or per (image, wrong class) pair; mu_correlation compares the fitted per-image μ with the
    predicted ones (summed over wrong classes).
    """
    per_image = kkt_fit(model, X, y, pairs=False, chunk=chunk)
    pairs = kkt_fit(model, X, y, pairs=True, chunk=chunk)
    mu_pred = wd_multipliers(model, X, y, wd).view(len(y), -1).sum(1)
    corr = float(np.corrcoef(pairs.mu.double().numpy(), mu_pred.numpy())[0, 1])
    return {"wd": wd, "residual_wd": wd_residual(model, X, y, wd),
            "kkt_residual_per_image": per_image.residual, "kkt_residual_pairs": pairs.residual,
            "mu_correlation": corr if np.isfinite(corr) else None}


def recovery_point(n_per_class: int, seed: int = 0, cfg=None, data_dir=None,
                   progress: bool = False) -> dict:
    """One point of the map: `run_mnist` at n_per_class images a class, the recovery profile
    unless cfg is given (n_codes follows n_per_class); returns the metrics of every method."""
    from .mnist import MnistConfig, run_mnist

    cfg = cfg or MnistConfig.recovery()
    cfg = replace(cfg, n_per_class=n_per_class, n_codes=max(cfg.n_codes, n_per_class))
    return run_mnist(seed, cfg, progress=progress, data_dir=data_dir)["metrics"]


def recovery_map(ns=(1, 2, 5, 10), seed: int = 0, cfg=None, data_dir=None,
                 progress: bool = False, on_point=None) -> dict:
    """Recovery share against the training-set size for GBC and particles, with each
    classifier's KKT residuals. on_point(n, metrics) is called after each point (to save)."""
    from .mnist import MnistConfig

    t0 = time.perf_counter()
    cfg = cfg or MnistConfig.recovery()
    rows = []
    for n in ns:
        m = recovery_point(n, seed, cfg, data_dir, progress)
        row = {"n_per_class": n, "n_train": 10 * n, "classifier": {
            k: m["classifier"].get(k) for k in ("test_accuracy", "train_accuracy", "kkt_residual",
                                                "residual_wd", "kkt_residual_per_image",
                                                "kkt_residual_pairs", "mu_correlation")}}
        for method in ("gbc", "particles", "naive", "real"):
            if method in m:
                row[method] = {k: m[method].get(k) for k in (
                    "ssim_recovery_share", "l2_recovery_share", "ssim_recovery_mean",
                    "ssim_reference_mean", "evaluator_accuracy", "second_evaluator_accuracy",
                    "tstr_accuracy", "frechet", "diversity")}
        rows.append(row)
        if on_point is not None:
            on_point(n, m)
    return {"seed": seed, "config": asdict(cfg), "ns": list(ns), "rows": rows,
            "seconds": time.perf_counter() - t0}


def plot_recovery_map(result: dict, ax=None):
    """Recovery share (SSIM, solid; L2, dashed) against n for GBC and particles, the fresh
    real pool as the 0.5 line, and the classifier's weight-decay residual on a twin axis."""
    import matplotlib.pyplot as plt

    fig, ax = (plt.subplots(figsize=(6.5, 3.8)) if ax is None else (ax.figure, ax))
    n = [r["n_train"] for r in result["rows"]]
    for method, color in (("gbc", "C0"), ("particles", "C1")):
        if all(method in r for r in result["rows"]):
            ax.plot(n, [r[method]["ssim_recovery_share"] for r in result["rows"]], "o-",
                    color=color, label=f"{method} (SSIM)")
            ax.plot(n, [r[method]["l2_recovery_share"] for r in result["rows"]], "s--",
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
