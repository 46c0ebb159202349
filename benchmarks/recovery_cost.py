"""What the recovery profile of `gbc-teach mnist` costs on this machine, measured in one run.

    .venv/bin/python benchmarks/recovery_cost.py [--n-per-class 1] [--json]

Times the weight-decay classifier (Adam steps a second, L-BFGS iterations a second, seconds to
reach a stated stationarity residual) and, beside it, one training step of GBC (conv generator,
pairs stationarity), of free particles and of the paper's 'q' form, and the whole row-space
reconstruction (its linear programs), on the same frozen classifier. Ratios are of timings taken
in this run, on real MNIST when $GBC_DATA_DIR (or data/) has it, else on the bundled fallback
digits.
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import torch

from gbc_teach.baselines import rowspace
from gbc_teach.baselines.particles import Particles
from gbc_teach.datasets.mnist import to_float_images
from gbc_teach.experiments import image_nets, mnist, mnist_config
from gbc_teach.homogeneity import every_tensor
from gbc_teach.losses import GBCObjective
from gbc_teach.training import train_weight_decay

THRESHOLDS = (0.1, 0.03, 0.01)


def classifier_cost(X, y, cfg) -> dict:
    """One full training run, logged every 10 steps: rates and time to each threshold."""
    torch.manual_seed(0)
    model = image_nets.make_classifier(cfg)
    t0 = time.perf_counter()
    hist = train_weight_decay(model, X, y, wd=cfg.wd, adam_steps=cfg.clf_steps, lr=cfg.wd_lr,
                              lbfgs_iters=cfg.clf_lbfgs, log_every=10, progress=False)
    total = time.perf_counter() - t0
    marks = list(zip(hist["seconds"], hist["residual"], hist["step"]))
    t_adam = next((t for t, _, s in marks if s >= cfg.clf_steps), total)
    to = {str(th): next((round(t, 2) for t, r, _ in marks if r <= th), None) for th in THRESHOLDS}
    ran = hist["step"][-1] - cfg.clf_steps  # L-BFGS iterations that ran (the history counts them)
    return {"seconds": round(total, 2), "adam_steps_per_s": round(cfg.clf_steps / t_adam, 1),
            "lbfgs_iters": ran, "lbfgs_iters_per_s": round(ran / max(total - t_adam, 1e-9), 1),
            "final_residual": hist["residual"][-1], "seconds_to_residual": to,
            "model": model}


def step_cost(model, make, objective, repeats: int = 20) -> float:
    """Median seconds of one generator step (forward, double backward, Adam)."""
    G = make()
    opt = torch.optim.Adam([p for p in G.parameters() if p.requires_grad], lr=1e-3)
    gen = torch.Generator().manual_seed(0)
    times = []
    for i in range(repeats + 3):
        t0 = time.perf_counter()
        x, yy, w = G.training_batch(200, gen)
        loss = objective(x, yy, w)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if i >= 3:  # warm-up steps are not counted
            times.append(time.perf_counter() - t0)
    return sorted(times)[len(times) // 2]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n-per-class", type=int, default=1)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    cfg = mnist_config.MnistConfig.recovery(n_per_class=args.n_per_class)
    data = mnist.load_data(quiet=True)
    split, cfg = mnist.mnist_split(data.labels, cfg, 0)
    X = to_float_images(data.images[split["train"]])
    y = torch.from_numpy(data.labels[split["train"]]).long()

    clf = classifier_cost(X, y, cfg)
    model = clf.pop("model")
    lam = every_tensor(model)

    def objective(form):
        return GBCObjective(model, lam.Pi, 1.0, 10, qmin_mode="none", alpha_mode="closed",
                            stat_form=form, class_weights=False)

    steps = {"gbc_pairs": step_cost(model, lambda: image_nets.make_generator(cfg), objective("pairs")),
             "gbc_q": step_cost(model, lambda: image_nets.make_generator(cfg), objective("q")),
             "particles_pairs": step_cost(model, lambda: Particles(10, len(y)), objective("pairs"))}
    t0 = time.perf_counter()
    try:  # the row-space reconstruction: LPs, no generator steps
        rowspace.recover(model, (1, 28, 28), **cfg.rowspace_options())
        t_rs = time.perf_counter() - t0
    except ValueError:  # no gap in W₁'s spectrum: nothing to time
        t_rs = None
    out = {"machine": platform.processor() or platform.machine(), "threads": args.threads,
           "data": data.split, "n_train": len(y), "architecture": image_nets.architecture(cfg),
           "classifier": clf,
           "step_seconds": {k: round(v, 5) for k, v in steps.items()},
           "rowspace_seconds": None if t_rs is None else round(t_rs, 2),
           "ratios": {"pairs_over_q": round(steps["gbc_pairs"] / steps["gbc_q"], 3),
                      "gbc_over_particles": round(steps["gbc_pairs"] / steps["particles_pairs"], 2),
                      "classifier_over_gbc_run": round(
                          clf["seconds"] / (steps["gbc_pairs"] * cfg.gen_steps), 3),
                      "rowspace_over_gbc_run": None if t_rs is None else round(
                          t_rs / (steps["gbc_pairs"] * cfg.gen_steps), 3)}}
    if args.json:
        print(json.dumps(out, indent=1))
        return 0
    c = out["classifier"]
    print(f"{out['architecture']} on {out['n_train']} {out['data']} images, {args.threads} thread(s)")
    print(f"classifier: {c['seconds']} s in all; Adam {c['adam_steps_per_s']} steps/s, "
          f"L-BFGS {c['lbfgs_iters']} iterations at {c['lbfgs_iters_per_s']}/s; "
          f"final residual {c['final_residual']:.4f}")
    print("  seconds to residual " + ", ".join(f"≤ {k}: {v}" for k, v in c["seconds_to_residual"].items()))
    print("one training step (batch 200): " + ", ".join(f"{k} {v * 1e3:.1f} ms"
                                                        for k, v in out["step_seconds"].items()))
    print(f"row-space reconstruction ({cfg.rowspace_lps} LPs, {cfg.rowspace_rounds} rounds, "
          f"{cfg.rowspace_reweight} re-weightings): "
          + ("no gap in W₁'s spectrum" if t_rs is None else f"{out['rowspace_seconds']} s"))
    print("ratios measured in this run: " + ", ".join(f"{k} {v}" for k, v in out["ratios"].items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
