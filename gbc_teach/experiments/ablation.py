"""α from the KKT conditions, and ablations of the GBC losses on the 2-D toy (docs/method.md §5–8;
notebook 04, script scripts/toy_ablation.py).

§5: at a KKT point, with p the distribution μ/Σμ over the constraints,

    Πθ = α · E_p[∇_θ q],   α = λ_max ‖Πθ‖² / q_min,

because ⟨Λθ, ∇q⟩ = q (Euler) turns ⟨Λθ, Πθ⟩ = λ_max‖Πθ‖² into α·E_p[q] and every constraint
with μ > 0 has q = q_min. `alpha_check` measures every piece of this on a trained classifier.

The ablation trains the classifier once per seed (and per classifier setting) and every
generator variant against it, with the seeding of `toy2d.run_toy2d`, so the default row is
the GBC row of `gbc-teach toy2d`.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, fields, replace

import numpy as np
import torch

from ..datasets.toy2d import make_toy2d
from ..evaluation.points import dictionary_scores, precision, radius, sv_recall
from ..gbc import kept_index
from ..kkt import constraints, flat_Pi_theta, kkt_fit, margin_jacobian, nnls_gram
from ..losses import GBCObjective
from ..margins import q as margin
from ..utils import seed_everything
from .toy2d import ToyConfig, convex_scan, train_gbc, train_toy_classifier

# ---------------------------------------------------------------------------------------------
# §5: α from the KKT conditions


def constraint_values(model, X: torch.Tensor, y: torch.Tensor, pairs: bool = True) -> torch.Tensor:
    """The constraint values in the row order of `kkt.margin_jacobian`: f_y − f_j for every
    point i and wrong class j (pairs=True), or q_i (pairs=False)."""
    with torch.no_grad():
        return constraints(model(X), y, pairs)[0]


def alpha_check(model, X: torch.Tensor, y: torch.Tensor, lam: torch.Tensor, Pi: torch.Tensor,
                pairs: bool = True) -> dict:
    """Every quantity of the §5 identity on real points, with μ ≥ 0 fitted by NNLS.

    Returns a dict of floats: residual ‖Πθ − Σμ_r∇q_r‖/‖Πθ‖; alpha_mu = Σμ_r (the α of the fit);
    alpha_ls = ⟨Πθ, v⟩/‖v‖² with v = E_p[∇q], p = μ/Σμ; alpha_kkt = λ_max‖Πθ‖²/q_min;
    Ep_q = E_p[q]; q_min (smallest margin of the points); cos2 = cos²(Πθ, v);
    euler_gap = ⟨Λθ, v⟩/E_p[q] − 1 (0 up to rounding for a Λ-quasi-homogeneous net);
    qmin_tied = λ_max‖Πθ‖²/alpha_ls (q_min read back from the best α); slack_max = the largest
    q_r/q_min over constraints with p_r > 1% (complementary slackness asks 1).
    pairs: one constraint f_y − f_j per wrong class j (the multi-class max-margin problem) or
    one per point (q's max picks the runner-up; a tie between runner-ups breaks the fit).
    """
    J, _, _ = margin_jacobian(model, X, y, pairs=pairs)  # (R, P) rows ∇_θ q_r
    J = J.double()
    t = flat_Pi_theta(model, Pi).double()  # Πθ, (P,)
    lam_theta = torch.cat([p.detach().flatten().double() * float(l)
                           for p, l in zip(model.parameters(), lam)])  # Λθ, (P,)
    cons = constraint_values(model, X, y, pairs).double()  # q_r, (R,)
    mu = torch.from_numpy(nnls_gram(J, t))
    M = float(mu.sum())
    if M <= 0:
        raise ValueError("NNLS put no weight on any constraint: is the classifier trained?")
    p = mu / M
    v = p @ J  # E_p[∇_θ q], (P,)
    t_sq, tv, vv = float(t @ t), float(t @ v), float(v @ v)
    lam_max = float(lam[Pi].max())
    Ep_q = float(p @ cons)
    with torch.no_grad():
        q_min = float(margin(model(X), y).min())
    alpha_ls = tv / vv
    active = p > 0.01 * float(p.max())
    return {
        "residual": float((t - J.T @ mu).norm() / math.sqrt(t_sq)),
        "alpha_mu": M,
        "alpha_ls": alpha_ls,
        "alpha_kkt": lam_max * t_sq / q_min,  # α = λ_max ‖Πθ‖² / q_min
        "Ep_q": Ep_q,
        "q_min": q_min,
        "cos2": tv * tv / (t_sq * vv),
        "euler_gap": float(lam_theta @ v) / Ep_q - 1,  # ⟨Λθ, E_p∇q⟩ = E_p[q]
        "qmin_tied": lam_max * t_sq / alpha_ls,  # tied q_min at the best α
        "slack_max": float(cons[active].max()) / q_min,
        "n_active": int(active.sum()),
    }


# ---------------------------------------------------------------------------------------------
# The ablation table on the toy

# (name, ToyConfig overrides); the first row that changes nothing is the reference
VARIANTS: list[tuple[str, dict]] = [
    ("stationarity only", {"qmin_mode": "none"}),
    ("+ duality, q_min tied to α", {"qmin_mode": "tied"}),
    ("+ duality, free q_min (default)", {}),
    ("+ duality, q_min = E_w[q]", {"qmin_mode": "mean"}),
    ("α learned (default: closed form)", {"alpha_mode": "learned"}),
    ("no class weights", {"class_weights": False}),
    ("n_codes = 1 (default 8)", {"n_codes": 1}),
    ("classifier init ×1.0 (default 0.1)", {"init_scale": 1.0}),
    ("ReLU classifier, exact ReLU'", {"act": "relu", "surrogate_a": None}),
    ("ReLU classifier, surrogate a=3", {"act": "relu", "surrogate_a": 3.0}),
]

CLASSIFIER_FIELDS = ("n_classes", "n_per_class", "width", "rbf_side", "rbf_width", "init_scale",
                     "clf_steps", "clf_lr", "clf_lr_final", "act")


def classifier_key(cfg: ToyConfig) -> tuple:
    """Configs with the same key share one trained classifier (for one seed)."""
    return tuple(getattr(cfg, f) for f in CLASSIFIER_FIELDS)


def with_overrides(cfg: ToyConfig, overrides: dict) -> ToyConfig:
    names = {f.name for f in fields(ToyConfig)}
    bad = set(overrides) - names
    if bad:
        raise ValueError(f"unknown ToyConfig fields {sorted(bad)}")
    return ToyConfig(**{**asdict(cfg), **overrides})


def fixed_alpha_objective(model, lam, cfg: ToyConfig, alpha: float):
    """GBCObjective with α frozen at `alpha` and q_min tied to it: q_min = λ_max‖Πθ‖²/α."""
    obj = GBCObjective(model, lam.Pi, lam.lam_max, cfg.n_classes, qmin_mode="tied",
                       beta=cfg.beta, kappa=cfg.kappa, class_weights=cfg.class_weights,
                       alpha_mode="learned")
    with torch.no_grad():
        obj.log_alpha.fill_(math.log(alpha))
    obj.log_alpha.requires_grad_(False)
    obj.initialized = True  # skip the data-driven initialization of α
    return obj


def evaluate(G, data, kkt, cfg: ToyConfig, seed: int) -> dict:
    """SV recall and precision of G's samples (docs/method.md §8), sampled as in run_toy2d."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        xs, ys = G.sample(cfg.n_eval_samples, generator=g)
    r = radius(data.X)
    return {"sv_recall": sv_recall(xs, ys, data.X, data.y, kkt.support, r),
            "precision": precision(xs, ys, data.X, data.y, r)}


def ablation_seed(seed: int, base: ToyConfig, variants=VARIANTS, log=None) -> list[dict]:
    """Every variant on one seed; one classifier per distinct classifier setting."""
    classifiers: dict[tuple, tuple] = {}
    rows = []
    for name, overrides in variants:
        cfg = with_overrides(base, overrides)
        key = classifier_key(cfg)
        if key not in classifiers:
            t0 = time.perf_counter()
            seed_everything(seed)  # as in run_toy2d: same data, same init
            data = make_toy2d(seed, cfg.n_classes, cfg.n_per_class)
            model, lam, _ = train_toy_classifier(data, cfg)
            kkt = kkt_fit(model, data.X, data.y, lam.Pi)
            classifiers[key] = (data, model, lam, kkt, time.perf_counter() - t0)
        data, model, lam, kkt, clf_seconds = classifiers[key]
        t0 = time.perf_counter()
        G, _, hist = train_gbc(model, lam, cfg, seed)
        gen_seconds = time.perf_counter() - t0
        row = {"seed": seed, "variant": name, "overrides": overrides,
               **evaluate(G, data, kkt, cfg, seed),
               "L_stat": hist["L_stat"][-1],
               # the generator's q_min estimate / the true one ('none' has no q_min)
               "q_min_ratio": (None if cfg.qmin_mode == "none"
                               else hist["q_min"][-1] / kkt.q_min),
               "kkt_residual": kkt.residual, "n_support": kkt.n_support,
               "gen_seconds": gen_seconds, "clf_seconds": clf_seconds,
               "history": {k: hist[k] for k in ("step", "L_stat", "q_min", "alpha")}}
        row["history"]["q_min"] = [v / kkt.q_min for v in row["history"]["q_min"]]
        rows.append(row)
        if log is not None:
            log(f"seed {seed} | {name:36s} | recall {row['sv_recall']:.2f} precision "
                f"{row['precision']:.2f} L_stat {row['L_stat']:.3f} "
                f"q_min/true {_f(row['q_min_ratio'])} | {gen_seconds:.0f} s")
    return rows


def run_ablation(seeds=(0, 1, 2), base: ToyConfig | None = None, variants=VARIANTS,
                 log=None, on_seed=None) -> dict:
    """The ablation over seeds; on_seed(result_so_far) after each seed (e.g. to save it)."""
    base = base or ToyConfig()
    out = {"config": asdict(base), "seeds": list(seeds),
           "variants": [[n, o] for n, o in variants], "rows": []}
    t0 = time.perf_counter()
    for s in seeds:
        out["rows"] += ablation_seed(s, base, variants, log)
        out["seconds"] = time.perf_counter() - t0
        if on_seed is not None:
            on_seed(out)
    return out


def summarize(result: dict) -> list[dict]:
    """One row per variant: means over seeds (and the per-seed recall/precision)."""
    table = []
    for name, _ in result["variants"]:
        rows = sorted((r for r in result["rows"] if r["variant"] == name), key=lambda r: r["seed"])
        if not rows:
            continue
        def mean(k):
            vals = [r[k] for r in rows if r[k] is not None]
            return statistics.fmean(vals) if vals else None

        table.append({"variant": name, "n_seeds": len(rows),
                      "sv_recall": mean("sv_recall"), "precision": mean("precision"),
                      "L_stat": mean("L_stat"), "q_min_ratio": mean("q_min_ratio"),
                      "gen_seconds": mean("gen_seconds"), "clf_seconds": mean("clf_seconds"),
                      "kkt_residual": mean("kkt_residual"),
                      "recall_per_seed": [r["sv_recall"] for r in rows],
                      "precision_per_seed": [r["precision"] for r in rows]})
    return table


def _f(x, spec=".2f") -> str:
    return "—" if x is None else format(x, spec)


def format_table(summary: list[dict]) -> str:
    """The summary as a Markdown table."""
    head = ("| variant | SV recall | precision | final L_stat | q_min est./true | "
            "KKT residual | seconds (gen + clf) | recall per seed | precision per seed |\n"
            "|---|---|---|---|---|---|---|---|---|\n")
    fmt = lambda xs: " / ".join(f"{x:.2f}" for x in xs)
    lines = [f"| {r['variant']} | {r['sv_recall']:.2f} | {r['precision']:.2f} | "
             f"{r['L_stat']:.3f} | {_f(r['q_min_ratio'])} | {r['kkt_residual']:.3f} | "
             f"{r['gen_seconds']:.0f} + {r['clf_seconds']:.0f} | {fmt(r['recall_per_seed'])} | "
             f"{fmt(r['precision_per_seed'])} |" for r in summary]
    return head + "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# The convex reconstruction with a data-free q_min, beside GBC (scripts/toy_convex.py)


def convex_seed(seed: int, cfg: ToyConfig, gbc: bool = True, convex_gbc: bool = True) -> dict:
    """One seed: the classifier of `gbc-teach toy2d`; q_min read off the classifier alone
    (`toy2d.convex_scan`: `kkt.scan_q_min` on a cfg.scan_side² grid); the dictionary fit in that
    band, scored like a generator; (gbc=True) the GBC generator of `gbc-teach toy2d` on the same
    classifier; and (convex_gbc=True) the same generator started from that fit (start="convex")."""
    t0 = time.perf_counter()
    seed_everything(seed)  # as in run_toy2d: same data, same init
    data = make_toy2d(seed, cfg.n_classes, cfg.n_per_class)
    model, lam, _ = train_toy_classifier(data, cfg)
    kkt = kkt_fit(model, data.X, data.y, lam.Pi)
    clf_seconds, t1 = time.perf_counter() - t0, time.perf_counter()
    scan = convex_scan(model, lam, cfg)  # with the fit in the best band
    keep = scan["keep"]
    r = radius(data.X)
    row = {"seed": seed, "kkt_residual": kkt.residual, "n_support": kkt.n_support,
           "q_min_ratio": scan["q_min"] / kkt.q_min,
           "dict_residual": float(np.nanmin(scan["residual"].numpy())),
           **dictionary_scores(scan["cand"][keep], scan["lab"][keep], scan["mu"], data.X, data.y,
                               kkt.support, r),
           "scan": {"s_over_q_min": (scan["s"] / kkt.q_min).tolist(),
                    "residual": scan["residual"].tolist()},
           "clf_seconds": clf_seconds, "convex_seconds": time.perf_counter() - t1}
    for key, start, wanted in (("gbc", "random", gbc), ("gbc_convex", "convex", convex_gbc)):
        if wanted:
            t2 = time.perf_counter()
            G, _, hist = train_gbc(model, lam, replace(cfg, start=start), seed, scan=scan)
            ev = evaluate(G, data, kkt, cfg, seed)
            kept = kept_index(hist)  # the convex start keeps its lowest-loss state
            row[key] = {"sv_recall": ev["sv_recall"], "precision": ev["precision"],
                        "L_stat": hist["L_stat"][kept],
                        "kept_step": hist["step"][kept], "L_stat_start": hist["L_stat"][0],
                        "q_min_ratio": hist["q_min"][-1] / kkt.q_min,
                        "seconds": time.perf_counter() - t2}
    return row
