"""When does a classifier give its training images back? (docs/method.md §10; notebook 05b;
`gbc-teach recovery-map`)

A classifier trained with weight decay sits, at its stationary point, exactly in the KKT form

    θ = Σ_i Σ_{j≠y_i} μ_ij ∇_θ(f_{y_i} − f_j)(x_i),   μ_ij = p_ij / (n·wd),

so its parameters are a known, non-negative combination of per-image gradients
(`kkt.wd_diagnostics` measures how close a trained net is to that form). `recovery_map` trains
such classifiers on n = 10, 20, ... images and asks GBC and free particles for the images back,
scoring each run with the calibrated recovery share.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, replace
from pathlib import Path

from tqdm.auto import tqdm

from ..datasets.mnist import find_mnist_dir
from ..utils import atomic_savefig, atomic_write_json, cache_dir
from ..viz.recovery import plot_recovery_map
from .base import Experiment, Option
from .mnist import classifier, mnist_data, run_mnist
from .mnist_config import PROFILES, MnistConfig


def recovery_point(n_per_class: int, seed: int = 0, cfg=None, data_dir=None,
                   progress: bool = False) -> dict:
    """One point of the map: `run_mnist` at n_per_class images a class, the recovery profile
    unless cfg is given (at least one code a training image of a class); returns the metrics
    of every method."""
    cfg = replace(cfg or MnistConfig.recovery(), n_per_class=n_per_class)
    cfg = replace(cfg, n_codes=max(cfg.n_codes, cfg.images_per_class))
    return run_mnist(seed, cfg, progress=progress, data_dir=data_dir)["metrics"]


def _point_row(n: int, m: dict) -> dict:
    """The numbers of one run that the map keeps."""
    row = {"n_per_class": n, "n_train": 10 * n, "seconds": m["seconds"], "classifier": {
        k: m["classifier"].get(k) for k in ("architecture", "test_accuracy", "train_accuracy",
                                            "kkt_residual", "residual_wd",
                                            "kkt_residual_per_image", "kkt_residual_pairs",
                                            "mu_correlation", "L_stat_of_train_images",
                                            "kkt_mode", "first_layer")}}
    for method in ("gbc", "particles", "rowspace", "naive", "bnstat", "real", "train_images"):
        if method in m:
            row[method] = {k: m[method].get(k) for k in (
                "n", "ssim_recovery_share", "l2_recovery_share", "ssim_recovery_mean",
                "ssim_reference_mean", "evaluator_accuracy", "second_evaluator_accuracy",
                "tstr_accuracy", "frechet", "diversity", "code_diversity")}
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
    """One line a training-set size: the classifier's residuals, then each method's shares, and the
    training images themselves judged the same way (what a perfect recovery would score)."""
    head = ("| n | test acc. | ‖∇L+wd·θ‖/‖wd·θ‖ | KKT per image | KKT pairs | W₁ sees: dirs > 10⁻³ "
            "(outside); above the floor (outside) | method | SSIM share | L2 share "
            "| mean SSIM (real pool) | eval. | eval. 2 | TSTR | Fréchet |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]

    def f(v, d=3):
        return "—" if v is None else f"{v:.{d}f}"

    for r in result["rows"]:
        c = r["classifier"]
        fl = c.get("first_layer")  # W₁'s directions above 1e-3, the images' mean share outside
        sees = "—" if not fl else f"{fl['rank']} ({fl['outside_mean']:.3f})"
        if fl and "gap_rank" in fl:  # and above the spectrum's floor (kkt.gap_rank)
            sees += ("; no gap" if fl["gap_rank"] is None else
                     f"; {fl['gap_rank']} ({fl['outside_gap_mean']:.3f})")
        pairs = c.get("kkt_residual_pairs")  # rules without weight decay: the fit run_mnist made
        if pairs is None and "pairs" in str(c.get("kkt_mode")):
            pairs = c.get("kkt_residual")
        methods = ("gbc", "particles", "rowspace", "real", "train_images")
        for i, method in enumerate(m for m in methods if m in r):
            g = r[method]
            left = (f"| {r['n_train']} | {f(c['test_accuracy'])} | {f(c.get('residual_wd'), 4)} | "
                    f"{f(c.get('kkt_residual_per_image'))} | {f(pairs)} | "
                    f"{sees} |" if i == 0 else "| | | | | | |")
            lines.append(f"{left} {method} | {f(g['ssim_recovery_share'])} | "
                         f"{f(g['l2_recovery_share'])} | {f(g['ssim_recovery_mean'])} "
                         f"({f(g['ssim_reference_mean'])}) | {f(g['evaluator_accuracy'])} | "
                         f"{f(g.get('second_evaluator_accuracy'))} | {f(g.get('tstr_accuracy'))} | "
                         f"{f(g.get('frechet'), 1)} |")
    return "\n".join(lines)


# ------------------------------------------------------------------------------ the run folder
def run_map(seed: int, cfg: MnistConfig, progress: bool = False, data_dir=None,
            ns: str = "1,2,5,10") -> dict:
    """`gbc-teach recovery-map --ns 1,2,5,10`: the map, each point cached (resumable)."""
    sizes = [int(v) for v in str(ns).split(",") if v.strip()]
    if not sizes or min(sizes) < 1:
        raise ValueError(f"--ns {ns}: give training images a class as 1,2,5,...")
    return recovery_map(sizes, seed, cfg, data_dir, progress=progress,
                        cache=cache_dir() / "recovery-map")


def write_map(res: dict, folder: Path) -> list[str]:
    atomic_write_json(res, folder / "map.json")
    atomic_savefig(plot_recovery_map(res), folder / "map.png")
    (folder / "map.md").write_text(map_markdown(res) + "\n")
    return ["map.json", "map.png", "map.md"]


EXPERIMENT = Experiment(
    name="recovery-map",
    help="MNIST: recovery share of GBC and particles against the number of training images",
    config=MnistConfig.profile, profiles=("recovery", "haim"),
    profile_help=PROFILES, data=mnist_data,
    classifier=classifier, run=run_map, write=write_map,
    report=lambda res: f"{map_markdown(res)}\nseconds: {res['seconds']:.0f}",
    options={"ns": Option("1,2,5,10", "training images a class, e.g. 1,2,5,10")},
    reads_mnist=True)
