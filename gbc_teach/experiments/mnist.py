"""The MNIST experiment of the paper (docs/method.md §6–9; notebooks 05, 06): `gbc-teach mnist`.

One frozen classifier (the paper's: 3 fully connected layers, ReLU, batch norm, 500 training
images, 50 a class) → Λ (last layer) → a conditional generator trained only from it by the KKT
losses → samples judged by an independent evaluator against held-out real images. Baselines on
the same classifier: naive (margin only) and BN-statistics matching. `run_mnist_multi`: one
generator G(z, y, k) born from two classifiers, digits 0–4 and 5–9.

Data (disjoint index sets of whichever split is present, all recorded in metrics.json):
train (the classifier's 500), pool_a (the `real` row), pool_b (the recovery reference),
pool_c (the Fréchet reference), evaluator (its training images); test accuracy is measured
on every image outside train.

Batch norm: the classifier is trained full-batch in training mode, so its KKT conditions are
those of the training-mode function (the GBC objective sees batch statistics of the generated
batch, running statistics frozen); the baselines use the deployed, eval-mode classifier.
"""

from __future__ import annotations

import sys
import time
import warnings
from dataclasses import asdict, replace

import numpy as np
import torch

from .. import parallel
from ..baselines import rowspace
from ..baselines.bnstat import BNStatObjective
from ..baselines.naive import NaiveObjective
from ..baselines.particles import Particles
from ..datasets.mnist import _take_balanced, load_mnist, paper_split, split_as_json, to_float_images
from ..evaluation.evaluator import evaluator_accuracy, evaluator_features, load_or_train_evaluator
from ..evaluation.images import diversity, frechet_distance
from ..evaluation.judges import train_second_evaluator
from ..evaluation.scorecard import image_metrics
from ..gbc import train_generator
from ..kkt import first_layer_view, kkt_fit, wd_diagnostics
from ..utils import get_device, seed_everything
from .base import Experiment
from .image_nets import (
    L_stat_of,
    accuracy,
    architecture,
    code_images,
    draw,
    frozen_copy,
    gbc_objective,
    make_generator,
    stretch,
    train_mnist_classifier,
)
from .mnist_config import FALLBACK_BANNER, PROFILES, MnistConfig
from .reports import report, write_artifacts


def mnist_split(labels: np.ndarray, cfg: MnistConfig, seed: int) -> tuple[dict, MnistConfig]:
    """Disjoint index sets train / pool_a / pool_b / pool_c / evaluator, sizes shrunk to fit.

    Returns (split, cfg) with cfg's sizes the ones actually used (small data sets such as the
    sklearn fallback cannot hold 500 + 3×500 + 6000 images).
    """
    n_classes = len(np.unique(labels))
    N = len(labels)
    per = cfg.n_per_class
    counts = np.bincount(labels)
    # four sets of n_per_class·C images (train and three pools) must leave ≥ 1/3 for the evaluator
    per = int(min(per, counts.min() // 5, (2 * N / 3) // (4 * n_classes)))
    pool = min(cfg.n_pool, per * n_classes) if per < cfg.n_per_class else cfg.n_pool
    n_eval = min(cfg.n_eval_images, N - per * n_classes - 3 * pool)
    cfg = replace(cfg, n_per_class=per, n_pool=pool, n_eval_images=n_eval)
    split = paper_split(labels, n_per_class=per, n_pool=pool, n_eval=None, seed=seed)
    rng = np.random.default_rng(seed + 1)
    free = np.ones(N, dtype=bool)
    for k in ("train", "pool_a", "pool_b"):
        free[split[k]] = False
    split["pool_c"] = _take_balanced(rng, labels, free, pool)
    free[split["pool_c"]] = False
    rest = rng.permutation(np.flatnonzero(free))
    split["evaluator"] = np.sort(rest[:n_eval]).astype(np.int64)
    return split, cfg


def load_data(data_dir=None, quiet: bool = False):
    """MNIST if present anywhere (see datasets.mnist.load_mnist), else the flagged sklearn fallback."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore" if quiet else "default")
        data = load_mnist(data_dir)
    if data.split == "sklearn-digits-fallback":
        print("\n" + "!" * 100 + "\n" + FALLBACK_BANNER + "\n" + "!" * 100 + "\n", file=sys.stderr)
    return data


def mnist_data(seed: int, cfg: MnistConfig, data_dir=None, progress: bool = False) -> dict:
    """The experiment's data: MNIST (or the flagged fallback) cut into disjoint sets (module
    docstring) as float images and labels, the test images (every image outside train), and
    what was read (info); cfg comes back with the sizes actually used."""
    data = load_data(data_dir, quiet=not progress)
    split, cfg = mnist_split(data.labels, cfg, seed)
    # the sets are cut by digit (n_per_class of each); the parity task relabels them 0/1 after
    labels = data.labels % 2 if cfg.task == "parity" else data.labels
    imgs = {k: to_float_images(data.images[v]) for k, v in split.items()}
    labs = {k: torch.from_numpy(labels[v]) for k, v in split.items()}
    test_idx = np.setdiff1d(np.arange(len(data.labels)), split["train"])
    info = {"split": data.split, "source": data.source, "task": cfg.task,
            "fallback": data.split == "sklearn-digits-fallback",
            "sizes": {k: int(len(v)) for k, v in split.items()},
            "indices": split_as_json(split)}
    if info["fallback"]:
        info["warning"] = FALLBACK_BANNER
    return {"data": data, "split": split, "cfg": cfg, "imgs": imgs, "labs": labs, "info": info,
            "test_x": to_float_images(data.images[test_idx]),
            "test_y": torch.from_numpy(labels[test_idx])}


def setup(seed: int, cfg: MnistConfig, data_dir=None, progress: bool = False) -> dict:
    """mnist_data and the judges: the evaluator (with its features of the Fréchet pool) and,
    with cfg.judges, the second evaluator and train-on-synthetic/test-on-real's test images."""
    torch.set_num_threads(max(1, cfg.threads))
    torch.set_flush_denormal(True)  # double backprop makes denormals, 10-100× slower on CPU
    dev = get_device(cfg.device)
    s = mnist_data(seed, cfg, data_dir, progress)
    imgs, labs = s["imgs"], s["labs"]
    seed_everything(seed)
    ev = load_or_train_evaluator(imgs["evaluator"], labs["evaluator"], device=dev,
                                 progress=progress, epochs=s["cfg"].eval_epochs, seed=0,
                                 n_classes=cfg.n_classes)
    judges = None
    if cfg.judges:  # trained on the evaluator's images; TSTR tested on them too (never generated)
        ev2 = train_second_evaluator(imgs["evaluator"], labs["evaluator"], progress=progress)
        judges = (ev2, imgs["evaluator"][:3000], labs["evaluator"][:3000])
    return {**s, "ev": ev, "judges": judges, "dev": dev,
            "fref": evaluator_features(ev, imgs["pool_c"])}


def raw_row(x, y, s) -> dict:
    """Evaluator accuracy and Fréchet of GBC samples before the gauge stretch."""
    return {"evaluator_accuracy_unstretched": evaluator_accuracy(s["ev"], x, y),
            "frechet_unstretched": frechet_distance(evaluator_features(s["ev"], x), s["fref"])}


def evaluator_row(s) -> dict:
    return {"accuracy_on_pool_c": evaluator_accuracy(s["ev"], s["imgs"]["pool_c"],
                                                     s["labs"]["pool_c"]),
            "n_train": s["info"]["sizes"]["evaluator"], "epochs": s["cfg"].eval_epochs}


def run_mnist(seed: int = 0, cfg: MnistConfig | None = None, progress: bool = False,
              data_dir=None) -> dict:
    """The whole single-classifier experiment; returns {'metrics', 'samples', ...} for plotting."""
    t0 = time.perf_counter()
    cfg = cfg or MnistConfig()
    s = setup(seed, cfg, data_dir, progress)
    cfg, dev, imgs, labs = s["cfg"], s["dev"], s["imgs"], s["labs"]
    X, y = imgs["train"].to(dev), labs["train"].to(dev)

    seed_everything(seed)
    C = cfg.n_classes
    model, lam, clf_hist = train_mnist_classifier(X, y, cfg, C, progress=progress)
    parallel.replicate(model)  # under torchrun: rank 0's classifier on every rank
    t_clf = time.perf_counter()
    kkt = kkt_fit(frozen_copy(model, "train"), X, y, lam.Pi.to(dev), pairs=cfg.kkt_pairs,
                  chunk=cfg.kkt_chunk)
    clf = {"architecture": architecture(cfg),
           "train_accuracy": clf_hist["train_acc"][-1],
           "test_accuracy": accuracy(model, s["test_x"].to(dev), s["test_y"].to(dev)),
           "n_test": int(len(s["test_y"])),
           "kkt_residual": kkt.residual, "kkt_mode": ("training-mode BN, " if cfg.bn else "")
           + ("pairs" if cfg.kkt_pairs else "one constraint per image"),
           "n_support_vectors": kkt.n_support, "q_min": kkt.q_min,
           "lambda": {"choice": lam.choice, "Pi": [n for n, p in zip(lam.names, lam.Pi) if p],
                      "lam_max": lam.lam_max},
           "seconds": time.perf_counter() - t0}
    # the loss a generator that reproduced the 500 training images (uniformly) would reach:
    # if generated samples beat it, the conditions do not single the training images out
    clf["L_stat_of_train_images"] = L_stat_of(model, lam, cfg, X, y, C)
    # the images enter only through W₁x: what of them the first layer can see (kkt.first_layer_view)
    clf["first_layer"] = first_layer_view(model.net[0].weight, X)
    if cfg.clf_rule == "weight_decay":
        clf.update(wd_diagnostics(model, X, y, cfg.wd, chunk=cfg.kkt_chunk,
                                  pairs=kkt if cfg.kkt_pairs else None))
        clf["residual_history"] = {"step": clf_hist["step"], "residual": clf_hist["residual"]}

    n_samples = cfg.n_samples or cfg.n_pool
    runs = {}
    methods = [("gbc", cfg.gen_steps), ("naive", cfg.naive_steps)]
    if cfg.bn:  # BN-statistics matching needs running statistics to match
        methods.append(("bnstat", cfg.bnstat_steps))
    if cfg.particle_steps > 0:
        methods.append(("particles", cfg.particle_steps))
    for name, steps in methods:
        t1 = time.perf_counter()
        seed_everything(seed + {"gbc": 1000, "naive": 2000, "bnstat": 3000, "particles": 4000}[name])
        G = make_generator(cfg, C).to(dev)
        if name == "particles":  # the same objective on free images instead of a generator
            G = Particles(C, len(X) * cfg.particle_mult, seed=seed).to(dev)
            obj = gbc_objective(model, lam, cfg, C)
        elif name == "gbc":
            obj = gbc_objective(model, lam, cfg, C)
        elif name == "naive":
            obj = NaiveObjective(frozen_copy(model, "eval"), C)
        else:
            obj = BNStatObjective(model, C, r_bn=cfg.r_bn)
        lr = {"gbc": cfg.gen_lr, "particles": cfg.particle_lr}.get(name, cfg.baseline_lr)
        hist = train_generator(G, obj.to(dev), steps=steps, batch=cfg.batch, lr=lr,
                               lr_final=cfg.gen_lr_final, seed=seed,
                               surrogate_a=cfg.surrogate_a if name in ("gbc", "particles") else None,
                               progress=progress, desc=f"{name} generator",
                               log_every=max(steps // 30, 1))
        x, yy = draw(G, n_samples, C, seed + 7)
        runs[name] = {"G": G, "x": x, "y": yy, "hist": hist,
                      "seconds": time.perf_counter() - t1}
        if name == "gbc" and cfg.gauge == "stretch":  # only the train-mode BN loss has the gauge
            runs[name]["x_raw"], runs[name]["x"] = x, stretch(x)
        elif cfg.gauge not in ("stretch", "none"):
            raise ValueError(f"gauge must be 'stretch' or 'none', got {cfg.gauge!r}")

    metrics = {"seed": seed, "config": asdict(cfg), "data": s["info"], "classifier": clf,
               "evaluator": evaluator_row(s)}
    if cfg.rowspace_lps > 0:  # the first layer's reading: no generator, no stationarity
        try:
            runs["rowspace"] = row_space_run(model, cfg, seed, progress)
        except ValueError as e:  # e.g. no gap in W₁'s spectrum: said, not fatal
            metrics["rowspace_skipped"] = str(e)
    if not cfg.bn:
        metrics["bnstat_skipped"] = "the classifier has no batch norm (bn=False): no statistics to match"
    ref = (imgs["pool_b"], labs["pool_b"])
    for name, r in runs.items():
        row = image_metrics(r["x"], r["y"], imgs["train"], labs["train"], ref, s["fref"], s["ev"],
                            s["judges"])
        row["train_seconds"] = r["seconds"]
        row.update(r.get("info", {}))
        if name == "gbc" and cfg.n_codes > 1:  # do the codes collapse onto one image a class?
            xc, yc = code_images(r["G"])
            row["code_diversity"] = diversity(stretch(xc, ref=r["x_raw"]) if "x_raw" in r else xc, yc)
        if "x_raw" in r:
            row.update(raw_row(r["x_raw"], r["y"], s))
        row["final_losses"] = {k: v[-1] for k, v in r["hist"].items() if k != "step"}
        metrics[name] = row
    metrics["real"] = image_metrics(imgs["pool_a"], labs["pool_a"], imgs["train"],
                                    labs["train"], ref, s["fref"], s["ev"], s["judges"])
    metrics["real"]["what"] = "pool_a: held-out real images, never seen by the classifier"
    # the ceiling: the training images themselves, judged the same way (a perfect recovery)
    metrics["train_images"] = image_metrics(imgs["train"], labs["train"], imgs["train"],
                                            labs["train"], ref, s["fref"], s["ev"], s["judges"])
    metrics["train_images"]["what"] = "the classifier's training images: what a perfect recovery scores"
    metrics["seconds"] = time.perf_counter() - t0
    return {"metrics": metrics, "model": model, "lam": lam, "kkt": kkt, "cfg": cfg,
            "train": (imgs["train"], labs["train"]), "split": s["split"],
            "samples": {k: (r["x"], r["y"]) for k, r in runs.items()},
            "generators": {k: r["G"] for k, r in runs.items()},
            "history": {"classifier": clf_hist, **{k: r["hist"] for k, r in runs.items()}},
            "real": (imgs["pool_a"], labs["pool_a"]), "t_classifier": t_clf - t0}


def row_space_run(model, cfg: MnistConfig, seed: int, progress: bool) -> dict:
    """baselines.rowspace.recover on the classifier, as one more method's run."""
    t1 = time.perf_counter()
    rs = rowspace.recover(model, (1, 28, 28), **cfg.rowspace_options(), seed=seed,
                          progress=progress)
    return {"G": None, "x": rs["x"], "y": rs["y"], "hist": {}, "seconds": time.perf_counter() - t1,
            "info": {"rowspace": {k: rs[k] for k in ("k", "n_candidates", "n_distinct")}}}


def classifier(d: dict, cfg: MnistConfig):
    """The classifier of the experiment's data d (`mnist_data`): (model, Λ, history)."""
    return train_mnist_classifier(d["imgs"]["train"], d["labs"]["train"], d["cfg"],
                                  d["cfg"].n_classes)


EXPERIMENT = Experiment(
    name="mnist", help="MNIST: generator from one classifier, baselines, recovery of its images",
    config=MnistConfig.profile, data=mnist_data, classifier=classifier, run=run_mnist,
    write=write_artifacts, report=report, profiles=("recovery", "haim", "paper", "paper-scale"),
    profile_help=PROFILES,
    reads_mnist=True)
