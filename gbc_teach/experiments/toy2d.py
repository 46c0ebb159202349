"""The toy experiment (docs/method.md §7–8; notebook 01): `gbc-teach toy2d`.

Classifier → Λ, KKT → GBC generator and the naive baseline → metrics, on the 2-D toy data
(`datasets.toy2d`).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import torch

from .. import parallel
from ..baselines.naive import NaiveObjective
from ..datasets.toy2d import Toy2D, grid_candidates, make_toy2d
from ..evaluation.points import precision, radius, sv_recall
from ..gbc import fit_codes, kept_index, train_generator
from ..homogeneity import solve_lambda
from ..kkt import dictionary_atoms, kkt_fit, scan_q_min
from ..losses import GBCObjective
from ..models import MLP, Generator, RBFLift
from ..training import normalized_margin, train_classifier
from ..utils import atomic_savefig, atomic_write_json, seed_everything
from ..viz.plots import plot_toy_panel
from .base import Experiment


@dataclass
class ToyConfig:
    """Defaults of `gbc-teach toy2d` (notebook 01 explains each choice)."""

    n_classes: int = 3
    n_per_class: int = 8
    width: int = 100  # one hidden layer of relu²: smooth, so the KKT point is reached exactly
    rbf_side: int = 8  # 8×8 fixed Gaussian features (RBFLift) in front of the net
    rbf_width: float = 0.5
    init_scale: float = 0.1
    clf_steps: int = 20000
    clf_lr: float = 0.03  # relative step: fraction of ‖θ‖ moved per step ...
    clf_lr_final: float = 0.1  # ... decayed geometrically to lr·lr_final
    z_dim: int = 2
    n_codes: int = 8  # discrete codes per class: atoms the generator can place
    hidden: int = 128
    box: float = 2.5  # the generator's domain [−box, box]², data lie in [−2, 2]²
    gen_steps: int = 5000
    gen_lr: float = 3e-3
    gen_lr_final: float = 0.05
    batch: int = 256
    qmin_mode: str = "free"
    alpha_mode: str = "closed"
    beta: float = 1.0
    kappa: float = 1.0  # symmetric: a steeper lower side ratchets the margins (and q_min) upward
    restarts: int = 1  # independent generator inits; the lowest final L_stat is kept (data-free)
    # "random": G starts at random (the paper). "convex": G's codes start on the atoms of the
    # convex reconstruction (a scan_side² grid, q_min read off the classifier; atoms merged within
    # atom_radius), then GBC with q_min held at the scanned value and the step warm_lr, ending
    # on its lowest-loss logged state (train_generator's keep_best)
    start: str = "random"
    scan_side: int = 150
    atom_radius: float = 0.15
    warm_lr: float = 1e-4
    class_weights: bool = True
    surrogate_a: float | None = None  # only useful for ReLU classifiers
    act: str = "relu2"
    naive_steps: int = 1000
    n_eval_samples: int = 600

    @classmethod
    def fast(cls, **kw) -> "ToyConfig":
        """The CI profile: same logic, fewer steps."""
        base = dict(clf_steps=4000, gen_steps=1200, naive_steps=300, n_eval_samples=300,
                    scan_side=60)
        base.update(kw)
        return cls(**base)


def toy_classifier(cfg: ToyConfig):
    """The toy classifier: RBFLift → [Linear → act] → Linear, bias-free, constant feature."""
    lift = RBFLift(cfg.rbf_side, cfg.rbf_width) if cfg.rbf_side else None
    return MLP(2, [cfg.width], cfg.n_classes, bias=False, const_feature=True,
               init_scale=cfg.init_scale, act=cfg.act, lift=lift)


def train_toy_classifier(data: Toy2D, cfg: ToyConfig, progress: bool = False, callback=None):
    """Train the toy classifier into the max-margin regime; returns (model, Λ, history)."""
    model = toy_classifier(cfg)
    lam = solve_lambda(model, data.X, "uniform")  # homogeneous: one λ for every tensor
    hist = train_classifier(model, data.X, data.y, steps=cfg.clf_steps, lr=cfg.clf_lr,
                            rule="relative", lr_final=cfg.clf_lr_final, lam=lam.lam,
                            lam_max=lam.lam_max, progress=progress, callback=callback,
                            log_every=max(cfg.clf_steps // 50, 1))
    return model, lam, hist


def toy_generator(cfg: ToyConfig):
    return Generator(cfg.z_dim, cfg.n_classes, 2, hidden=cfg.hidden, box=cfg.box,
                     n_codes=cfg.n_codes)


def train_gbc(model, lam, cfg: ToyConfig, seed: int, objective=None, progress: bool = False,
              scan: dict | None = None):
    """The GBC generator on a trained toy classifier; returns (G, objective, history).

    cfg.start="random": cfg.restarts runs, each seeded from `seed`; the one with the lowest final
    L_stat is kept. cfg.start="convex": one run from the convex reconstruction (`convex_start`).
    objective: a ready GBCObjective (e.g. `ablation.fixed_alpha_objective`), for a single run.
    scan: `convex_scan(model, lam, cfg)` if already computed (start="convex").
    """
    if cfg.start not in ("random", "convex"):
        raise ValueError(f"ToyConfig.start must be 'random' or 'convex', got {cfg.start!r}")
    if cfg.start == "convex" and cfg.qmin_mode != "free":
        raise ValueError("ToyConfig.start='convex' holds q_min at the value read off the "
                         f"classifier, which needs qmin_mode='free' (got {cfg.qmin_mode!r})")
    best = None
    for restart in range(1 if objective is not None or cfg.start == "convex" else cfg.restarts):
        seed_everything(seed + 1000 + 7919 * restart)
        G = toy_generator(cfg)
        obj = objective or GBCObjective(model, lam.Pi, lam.lam_max, cfg.n_classes,
                                        qmin_mode=cfg.qmin_mode, beta=cfg.beta, kappa=cfg.kappa,
                                        class_weights=cfg.class_weights,
                                        alpha_mode=cfg.alpha_mode)
        start = {}
        if cfg.start == "convex":
            start = convex_start(G, obj, scan or convex_scan(model, lam, cfg), cfg, seed)
        hist = train_generator(G, obj, steps=cfg.gen_steps, batch=cfg.batch,
                               lr=cfg.warm_lr if cfg.start == "convex" else cfg.gen_lr,
                               lr_final=cfg.gen_lr_final, surrogate_a=cfg.surrogate_a,
                               seed=seed + restart, progress=progress, desc="GBC generator",
                               keep_best=cfg.start == "convex")
        hist["start"] = start
        # model selection by the training loss only: the generator never sees data
        if best is None or hist["L_stat"][-1] < best[2]["L_stat"][-1]:
            best = (G, obj, hist)
    return best


def convex_scan(model, lam, cfg: ToyConfig) -> dict:
    """`kkt.scan_q_min` on a scan_side² grid over the generator's box, once per class; the
    candidates and their labels come back with it ("cand", "lab")."""
    cand, lab = grid_candidates(cfg.scan_side, cfg.n_classes, extent=cfg.box)
    return {**scan_q_min(model, cand, lab, lam.Pi), "cand": cand, "lab": lab}


def convex_start(G, obj, scan: dict, cfg: ToyConfig, seed: int) -> dict:
    """Put G's codes on the convex reconstruction's atoms, q_min at the scanned value (frozen).

    In 2-D a grid covers the margin band, so the search that GBC's gradient steps do poorly
    (notebook 01 §5) is done by a convex fit instead: `convex_scan` finds q_min and the weights
    μ ≥ 0 in its band, `kkt.dictionary_atoms` merges them into n_codes atoms a class, and
    `gbc.fit_codes` sends every code to its atom. Nothing here sees the training data.
    """
    keep = scan["keep"]
    atoms, weights = dictionary_atoms(scan["cand"][keep], scan["lab"][keep], scan["mu"],
                                      cfg.n_classes, cfg.n_codes, cfg.atom_radius)
    rms = fit_codes(G, atoms, weights, batch=cfg.batch, seed=seed)
    x, y, w = G.training_batch(cfg.batch, torch.Generator().manual_seed(seed))
    obj.init_scalars(x.detach(), y, None if w is None else w.detach())  # α by least squares
    with torch.no_grad():
        obj.log_qmin.fill_(math.log(scan["q_min"]))
    obj.log_qmin.requires_grad_(False)  # a learned q_min drifts off the band in the first steps
    return {"q_min": scan["q_min"], "atoms": atoms.tolist(), "weights": weights.tolist(),
            "fit_rms": rms}


# What the scale-dependent numbers of metrics.json mean; written into the file itself.
METRIC_NOTES = {
    "classifier.q_min": "smallest training margin f_y - max_{j != y} f_j of the trained net, raw. "
                        "Its size is arbitrary: the net is homogeneous, f(x; e^{s Lambda} theta) = "
                        "e^s f(x; theta), so margins grow as ||Pi theta||^{1/lambda_max}, and "
                        "training lets ||theta|| grow, rescaling theta (same decisions) whenever "
                        "q_min passes 1e8. Compare it only with margins of the same net.",
    "classifier.theta_norm": "||Pi theta||: the norm of the tensors with lambda_k = lambda_max",
    "classifier.normalized_margin": "gamma = q_min / ||Pi theta||^{1/lambda_max}: the margin with "
                                    "the scale taken out (unchanged by theta -> e^{s Lambda} "
                                    "theta); max-margin training increases it",
    "gbc.q_min_estimate": "the generator's estimate of classifier.q_min (it is never told it), "
                          "in the same raw units",
    "gbc.q_min_ratio": "q_min_estimate / classifier.q_min (1 = the true margin)",
}


def run_toy2d(seed: int = 0, cfg: ToyConfig | None = None, progress: bool = False) -> dict:
    """The whole toy experiment for one seed; returns metrics and everything needed to plot."""
    cfg = cfg or ToyConfig()
    threads = torch.get_num_threads()
    # the toy's ops are tiny: a second thread only adds barrier waits (and stalls badly when
    # another job holds a core), so the toy runs on one
    torch.set_num_threads(1)
    try:
        return _run_toy2d(seed, cfg, progress)
    finally:
        torch.set_num_threads(threads)


def _run_toy2d(seed: int, cfg: ToyConfig, progress: bool) -> dict:
    t0 = time.perf_counter()
    seed_everything(seed)
    data = make_toy2d(seed, cfg.n_classes, cfg.n_per_class)
    model, lam, clf_hist = train_toy_classifier(data, cfg, progress)
    parallel.replicate(model)  # under torchrun: rank 0's classifier on every rank
    with torch.no_grad():
        train_acc = float((model(data.X).argmax(1) == data.y).float().mean())
    kkt = kkt_fit(model, data.X, data.y, lam.Pi)

    G, _, gen_hist = train_gbc(model, lam, cfg, seed, progress=progress)

    seed_everything(seed + 2000)
    G_naive = toy_generator(cfg)
    naive_hist = train_generator(G_naive, NaiveObjective(model, cfg.n_classes),
                                 steps=cfg.naive_steps, batch=cfg.batch, lr=cfg.gen_lr,
                                 seed=seed, progress=progress, desc="naive generator")

    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        xs, ys = G.sample(cfg.n_eval_samples, generator=g)
        xn, yn = G_naive.sample(cfg.n_eval_samples, generator=g)
    r = radius(data.X)
    theta_norm = math.sqrt(sum(float(p.detach().pow(2).sum())
                               for p, m in zip(model.parameters(), lam.Pi) if m))  # ||Pi theta||
    kept = kept_index(gen_hist)  # the last logged step, or with the convex start the best one
    metrics = {
        "seed": seed,
        "data": {"n_classes": cfg.n_classes, "n_per_class": cfg.n_per_class,
                 "diameter": data.diameter, "r": r},
        "classifier": {"train_accuracy": train_acc, "kkt_residual": kkt.residual,
                       "n_support_vectors": kkt.n_support, "q_min": kkt.q_min,
                       "theta_norm": theta_norm,
                       "normalized_margin": normalized_margin(torch.tensor([kkt.q_min]), model,
                                                              lam.lam_max, lam.Pi),
                       "lambda": lam.lam.tolist()},
        "gbc": {"sv_recall": sv_recall(xs, ys, data.X, data.y, kkt.support, r),
                "precision": precision(xs, ys, data.X, data.y, r),
                "L_stat": gen_hist["L_stat"][kept], "q_min_estimate": gen_hist["q_min"][kept],
                "q_min_ratio": gen_hist["q_min"][kept] / kkt.q_min, "start": cfg.start,
                "kept_step": gen_hist["step"][kept]},
        "naive": {"sv_recall": sv_recall(xn, yn, data.X, data.y, kkt.support, r),
                  "precision": precision(xn, yn, data.X, data.y, r)},
        "seconds": time.perf_counter() - t0,
        "notes": METRIC_NOTES,
    }
    return {"metrics": metrics, "cfg": cfg, "data": data, "model": model, "lam": lam, "kkt": kkt,
            "G": G, "G_naive": G_naive, "samples": (xs, ys), "naive_samples": (xn, yn),
            "history": {"classifier": clf_hist, "gbc": gen_hist, "naive": naive_hist}}


# ------------------------------------------------------------------------------ the run folder
def write_run(res: dict, folder: Path) -> list[str]:
    """figure.png (the toy panel: decision regions, support vectors, GBC and naive samples) and
    metrics.json."""
    m = res["metrics"]
    fig = plot_toy_panel(res["model"], res["data"].X, res["data"].y, res["kkt"].support,
                         res["samples"], res["naive_samples"], box=res["cfg"].box,
                         metrics={k: {"recall": m[k]["sv_recall"], "precision": m[k]["precision"]}
                                  for k in ("gbc", "naive")})
    atomic_savefig(fig, folder / "figure.png")
    atomic_write_json(m, folder / "metrics.json")
    return ["figure.png", "metrics.json"]


def report(res: dict) -> str:
    return json.dumps({k: res["metrics"][k] for k in ("classifier", "gbc", "naive", "seconds")},
                      indent=2)


EXPERIMENT = Experiment(
    name="toy2d", help="2-D toy: classifier, GBC generator, naive baseline",
    config=lambda profile, fast: ToyConfig.fast() if fast else ToyConfig(),
    data=lambda seed, cfg, data_dir=None: make_toy2d(seed, cfg.n_classes, cfg.n_per_class),
    classifier=train_toy_classifier,
    run=lambda seed, cfg, progress=False, data_dir=None: run_toy2d(seed, cfg, progress),
    write=write_run, report=report)
