"""What `gbc-teach mnist` writes and prints: figures, tables, the targets, artifacts, CLI.

Split from gbc_teach.mnist (the experiment itself); its names are re-exported there, so
`mnist.nearest_figure`, `mnist.write_artifacts` and `mnist.add_mnist_commands` keep working.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
import torch


# -------------------------------------------------------------------------------- artifacts
def nearest_same_class(train_x, train_y, idx, x, y) -> dict[int, tuple[int, float]]:
    """For each training index in idx: (index into x, SSIM) of its most similar same-class image
    of x; indices whose class x lacks are left out. One SSIM matrix per class."""
    from .image_metrics import ssim_matrix

    ty, yy, idx = np.asarray(train_y), np.asarray(y), np.asarray(idx)
    out = {}
    for c in np.unique(ty[idx]):
        it, ic = idx[ty[idx] == c], np.flatnonzero(yy == c)
        if len(ic):
            S = ssim_matrix(train_x[it], x[ic])  # (len(it), n_c)
            for row, i in zip(S, it):
                out[int(i)] = (int(ic[int(row.argmax())]), float(row.max()))
    return out


def nearest_figure(train_x, train_y, x, y, per_class: int = 2, label: str = "GBC"):
    """Training images (top of each pair) above their most similar (SSIM) same-class sample;
    `label` names the candidate set (e.g. "real pool")."""
    import matplotlib.pyplot as plt

    ty = train_y.numpy()
    idx = np.concatenate([np.flatnonzero(ty == c)[:per_class] for c in np.unique(ty)])
    best = nearest_same_class(train_x, train_y, idx, x, y)
    tops = [train_x[i, 0].numpy() for i in idx if i in best]
    bots = [x[best[i][0], 0].numpy() for i in idx if i in best]
    labels = [f"{ty[i]}: {best[i][1]:.2f}" for i in idx if i in best]
    n = len(tops)
    fig, axes = plt.subplots(2, n, figsize=(0.75 * n, 1.9), squeeze=False)
    for j in range(n):
        for i, im in enumerate((tops[j], bots[j])):
            axes[i, j].imshow(im, cmap="gray", vmin=0, vmax=1)
            axes[i, j].set_xticks([])
            axes[i, j].set_yticks([])
        axes[1, j].set_xlabel(labels[j], fontsize=6)
    axes[0, 0].set_ylabel("train", fontsize=7)
    axes[1, 0].set_ylabel(f"nearest\n{label}", fontsize=7)
    fig.tight_layout(pad=0.2)
    return fig


def recovery_figure(train_x, train_y, samples: dict, methods=("gbc", "particles", "naive"),
                    per_row: int = 10):
    """One column a training image (the first `per_row`, sorted by class): the image, then the
    most similar (SSIM) same-class sample of each method."""
    import matplotlib.pyplot as plt

    methods = [k for k in methods if k in samples]
    order = torch.argsort(train_y, stable=True)[:per_row]
    best = {name: nearest_same_class(train_x, train_y, order, *samples[name]) for name in methods}
    fig, axes = plt.subplots(1 + len(methods), len(order), squeeze=False,
                             figsize=(0.8 * len(order) + 1.2, 0.85 * (1 + len(methods)) + 0.3))
    for j, i in enumerate(order.tolist()):
        ims = [train_x[i, 0]]
        for name in methods:
            x = samples[name][0]
            ims.append(x[best[name][i][0], 0] if i in best[name] else torch.zeros_like(ims[0]))
        for r, im in enumerate(ims):
            axes[r, j].imshow(im.numpy(), cmap="gray", vmin=0, vmax=1)
            axes[r, j].set_xticks([])
            axes[r, j].set_yticks([])
    for r, label in enumerate(["training image", *methods]):
        axes[r, 0].set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    fig.subplots_adjust(left=0.13, right=0.99, top=0.99, bottom=0.01, wspace=0.05, hspace=0.05)
    return fig


def best_ssim(train_x, train_y, x, y) -> np.ndarray:
    """Each training image's best SSIM with a same-class image of (x, y); −inf if none.

    The per-image scores behind `image_metrics.recovery`: its share is the mean of
    best_ssim(train, cand) > best_ssim(train, reference).
    """
    out = np.full(len(train_y), -np.inf)
    for i, (_, score) in nearest_same_class(train_x, train_y, np.arange(len(train_y)), x, y).items():
        out[i] = score
    return out


METHODS = ("gbc", "particles", "naive", "bnstat", "real", "train_images")
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


def _save_npz(path: Path, **arrays) -> None:
    import io

    from .utils import atomic_write_bytes

    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    atomic_write_bytes(buf.getvalue(), path)


def _u8(x: torch.Tensor) -> np.ndarray:
    return (x[:, 0].clamp(0, 1) * 255).round().to(torch.uint8).numpy()  # (N, 28, 28)


def write_artifacts(res: dict, out: Path, per_row: int = 10) -> None:
    """metrics.json, samples.png (one row a class, per method), nearest.png, recovery.png (with
    particles), samples.npz, train_subset.npz — each written atomically."""
    import matplotlib

    matplotlib.use("Agg")
    from .plots import image_grid
    from .utils import atomic_savefig, atomic_write_json

    out.mkdir(parents=True, exist_ok=True)
    tx, ty = res["train"]
    x, y = res["samples"]["gbc"]
    atomic_savefig(image_grid(x, y, nrow=per_row), out / "samples.png")
    for name, (xb, yb) in res["samples"].items():
        if name != "gbc":
            atomic_savefig(image_grid(xb, yb, nrow=per_row), out / f"samples_{name}.png")
    atomic_savefig(nearest_figure(tx, ty, x, y), out / "nearest.png")
    if "particles" in res["samples"]:  # the recovery profile: every method against the images
        atomic_savefig(recovery_figure(tx, ty, res["samples"]), out / "recovery.png")
    arrays = {"images": _u8(x), "labels": y.numpy()}
    for name, (xb, yb) in res["samples"].items():
        if name != "gbc":
            arrays[f"{name}_images"], arrays[f"{name}_labels"] = _u8(xb), yb.numpy()
    _save_npz(out / "samples.npz", **arrays)
    _save_npz(out / "train_subset.npz", images=_u8(tx), labels=ty.numpy(),
              indices=np.asarray(res["split"]["train"]))
    atomic_write_json(res["metrics"], out / "metrics.json")


# -------------------------------------------------------------------------------------- CLI
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


def _config_from_args(args):
    """The MnistConfig of a command line: profile, --device, each --set parsed by type, checked."""
    from .config_parse import apply_overrides
    from .mnist import MnistConfig  # here, not at the top: gbc_teach.mnist imports this module

    if args.paper:  # the paper's scale on a GPU
        cfg = MnistConfig.paper()
    elif args.profile == "paper":  # the paper's 500-image batch-norm classifier, on a CPU
        cfg = MnistConfig.fast() if args.fast else MnistConfig()
    else:  # the regime where the classifier gives its training images back
        cfg = MnistConfig.recovery(fast=args.fast)
    items = ([f"device={args.device}"] if args.device else []) + (args.set or [])
    return apply_overrides(cfg, items)


def _cmd(args, multi: bool) -> int:
    from dataclasses import asdict

    from .data import find_mnist_dir
    from .mnist import FALLBACK_BANNER, run_mnist, run_mnist_multi
    from .runfolder import run_folder

    cfg = _config_from_args(args)
    data_dir = find_mnist_dir(args.data, "--data")  # given data is used or refused, up front
    fn = run_mnist_multi if multi else run_mnist
    with run_folder(args.out, args.command_line, asdict(cfg)) as stage:
        res = fn(args.seed, cfg, progress=not args.quiet, data_dir=data_dir)
        res["metrics"]["fast"] = bool(args.fast)
        write_artifacts(res, stage)
    m = res["metrics"]
    if m["data"]["fallback"]:
        print(FALLBACK_BANNER, file=sys.stderr)
    clf = m.get("classifier") or m["classifiers"]
    if isinstance(clf, dict):  # the residual's history is for plots, not for the terminal
        clf = {k: v for k, v in clf.items() if k != "residual_history"}
    print(json.dumps({"data.split": m["data"]["split"], "classifier": clf}, indent=1,
                     default=str)[:2000])
    print(summary(m))
    print(f"seconds: {m['seconds']:.0f}; wrote {args.out}/: metrics.json, samples.png, "
          "nearest.png, samples.npz, train_subset.npz, run.json"
          + (", recovery.png" if "particles" in res["samples"] else ""))
    return 0


def add_mnist_commands(subparsers, parents=()) -> None:
    """`gbc-teach mnist` and `gbc-teach mnist-multi` (called by cli.build_parser)."""
    from .config_parse import add_run_arguments

    for name, multi, help_ in (
            ("mnist", False, "MNIST: generator from one classifier, naive and BN-stat baselines"),
            ("mnist-multi", True, "MNIST: one generator from two classifiers (digits 0-4, 5-9)")):
        p = subparsers.add_parser(name, help=help_, parents=list(parents))
        add_run_arguments(p, f"outputs/{name}", "MnistConfig")
        p.add_argument("--fast", action="store_true", help="tiny CI profile (about a minute)")
        p.add_argument("--profile", choices=("recovery", "paper"), default="recovery",
                       help="recovery (default): a weight-decay classifier on 10 images, GBC and "
                       "particles recover them; paper: the paper's 500-image batch-norm classifier")
        p.add_argument("--paper", action="store_true",
                       help="paper scale (GPU profile; implies --device cuda unless given)")
        p.add_argument("--device", default=None, help="cpu, cuda, cuda:1 ... (default: cpu)")
        p.add_argument("--data", default=None, help="folder with MNIST IDX files, used or "
                       "refused (default: $GBC_DATA_DIR, ./data; with none configured, the "
                       "flagged sklearn fallback)")
        p.set_defaults(fn=lambda a, multi=multi: _cmd(a, multi))
