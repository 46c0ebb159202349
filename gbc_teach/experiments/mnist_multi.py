"""One generator born from several classifiers (docs/method.md §6; notebook 06): `gbc-teach mnist-multi`.

Classifier k knows digits k·C .. k·C + C − 1 (C = 10/K) of the same training images and has its
own Λ, Π and α; one generator G(z, y, k) is trained on the sum of their GBC losses.
"""

from __future__ import annotations

import time
from dataclasses import asdict

import torch
from torch import nn

from ..evaluation.evaluator import evaluator_logits
from ..evaluation.scorecard import image_metrics
from ..gbc import train_generator
from ..kkt import kkt_fit
from ..utils import seed_everything
from .base import Experiment
from .image_nets import (
    L_stat_of,
    accuracy,
    frozen_copy,
    gbc_objective,
    make_generator,
    stretch,
    train_mnist_classifier,
)
from .mnist import evaluator_row, mnist_data, raw_row, setup
from .mnist_config import PROFILES, MnistConfig
from .reports import report, write_artifacts


class MultiGenerator(nn.Module):
    """G(z, y, k) for K classifiers of C local classes each; global label = k·C + y.

    `training_batch` draws an even batch over all K·C labels, so `gbc.train_generator` runs it.
    """

    def __init__(self, G, n_local: int, n_classifiers: int):
        super().__init__()
        self.G, self.n_local, self.K = G, n_local, n_classifiers
        self.code_logits = G.code_logits  # train_generator reads the device from here

    def training_batch(self, n: int, generator=None):
        dev = self.code_logits.device
        y_glob = torch.arange(n, device=dev) % (self.n_local * self.K)
        k, y = y_glob // self.n_local, y_glob % self.n_local
        c = (torch.arange(n, device=dev) // (self.n_local * self.K)) % self.G.n_codes
        z = torch.randn(n, self.G.z_dim, generator=generator).to(dev)
        w = self.G.code_weights(y, c) if self.G.n_codes > 1 else None
        return self.G(z, y, c, k), y_glob, w

    @torch.no_grad()
    def sample(self, n: int, generator=None):
        """n samples over all global labels evenly, codes from π; returns (x, y_glob)."""
        y_glob = torch.arange(n) % (self.n_local * self.K)
        k, y = y_glob // self.n_local, y_glob % self.n_local
        x, _ = self.G.sample(n, y=y, k=k, generator=generator)
        return x, y_glob.to(x.device)


class MultiObjective(nn.Module):
    """Σ_k L^(k): each classifier's GBC loss on the samples of its own digits (local labels)."""

    def __init__(self, objectives: list[nn.Module], n_local: int):
        super().__init__()
        self.objs, self.n_local = nn.ModuleList(objectives), n_local

    def forward(self, x, y, w=None):
        out, total = {}, 0.0
        for k, obj in enumerate(self.objs):
            m = (y // self.n_local) == k
            r = obj(x[m], y[m] - k * self.n_local, None if w is None else w[m])
            total = total + r["loss"]
            out.update({f"{key}_{k}": v for key, v in r.items() if v.dim() == 0})
        out["loss"] = total
        return out


def local_classifiers(d: dict, cfg: MnistConfig, seed: int = 0, n_classifiers: int = 2,
                      progress: bool = False) -> list[tuple]:
    """Classifier k trained on the digits k·C .. k·C + C − 1 of d's training images, labelled
    0 .. C − 1: one (X, y, model, Λ, history) per classifier."""
    C = 10 // n_classifiers
    dev = d.get("dev", "cpu")
    out = []
    for k in range(n_classifiers):
        keep = (d["labs"]["train"] // C) == k
        X = d["imgs"]["train"][keep].to(dev)
        y = (d["labs"]["train"][keep] - k * C).to(dev)
        seed_everything(seed + 100 * k)
        out.append((X, y, *train_mnist_classifier(X, y, cfg, n_classes=C, progress=progress)))
    return out


def run_mnist_multi(seed: int = 0, cfg: MnistConfig | None = None, progress: bool = False,
                    data_dir=None, n_classifiers: int = 2) -> dict:
    """One generator G(z, y, k) born from K classifiers, classifier k knowing digits
    k·C .. k·C + C − 1 (C = 10/K) of the same 500 training images; each has its own Λ, Π, α."""
    t0 = time.perf_counter()
    cfg = cfg or MnistConfig()
    if cfg.task != "digits":  # each classifier knows a block of digits: parity has no blocks
        raise ValueError(f"mnist-multi splits the ten digits between classifiers: setting "
                         f"task={cfg.task!r} is not supported here (task='digits')")
    s = setup(seed, cfg, data_dir, progress)
    cfg, dev, imgs, labs = s["cfg"], s["dev"], s["imgs"], s["labs"]
    C = 10 // n_classifiers
    objs, clfs, models = [], [], []
    for k, (X, y, model, lam, hist) in enumerate(
            local_classifiers(s, cfg, seed, n_classifiers, progress)):
        kkt = kkt_fit(frozen_copy(model, "train"), X, y, lam.Pi.to(dev), pairs=cfg.kkt_pairs,
                  chunk=cfg.kkt_chunk)
        tkeep = (s["test_y"] // C) == k
        clfs.append({"digits": list(range(k * C, k * C + C)), "train_accuracy": hist["train_acc"][-1],
                     "test_accuracy": accuracy(model, s["test_x"][tkeep].to(dev),
                                               (s["test_y"][tkeep] - k * C).to(dev)),
                     "kkt_residual": kkt.residual, "q_min": kkt.q_min,
                     "L_stat_of_train_images": L_stat_of(model, lam, cfg, X, y, C),
                     "n_support_vectors": kkt.n_support})
        objs.append(gbc_objective(model, lam, cfg, C))
        models.append(model)
    seed_everything(seed + 1000)
    G = MultiGenerator(make_generator(cfg, C, n_classifiers), C, n_classifiers).to(dev)
    obj = MultiObjective(objs, C).to(dev)
    t1 = time.perf_counter()
    hist = train_generator(G, obj, steps=cfg.gen_steps, batch=cfg.batch, lr=cfg.gen_lr,
                           lr_final=cfg.gen_lr_final, seed=seed, surrogate_a=cfg.surrogate_a,
                           progress=progress, desc="GBC generator (2 classifiers)",
                           log_every=max(cfg.gen_steps // 30, 1))
    n_samples = cfg.n_samples or cfg.n_pool
    G.eval()
    x, yy = G.sample(n_samples, generator=torch.Generator().manual_seed(seed + 7))
    x, yy = x.cpu(), yy.cpu()
    x_raw = x
    if cfg.gauge == "stretch":  # each classifier sees only its own digits: one map per k
        x = x.clone()
        for k in range(n_classifiers):
            x[(yy // C) == k] = stretch(x_raw[(yy // C) == k])
    ref = (imgs["pool_b"], labs["pool_b"])
    row = image_metrics(x, yy, imgs["train"], labs["train"], ref, s["fref"], s["ev"], s["judges"])
    if cfg.gauge == "stretch":
        row.update(raw_row(x_raw, yy, s))
    row["train_seconds"] = time.perf_counter() - t1
    row["final_losses"] = {k: v[-1] for k, v in hist.items() if k != "step"}
    pred = evaluator_logits(s["ev"], x).argmax(1)
    row["evaluator_accuracy_per_classifier"] = [
        float((pred[(yy // C) == k] == yy[(yy // C) == k]).float().mean())
        for k in range(n_classifiers)]
    metrics = {"seed": seed, "config": asdict(cfg), "data": s["info"], "classifiers": clfs,
               "evaluator": evaluator_row(s), "gbc": row,
               "real": image_metrics(imgs["pool_a"], labs["pool_a"], imgs["train"],
                                     labs["train"], ref, s["fref"], s["ev"], s["judges"]),
               "seconds": time.perf_counter() - t0}
    return {"metrics": metrics, "models": models, "cfg": cfg, "G": G,
            "train": (imgs["train"], labs["train"]), "split": s["split"],
            "samples": {"gbc": (x, yy)}, "history": {"gbc": hist},
            "real": (imgs["pool_a"], labs["pool_a"])}


EXPERIMENT = Experiment(
    name="mnist-multi", help="MNIST: one generator from two classifiers (digits 0-4, 5-9)",
    config=MnistConfig.profile, data=mnist_data, classifier=local_classifiers,
    run=run_mnist_multi,
    write=write_artifacts, report=report, profiles=("recovery", "paper", "paper-scale"),
    profile_help=PROFILES,
    reads_mnist=True)
