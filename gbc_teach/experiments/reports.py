"""What the MNIST experiments write and print: tables, the targets, the run folder's files
(docs/method.md §8; notebooks 05, 05b, 06)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..utils import as_uint8, atomic_save_npz, atomic_savefig, atomic_write_json
from ..viz.plots import image_grid
from ..viz.recovery import nearest_figure, recovery_figure

METHODS = ("gbc", "particles", "rowspace", "naive", "bnstat", "real", "train_images")
JUDGE_KEYS = ("second_evaluator_accuracy", "tstr_accuracy")


def _cell(v, digits: int = 3) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def markdown_table(m: dict, rows=METHODS, keys=None, digits: int = 3) -> str:
    """A markdown table of the per-method metrics m[row][key] (rows missing from m skipped);
    the second evaluator and train-on-synthetic/test-on-real columns when they were measured."""
    judged = any(k in m.get(r, {}) for r in rows for k in JUDGE_KEYS)
    keys = keys or ("evaluator_accuracy", *(JUDGE_KEYS if judged else ()), "ssim_recovery_share",
                    "ssim_recovery_mean", "l2_recovery_share", "frechet", "diversity")
    lines = ["| method | " + " | ".join(keys) + " |", "|---" * (len(keys) + 1) + "|"]
    for r in rows:
        if r in m:
            cells = [_cell(m[r].get(k), digits) for k in keys]
            lines.append(f"| {r} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def target_rows(m: dict) -> list[dict]:
    """The paper-setting targets of the MNIST experiments against the measured metrics.

    Single classifier (m has 'naive'): GBC evaluator accuracy ≥ 0.9 and above both baselines;
    Fréchet below both baselines and ≤ 3× real; SSIM recovery share above real's.
    Several classifiers (m has 'classifiers'): evaluator accuracy over ten digits ≥ 0.85.
    Each row: {'target', 'measured', 'met'}.
    """
    g, real = m["gbc"], m["real"]
    if "classifiers" in m:
        return [{"target": "evaluator accuracy over ten digits ≥ 0.85",
                 "measured": f"{g['evaluator_accuracy']:.3f}",
                 "met": g["evaluator_accuracy"] >= 0.85}]
    base = [k for k in ("naive", "bnstat") if k in m]  # no BN-stat row for a classifier without BN
    names = " and ".join({"naive": "naive", "bnstat": "BN-stat"}[k] for k in base)
    acc = {k: m[k]["evaluator_accuracy"] for k in ("gbc", *base)}
    fr = {k: m[k]["frechet"] for k in ("gbc", *base, "real")}
    return [
        {"target": "GBC evaluator accuracy ≥ 0.9", "measured": f"{acc['gbc']:.3f}",
         "met": acc["gbc"] >= 0.9},
        {"target": f"GBC evaluator accuracy above {names}",
         "measured": f"{acc['gbc']:.3f} vs " + ", ".join(f"{acc[k]:.3f}" for k in base),
         "met": all(acc["gbc"] > acc[k] for k in base)},
        {"target": f"GBC Fréchet below {names}",
         "measured": f"{fr['gbc']:.3g} vs " + ", ".join(f"{fr[k]:.3g}" for k in base),
         "met": all(fr["gbc"] < fr[k] for k in base)},
        {"target": "GBC Fréchet ≤ 3 × real",
         "measured": f"{fr['gbc']:.3g} vs 3 × {fr['real']:.3g} = {3 * fr['real']:.3g}",
         "met": fr["gbc"] <= 3 * fr["real"]},
        {"target": "GBC SSIM recovery share above real",
         "measured": f"{g['ssim_recovery_share']:.3f} vs {real['ssim_recovery_share']:.3f}",
         "met": g["ssim_recovery_share"] > real["ssim_recovery_share"]},
    ]


def recovery_target_rows(m: dict) -> list[dict]:
    """The recovery targets: GBC gives the training images back (SSIM share ≥ 0.6, L2 share
    above real), and its samples are digits by every judge (both evaluators ≥ 0.9,
    train-on-synthetic/test-on-real ≥ 0.8, Fréchet ≤ 3× real)."""
    g, real = m["gbc"], m["real"]

    def row(target, measured, met):
        return {"target": target, "measured": measured, "met": bool(met)}

    rows = [row("GBC SSIM recovery share ≥ 0.6", f"{g['ssim_recovery_share']:.3f}",
                g["ssim_recovery_share"] >= 0.6),
            row("GBC L2 recovery share above real", f"{g['l2_recovery_share']:.3f} vs "
                f"{real['l2_recovery_share']:.3f}", g["l2_recovery_share"] > real["l2_recovery_share"]),
            row("GBC evaluator accuracy ≥ 0.9", f"{g['evaluator_accuracy']:.3f}",
                g["evaluator_accuracy"] >= 0.9)]
    if "second_evaluator_accuracy" in g:
        rows += [row("GBC second-evaluator accuracy ≥ 0.9", f"{g['second_evaluator_accuracy']:.3f}",
                     g["second_evaluator_accuracy"] >= 0.9),
                 row("GBC train-on-synthetic/test-on-real ≥ 0.8", f"{g['tstr_accuracy']:.3f} "
                     f"(real: {real['tstr_accuracy']:.3f})", g["tstr_accuracy"] >= 0.8)]
    rows.append(row("GBC Fréchet ≤ 3 × real", f"{g['frechet']:.3g} vs 3 × {real['frechet']:.3g}",
                    g["frechet"] <= 3 * real["frechet"]))
    return rows


def targets_markdown(m: dict, rows=None) -> str:
    """target_rows(m) (or the given rows) as a markdown table."""
    lines = ["| target | measured | met |", "|---|---|---|"]
    lines += [f"| {r['target']} | {r['measured']} | {'yes' if r['met'] else '**no**'} |"
              for r in (target_rows(m) if rows is None else rows)]
    return "\n".join(lines)


def as_uint8_grey(x: torch.Tensor) -> np.ndarray:
    """(N, 1, 28, 28) digits in [0, 1] as (N, 28, 28) uint8."""
    return as_uint8(x[:, 0])


def write_artifacts(res: dict, out: Path, per_row: int = 10) -> list[str]:
    """metrics.json, samples.png (one row a class, per method), nearest.png, recovery.png (with
    particles), samples.npz, train_subset.npz — each written atomically; returns their names."""
    out.mkdir(parents=True, exist_ok=True)
    written = ["metrics.json", "samples.png", "nearest.png", "samples.npz", "train_subset.npz"]
    tx, ty = res["train"]
    x, y = res["samples"]["gbc"]
    atomic_savefig(image_grid(x, y, nrow=per_row), out / "samples.png")
    for name, (xb, yb) in res["samples"].items():
        if name != "gbc":
            atomic_savefig(image_grid(xb, yb, nrow=per_row), out / f"samples_{name}.png")
            written.append(f"samples_{name}.png")
    atomic_savefig(nearest_figure(tx, ty, x, y), out / "nearest.png")
    if "particles" in res["samples"]:  # the recovery profile: every method against the images
        atomic_savefig(recovery_figure(tx, ty, res["samples"]), out / "recovery.png")
        written.append("recovery.png")
    arrays = {"images": as_uint8_grey(x), "labels": y.numpy()}
    for name, (xb, yb) in res["samples"].items():
        if name != "gbc":
            arrays[f"{name}_images"], arrays[f"{name}_labels"] = as_uint8_grey(xb), yb.numpy()
    atomic_save_npz(out / "samples.npz", **arrays)
    atomic_save_npz(out / "train_subset.npz", images=as_uint8_grey(tx), labels=ty.numpy(),
              indices=np.asarray(res["split"]["train"]))
    atomic_write_json(res["metrics"], out / "metrics.json")
    return written


# ---------------------------------------------------------------------------- the terminal
SUMMARY_KEYS = ("evaluator_accuracy", "second_evaluator_accuracy", "tstr_accuracy",
                "ssim_recovery_share", "l2_recovery_share", "frechet", "diversity")


def summary(m: dict) -> str:
    """A short table of the per-method metrics."""
    rows = [k for k in METHODS if k in m]
    keys = [k for k in SUMMARY_KEYS if any(k in m[r] for r in rows)]
    short = {"evaluator_accuracy": "evaluator", "second_evaluator_accuracy": "evaluator 2",
             "tstr_accuracy": "TSTR", "ssim_recovery_share": "SSIM recov.",
             "l2_recovery_share": "L2 recov."}
    lines = [f"{'':13s}" + "".join(f"{short.get(k, k):>13s}" for k in keys)]
    for r in rows:
        lines.append(f"{r:13s}" + "".join(
            f"{'—' if m[r].get(k) is None else format(m[r][k], '.4f'):>13s}" for k in keys))
    return "\n".join(lines)


def report(res: dict) -> str:
    """What `gbc-teach mnist` prints: the data, the classifier's numbers, the metrics table."""
    m = res["metrics"]
    clf = m.get("classifier") or m["classifiers"]
    if isinstance(clf, dict):  # the residual's history is for plots, not for the terminal
        clf = {k: v for k, v in clf.items() if k != "residual_history"}
    head = json.dumps({"data.split": m["data"]["split"], "classifier": clf}, indent=1,
                      default=str)[:2000]
    warning = ["", m["data"]["warning"]] if m["data"]["fallback"] else []
    return "\n".join([head, summary(m), f"seconds: {m['seconds']:.0f}", *warning])
