"""Faces with attributes (docs/method.md §11; notebook 07): `gbc-teach faces`.

One multi-label attribute classifier (AttributeCNN, one logit per attribute), trained with BCE +
weight decay to its stationary point on one face per training attribute combination, so that

    wd·θ = (1/n) Σ_i Σ_a σ(−q_ia) ∇_θ q_ia,   q_ia = s_ia f_a(x_i), s = 2a − 1:

the KKT form with one constraint per (image, attribute) and known multipliers σ(−q_ia)/(n·wd).
From it alone: GBC (a generator G(z, a, c), stationarity v = E_p[∇_θ log p(s|x)]), free particles
and the naive baseline (margins only); the classifier has no batch norm, so there are no
statistics for a DeepInversion baseline. Judges: an independent attribute evaluator,
train-on-synthetic/test-on-real, Fréchet distance in the evaluator's features, diversity, and
the calibrated recovery share of the training faces against a fresh pool of the same combinations.
"""

from __future__ import annotations

import time
from dataclasses import asdict

import torch

from ..baselines.naive import NaiveObjective
from ..baselines.particles import Particles
from ..evaluation.attributes import (
    attribute_accuracy,
    load_or_train_attribute_evaluator,
    predict,
    tstr_attributes,
)
from ..evaluation.images import diversity, frechet_distance, recovery
from ..gbc import kept_index, train_generator
from ..homogeneity import every_tensor, solve_lambda
from ..kkt import conv_operator, filter_spectrum, first_layer_view, seen_part, wd_diagnostics
from ..losses import GBCObjective
from ..margins import q_attrs
from ..models import MLP
from ..training import stationarity_by_direction, train_classifier, train_weight_decay
from ..utils import get_device, seed_everything
from .base import Experiment, Option
from .config import validate, weight_decay_scale
from .faces_config import PROFILES, FaceConfig
from .faces_data import face_data
from .faces_nets import AttributeCNN, FaceGenerator, all_combinations, combination_index, fit_generator
from .faces_report import report, write_faces


def attribute_classifier(cfg: FaceConfig, n_attrs: int, act: str | None = None) -> torch.nn.Module:
    """AttributeCNN, or with arch='mlp' an MLP 3·S² → w → w → A with a first-layer bias only."""
    act = act or cfg.act
    if cfg.arch == "mlp":
        return MLP(3 * cfg.size ** 2, [cfg.mlp_width] * 2, n_attrs, bias="first", act=act)
    if cfg.arch != "cnn":
        raise ValueError(f"arch must be 'cnn' or 'mlp', got {cfg.arch!r}")
    return AttributeCNN(n_attrs, cfg.width, cfg.size, act)


def first_layer(model: torch.nn.Module) -> torch.nn.Module:
    """The layer that sees the faces: the MLP's first linear map or the CNN's first conv."""
    return model.net[0] if isinstance(model, MLP) else model.features[0]


def architecture(cfg: FaceConfig) -> str:
    if cfg.arch == "mlp":
        w = cfg.mlp_width
        return f"MLP {3 * cfg.size ** 2}-{w}-{w}-A ({cfg.act}, first-layer bias only)"
    return f"AttributeCNN(width {cfg.width}, {cfg.act}, first-layer bias only)"


def train_attribute_classifier(X, A, cfg: FaceConfig, progress: bool = False):
    """The attribute classifier trained on BCE + (wd/2)‖θ‖² (Adam, then L-BFGS), or with
    clf_rule='plain' by plain GD on BCE from a first layer scaled by init_scale (Haim et al.);
    (model, Π = every tensor, history)."""
    model = attribute_classifier(cfg, A.shape[1]).to(X.device)
    if cfg.clf_rule == "plain":
        with torch.no_grad():  # a small first layer: training starts in the rich regime
            first_layer(model).weight.mul_(cfg.init_scale)
        hist = train_classifier(model, X, A, steps=cfg.clf_steps, lr=cfg.clf_lr, rule="plain",
                                progress=progress, log_every=max(cfg.clf_steps // 20, 1))
        return model, every_tensor(model), hist
    if cfg.clf_rule != "weight_decay":
        raise ValueError(f"clf_rule must be 'weight_decay' or 'plain', got {cfg.clf_rule!r}")
    hist = train_weight_decay(model, X, A, wd=cfg.wd, adam_steps=cfg.clf_steps, lr=cfg.wd_lr,
                              lbfgs_iters=cfg.clf_lbfgs, progress=progress,
                              log_every=max(cfg.clf_steps // 20, 1))
    return model, every_tensor(model), hist


def relu_lambda(cfg: FaceConfig, x: torch.Tensor, n_attrs: int):
    """Λ of the ReLU twin of the classifier (same layers, exact ReLU): the Euler identity solved
    by homogeneity.solve_lambda (min-norm member)."""
    twin = attribute_classifier(cfg, n_attrs, "relu")
    return solve_lambda(twin, x[:8].cpu())


def gbc_objective(model, n_attrs: int, cfg: FaceConfig) -> GBCObjective:
    """The weight-decay KKT objective: Π every tensor, closed α, no q_min, 'pairs' form; with
    scale_weight γ > 0 also γ·L_scale, which holds ‖v‖ to its size at α = 1/wd."""
    return GBCObjective(model, every_tensor(model).Pi, 1.0, n_attrs, qmin_mode="none",
                        class_weights=False, alpha_mode="closed", stat_form=cfg.stat_form,
                        **weight_decay_scale(cfg))


def noise_start(G: FaceGenerator, X: torch.Tensor, A: torch.Tensor, cfg: FaceConfig,
                seed: int) -> float:
    """Fit G (warm_fit_steps) to noise images uniform in [0, particle_init], one a training face:
    the particles' start. From there GBC's α climbs to weight decay's 1/wd, where from G's own
    init it can rest on dim blends of the faces (docs/method.md §11). Returns the fit's rms."""
    noise = Particles(1, len(X), tuple(X.shape[1:]), init=cfg.particle_init, seed=seed,
                      labels=A).to(G.combos.device)
    return fit_generator(G, *noise.sample(), steps=cfg.warm_fit_steps, seed=seed)


def sample_set(G, combos: torch.Tensor, per: int, seed: int):
    """`per` faces of each attribute combination, (x, a)."""
    a = combos.repeat_interleave(per, 0)
    return G.sample(a, torch.Generator().manual_seed(seed))


def judge(x, a, s: dict, ev, fref, cfg: FaceConfig, dev) -> dict:
    """The faces row of docs/method.md §8: evaluator accuracy per attribute, TSTR, recovery of the
    training faces (combinations as labels), Fréchet, diversity."""
    X, A = s["sets"]["train"]
    ref_x, ref_a = s["sets"]["pool_ref"]
    test_x, test_a = s["sets"]["test"]
    acc = attribute_accuracy(ev, x, a)
    tstr = tstr_attributes(x, a, test_x, test_a, cfg.tstr_steps, device=dev, amp=cfg.amp)
    ti, ci, ri = combination_index(A), combination_index(a), combination_index(ref_a)
    rs = recovery(X, ti, x, ci, ref_x, ri, metric="ssim")
    rl = recovery(X, ti, x, ci, ref_x, ri, metric="l2")
    names = s["info"]["attributes"]
    return {"n": int(len(x)), "evaluator_accuracy": float(acc.mean()),
            "evaluator_accuracy_per_attribute": dict(zip(names, acc.tolist())),
            "tstr_accuracy": float(tstr.mean()),
            "tstr_accuracy_per_attribute": dict(zip(names, tstr.tolist())),
            "ssim_recovery_share": rs["share"], "ssim_recovery_mean": rs["mean"],
            "ssim_reference_mean": rs["ref_mean"],
            "l2_recovery_share": rl["share"], "l2_recovery_mean": rl["mean"],
            "frechet": frechet_distance(predict(ev, x, features=True), fref),
            "diversity": diversity(x, ci) if torch.bincount(ci).max() > 1 else None}


# the first conv's matrix (kkt.conv_operator) is formed for faces up to 3·32·32 values; larger
# ones (the GPU profile's 64×64) record the filter spectrum alone
CONV_VIEW_MAX = 3 * 32 * 32

# each generator run: its seed offset, its FaceConfig fields for steps, step size and final step
# factor, what it is
METHOD_RUNS = {
    "gbc": (1000, "gen_steps", "gen_lr", "gbc_lr_final",
            "generator G(z, a, c) trained by the KKT losses"),
    "naive": (2000, "naive_steps", "baseline_lr", "gen_lr_final",
              "generator G(z, a, c) maximizing the requested attributes' margins"),
    "particles": (4000, "particle_steps", "particle_lr", "gen_lr_final",
                  "one free face per training face, the KKT losses"),
    "gbc_warm": (5000, "warm_steps", "warm_lr", "gen_lr_final",
                 "generator G(z, a, c) fitted to the particles' answer, then the KKT losses, "
                 "ending on its lowest logged loss"),
}


def margins_per_attribute(model, x, a, names) -> dict:
    """Mean margin q_a = s_a f_a(x) of the classifier on a set, per attribute."""
    with torch.no_grad():
        q = q_attrs(model(x), a.to(x.device))
    return dict(zip(names, q.mean(0).tolist()))


def run_faces(seed: int = 0, cfg: FaceConfig | None = None, progress: bool = False,
              data_dir=None, data: str = "synthetic", celeba_root=None) -> dict:
    """The whole faces experiment; returns {'metrics', 'samples', 'train', ...} for plotting."""
    t0 = time.perf_counter()
    cfg = cfg or FaceConfig()
    validate(cfg)  # every setting, before any training (gbc_start, restart_start among them)
    torch.set_num_threads(max(1, cfg.threads))
    torch.set_flush_denormal(True)  # double backprop makes denormals, slow on CPU
    dev = get_device(cfg.device)
    s = face_data(seed, cfg, data, celeba_root)
    X, A = (t.to(dev) for t in s["sets"]["train"])
    names, n_attrs = s["info"]["attributes"], A.shape[1]
    ev = load_or_train_attribute_evaluator(*s["sets"]["evaluator"], epochs=cfg.eval_epochs,
                                           device=dev, progress=progress, amp=cfg.amp)
    fref = predict(ev, s["sets"]["test"][0], features=True)

    seed_everything(seed)
    model, lam, hist = train_attribute_classifier(X, A, cfg, progress)
    test_x, test_a = s["sets"]["test"]
    lam_relu = relu_lambda(cfg, X, n_attrs)
    clf = {"architecture": architecture(cfg),
           "train_accuracy": hist["train_acc"][-1],
           "test_accuracy_per_attribute": dict(zip(names, attribute_accuracy(
               model, test_x.to(dev), test_a).tolist())),
           "lambda_relu_twin": {"lambda": dict(zip(lam_relu.names, lam_relu.lam.tolist())),
                                "Pi": [n for n, p in zip(lam_relu.names, lam_relu.Pi) if p],
                                "euler_residual": lam_relu.residual},
           "Pi": "every tensor (weight decay)" if cfg.clf_rule == "weight_decay" else
                 "every tensor (degree-3 homogeneous in all tensors together)",
           "seconds": time.perf_counter() - t0,
           **wd_diagnostics(model, X, A, cfg.wd, chunk=8)}
    if "residual" in hist:  # weight decay: the distance from its stationary point
        clf["residual_history"] = {"step": hist["step"], "residual": hist["residual"]}
    obj = gbc_objective(model, n_attrs, cfg)
    clf["L_stat_of_train_images"] = float(obj(X, A)["L_stat"].detach())
    if cfg.arch == "mlp":  # the faces enter only through W₁x: what of them it can see
        fc = first_layer(model)
        view = first_layer_view(fc.weight, X)
        if cfg.clf_rule == "weight_decay":  # ... and how stationary each of those directions is
            k = min(view["gap_rank"] or view["rank"], len(X))  # rows in the span of n faces
            view["stationarity_by_direction"] = stationarity_by_direction(model, fc, X, A, cfg.wd, k)
        clf["first_layer"] = view
    else:  # ... or through the first conv, a matrix too (dense: formed for small faces only)
        conv = first_layer(model)
        view = (first_layer_view(conv_operator(conv, tuple(X.shape[1:])), X)
                if X[0].numel() <= CONV_VIEW_MAX else {})
        clf["first_layer"] = {**view, "filters": filter_spectrum(conv)}

    combos, held = s["combos"], s["held"]
    every = all_combinations(n_attrs)
    runs = {}
    names_run = ("gbc", "naive", "particles") + (("gbc_warm",) if cfg.gbc_warm else ())

    def train_method(name: str, attempt: int = 0):
        """(G, history) of one generator run; attempt > 0: a restart from another start."""
        offset, steps_field, lr_field, final_field, _ = METHOD_RUNS[name]
        seed_everything(seed + offset + 97 * attempt)
        if name == "particles":  # one free face per training face, the same objective
            G = Particles(1, len(X), tuple(X.shape[1:]), init=cfg.particle_init, seed=seed,
                          labels=A).to(dev)
        else:
            G = FaceGenerator(combos, cfg.z_dim, cfg.per_combination, cfg.gen_channels,
                              size=cfg.size, out_bias=cfg.gen_out_bias).to(dev)
        if name == "gbc_warm":  # start on the particles' answer, as the toy's convex start
            fit_generator(G, *runs["particles"]["G"].sample(), steps=cfg.warm_fit_steps, seed=seed)
        if name == "gbc" and (cfg.restart_start if attempt else cfg.gbc_start) == "noise":
            noise_start(G, X, A, cfg, seed + 97 * attempt)
        o = NaiveObjective(model, n_attrs) if name == "naive" else gbc_objective(model, n_attrs, cfg)
        steps = getattr(cfg, steps_field)
        h = train_generator(G, o.to(dev), steps=steps, batch=2 * len(X), lr=getattr(cfg, lr_field),
                            lr_final=getattr(cfg, final_field), seed=seed + attempt,
                            progress=progress, log_every=max(steps // 20, 1),
                            desc=name + (f" (restart {attempt})" if attempt else ""),
                            surrogate_a=None if name == "naive" else cfg.surrogate_a,
                            keep_best=name == "gbc_warm")
        return G, h

    for name in names_run:
        t1 = time.perf_counter()
        G, h = train_method(name)
        # GBC with L_scale: while the latest run's α ends far from 1/wd (L_scale > scale_tol, a
        # blend), start again from another start (restart_start); keep the run with the lowest
        # final loss (θ alone decides)
        tries = [h]
        while (name == "gbc" and cfg.scale_weight and len(tries) <= cfg.gen_restarts
               and tries[-1]["L_scale"][-1] > cfg.scale_tol):
            G2, h2 = train_method(name, len(tries))
            tries.append(h2)
            if h2["loss"][-1] < h["loss"][-1]:
                G, h = G2, h2
        restarts = ([{k: t[k][-1] for k in ("loss", "L_stat", "L_scale", "alpha")} for t in tries]
                    if len(tries) > 1 else None)
        if name == "particles":
            x, a = (t.cpu() for t in G.sample())
            held_x = held_a = None
        else:
            x, a = sample_set(G, combos, cfg.samples_per_combination, seed + 7)
            held_x, held_a = sample_set(G, held, cfg.samples_per_combination, seed + 8)
        runs[name] = {"G": G, "x": x, "a": a, "held": (held_x, held_a), "hist": h,
                      "restarts": restarts, "seconds": time.perf_counter() - t1}
    metrics = {"seed": seed, "config": asdict(cfg), "data": s["info"], "classifier": clf,
               "evaluator": {"what": "AttributeEvaluator, trained on fresh faces",
                             "n_train": s["info"]["sizes"]["evaluator"],
                             "accuracy_on_test": float(attribute_accuracy(ev, test_x, test_a).mean())},
               "bnstat_skipped": "the classifier has no batch norm: no statistics to match "
                                 "(DeepInversion); free particles are the second baseline"}
    for name, r in runs.items():
        row = judge(r["x"], r["a"], s, ev, fref, cfg, dev)
        if r["held"][0] is not None:  # combinations the classifier never saw
            row["held_out_evaluator_accuracy"] = float(attribute_accuracy(ev, *r["held"]).mean())
        row["margins_per_attribute"] = margins_per_attribute(model, r["x"].to(dev), r["a"], names)
        logged = {k: v for k, v in r["hist"].items() if k not in ("step", "kept_step")}
        kept = kept_index(r["hist"])
        row["final_losses"] = {k: v[kept] for k, v in logged.items()}
        row["start_losses"] = {k: v[0] for k, v in logged.items()}
        if "kept_step" in r["hist"]:
            row["kept_step"] = r["hist"]["kept_step"]
        if r["restarts"]:
            row["restarts"] = r["restarts"]
        row["train_seconds"] = r["seconds"]
        row["what"] = METHOD_RUNS[name][-1]
        metrics[name] = row
    if cfg.arch == "mlp":  # what W₁ sees of each method's images: the rest is its start's
        W1 = first_layer(model).weight
        for name in [n for n in names_run if n != "naive"]:
            x, a = runs[name]["x"], runs[name]["a"]
            xs = seen_part(W1, x)
            L_seen = obj(xs.to(dev), a.to(dev))["L_stat"]  # closed α, no q_min: stateless
            metrics[f"{name}_seen"] = {
                **judge(xs, a, s, ev, fref, cfg, dev), "L_stat": float(L_seen.detach()),
                "what": f"{name}'s images projected on W₁'s row space (kkt.seen_part)"}
            runs[name]["x_seen"] = xs
    metrics["real"] = judge(*s["sets"]["pool_real"], s, ev, fref, cfg, dev)
    metrics["real"]["what"] = "fresh real faces of the training combinations (never seen)"
    metrics["train_images"] = judge(X.cpu(), A.cpu(), s, ev, fref, cfg, dev)
    metrics["train_images"]["what"] = "the classifier's training faces: a perfect recovery"
    metrics["seconds"] = time.perf_counter() - t0
    return {"metrics": metrics, "model": model, "lam": lam, "lam_relu": lam_relu, "cfg": cfg,
            "train": (X.cpu(), A.cpu()), "combos": combos, "held": held, "every": every,
            "samples": {**{k: (r["x"], r["a"]) for k, r in runs.items()},
                        **{f"{k}_seen": (r["x_seen"], r["a"]) for k, r in runs.items()
                           if "x_seen" in r}},
            "held_samples": {k: r["held"] for k, r in runs.items() if r["held"][0] is not None},
            "generators": {k: r["G"] for k, r in runs.items()},
            "history": {"classifier": hist, **{k: r["hist"] for k, r in runs.items()}},
            "real": s["sets"]["pool_real"]}


def _data(seed: int, cfg: FaceConfig, data_dir=None, data: str = "synthetic", celeba_root=None):
    return face_data(seed, cfg, data, celeba_root)


def _classifier(d: dict, cfg: FaceConfig):
    return train_attribute_classifier(*d["sets"]["train"], cfg)


EXPERIMENT = Experiment(
    name="faces", help="Faces: a generator from one multi-label attribute classifier",
    config=FaceConfig.profile, data=_data, classifier=_classifier, run=run_faces,
    write=write_faces, report=report, profiles=("default", "recovery", "paper-scale"),
    profile_help=PROFILES,
    options={"data": Option("synthetic", "synthetic (procedural faces, offline) or celeba"),
             "celeba_root": Option(None, "folder of CelebA in the official layout")})
