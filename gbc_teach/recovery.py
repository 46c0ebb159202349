"""When does a classifier give its training images back? (docs/method.md §10; notebook 05b;
`gbc-teach recovery-map`)

A classifier trained with weight decay sits, at its stationary point, exactly in the KKT form

    θ = Σ_i Σ_{j≠y_i} μ_ij ∇_θ(f_{y_i} − f_j)(x_i),   μ_ij = p_ij / (n·wd),

so its parameters are a known, non-negative combination of per-image gradients. `wd_diagnostics`
measures how close a trained net is to that form (and to its per-image and per-pair KKT fits);
`recovery_map` trains such classifiers on n = 10, 20, ... images and asks GBC and free
particles for the images back, scoring each run with the calibrated recovery share.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from .kkt import kkt_fit, wd_multipliers
from .training import wd_residual


def wd_diagnostics(model, X, y, wd: float, chunk: int = 8, pairs=None) -> dict:
    """The weight-decay stationarity residual and the KKT fits per image and per pair.

    residual_wd = ‖∇L + wd·θ‖/‖wd·θ‖ is also the KKT residual with the *predicted* multipliers
    μ_ij = p_ij/(n·wd); NNLS fits its own μ ≥ 0 with one constraint per image (q = f_y − max f_j)
    or per (image, wrong class) pair; mu_correlation compares the fitted per-image μ with the
    predicted ones (summed over wrong classes). pairs: the per-pair KKTResult if already fitted.
    """
    per_image = kkt_fit(model, X, y, pairs=False, chunk=chunk)
    pairs = pairs or kkt_fit(model, X, y, pairs=True, chunk=chunk)
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


def _point_row(n: int, m: dict) -> dict:
    """The numbers of one run that the map keeps."""
    row = {"n_per_class": n, "n_train": 10 * n, "seconds": m["seconds"], "classifier": {
        k: m["classifier"].get(k) for k in ("architecture", "test_accuracy", "train_accuracy",
                                            "kkt_residual", "residual_wd",
                                            "kkt_residual_per_image", "kkt_residual_pairs",
                                            "mu_correlation", "L_stat_of_train_images")}}
    for method in ("gbc", "particles", "naive", "bnstat", "real", "train_images"):
        if method in m:
            row[method] = {k: m[method].get(k) for k in (
                "n", "ssim_recovery_share", "l2_recovery_share", "ssim_recovery_mean",
                "ssim_reference_mean", "evaluator_accuracy", "second_evaluator_accuracy",
                "tstr_accuracy", "frechet", "diversity")}
            if "final_losses" in m[method]:  # where the optimizer stopped, beside the training set
                row[method]["final_L_stat"] = m[method]["final_losses"].get("L_stat")
    return row


def recovery_map(ns=(1, 2, 5, 10), seed: int = 0, cfg=None, data_dir=None,
                 progress: bool = False, cache: str | os.PathLike | None = None) -> dict:
    """Recovery share against the training-set size (n_per_class in ns) for GBC and particles,
    with each classifier's KKT residuals.

    cache: a folder where each finished point is saved (atomically) under a key of its config,
    seed and data; a rerun after a crash or a kill picks up where it stopped.
    """
    from .data import find_mnist_dir
    from .mnist import MnistConfig
    from .utils import atomic_write_json

    t0 = time.perf_counter()
    folder = find_mnist_dir(data_dir)  # the key names the data actually read
    cfg = cfg or MnistConfig.recovery()
    rows = []
    for n in tqdm(ns, desc="recovery map", disable=not progress):
        path = None
        if cache is not None:
            key = json.dumps([asdict(cfg), n, seed, str(folder)], sort_keys=True, default=str)
            path = Path(cache) / f"point-{hashlib.sha256(key.encode()).hexdigest()[:16]}.json"
        if path is not None and path.is_file():
            try:
                rows.append(json.loads(path.read_text()))
                continue
            except (OSError, ValueError):  # an unreadable point is recomputed
                pass
        rows.append(_point_row(n, recovery_point(n, seed, cfg, data_dir, progress)))
        if path is not None:
            atomic_write_json(rows[-1], path)
    return {"seed": seed, "config": asdict(cfg), "ns": list(ns), "rows": rows,
            "seconds": time.perf_counter() - t0}


def map_markdown(result: dict) -> str:
    """One line a training-set size: the classifier's residuals, then each method's shares."""
    head = ("| n | test acc. | ‖∇L+wd·θ‖/‖wd·θ‖ | KKT per image | KKT pairs | method | "
            "SSIM share | L2 share | mean SSIM (real pool) | eval. | eval. 2 | TSTR |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]

    def f(v, d=3):
        return "—" if v is None else f"{v:.{d}f}"

    for r in result["rows"]:
        c = r["classifier"]
        for i, method in enumerate(m for m in ("gbc", "particles", "real") if m in r):
            g = r[method]
            left = (f"| {r['n_train']} | {f(c['test_accuracy'])} | {f(c['residual_wd'], 4)} | "
                    f"{f(c['kkt_residual_per_image'])} | {f(c['kkt_residual_pairs'])} |"
                    if i == 0 else "| | | | | |")
            lines.append(f"{left} {method} | {f(g['ssim_recovery_share'])} | "
                         f"{f(g['l2_recovery_share'])} | {f(g['ssim_recovery_mean'])} "
                         f"({f(g['ssim_reference_mean'])}) | {f(g['evaluator_accuracy'])} | "
                         f"{f(g.get('second_evaluator_accuracy'))} | {f(g.get('tstr_accuracy'))} |")
    return "\n".join(lines)


def _map_command(args) -> int:
    from .config_parse import apply_overrides
    from .data import find_mnist_dir
    from .mnist import MnistConfig
    from .runfolder import run_folder
    from .utils import atomic_savefig, atomic_write_json, cache_dir

    cfg = apply_overrides(MnistConfig.recovery(fast=args.fast), args.set)
    ns = [int(v) for v in args.ns.split(",")]
    if not ns or min(ns) < 1:
        raise ValueError(f"--ns {args.ns}: give training images a class as 1,2,5,...")
    data_dir = find_mnist_dir(args.data, "--data")
    with run_folder(args.out, args.command_line, {**asdict(cfg), "ns": ns}) as stage:
        res = recovery_map(ns, args.seed, cfg, data_dir, progress=not args.quiet,
                           cache=cache_dir() / "recovery-map")
        atomic_write_json(res, stage / "map.json")
        atomic_savefig(plot_recovery_map(res), stage / "map.png")
        (stage / "map.md").write_text(map_markdown(res) + "\n")
    print(map_markdown(res))
    print(f"seconds: {res['seconds']:.0f}; wrote {args.out}/: map.json, map.png, map.md, run.json")
    return 0


def add_recovery_command(subparsers, parents=()) -> None:
    """`gbc-teach recovery-map` (called by cli.build_parser)."""
    from .config_parse import add_run_arguments

    p = subparsers.add_parser("recovery-map", parents=list(parents),
                              help="MNIST: recovery share of GBC and particles against the "
                              "number of training images")
    add_run_arguments(p, "outputs/recovery-map", "MnistConfig")
    p.add_argument("--ns", default="1,2,5,10", help="training images a class, e.g. 1,2,5,10")
    p.add_argument("--fast", action="store_true", help="tiny CI profile")
    p.add_argument("--data", default=None, help="folder with MNIST IDX files (as for mnist)")
    p.set_defaults(fn=_map_command)


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
