"""What `gbc-teach faces` writes and prints (docs/method.md §8, §11; notebook 07): samples.png by
attribute combination, nearest.png and recovery.png, samples.npz, metrics.json, a table."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from ..utils import as_uint8, atomic_save_npz, atomic_savefig, atomic_write_json
from ..viz.faces import nearest_faces, samples_by_combination
from .faces_nets import combination_index

# *_seen: with an MLP classifier, the part of the images its first layer sees (kkt.seen_part)
METHODS = ("gbc", "gbc_seen", "gbc_warm", "gbc_warm_seen", "particles", "particles_seen", "naive",
           "real", "train_images")
KEYS = ("evaluator_accuracy", "held_out_evaluator_accuracy", "tstr_accuracy",
        "ssim_recovery_share", "l2_recovery_share", "ssim_recovery_mean", "frechet", "diversity")
SHORT = {"evaluator_accuracy": "evaluator", "held_out_evaluator_accuracy": "eval. held out",
         "tstr_accuracy": "TSTR", "ssim_recovery_share": "SSIM recov.",
         "l2_recovery_share": "L2 recov.", "ssim_recovery_mean": "mean SSIM"}


def markdown_table(m: dict, rows=METHODS, keys=KEYS) -> str:
    """The per-method metrics as a markdown table (— where a row has no such number)."""
    lines = ["| method | " + " | ".join(SHORT.get(k, k) for k in keys) + " |",
             "|---" * (len(keys) + 1) + "|"]
    for r in rows:
        if r in m:
            cells = ["—" if m[r].get(k) is None else f"{m[r][k]:.3f}" for k in keys]
            lines.append(f"| {r} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_faces(res: dict, out: Path) -> list[str]:
    """metrics.json, samples.png (GBC, one row a combination, held-out ones marked),
    samples_naive.png, nearest.png (training faces above their nearest GBC sample),
    recovery.png (every method), samples.npz; returns their names."""
    out.mkdir(parents=True, exist_ok=True)
    names = res["metrics"]["data"]["attributes"]
    tx, ta = res["train"]
    x, a = res["samples"]["gbc"]
    hx, ha = res["held_samples"]["gbc"]
    atomic_savefig(samples_by_combination(torch.cat([x, hx]), torch.cat([a, ha]), names,
                                          held=res["held"]), out / "samples.png")
    nx, na = res["samples"]["naive"]
    atomic_savefig(samples_by_combination(nx, na, names), out / "samples_naive.png")
    ti = combination_index(ta)
    labelled = {k: (v[0], combination_index(v[1])) for k, v in res["samples"].items()}
    atomic_savefig(nearest_faces(tx, ti, {"gbc": labelled["gbc"]}), out / "nearest.png")
    atomic_savefig(nearest_faces(tx, ti, labelled), out / "recovery.png")
    arrays = {"train_images": as_uint8(tx), "train_attrs": ta.numpy()}
    for k, (xb, ab) in res["samples"].items():
        arrays[f"{k}_images"], arrays[f"{k}_attrs"] = as_uint8(xb), ab.numpy()
    atomic_save_npz(out / "samples.npz", **arrays)
    atomic_write_json(res["metrics"], out / "metrics.json")
    return ["metrics.json", "samples.png", "samples_naive.png", "nearest.png", "recovery.png",
            "samples.npz"]


def first_layer_summary(fl: dict) -> str:
    """One line on what the first layer sees (kkt.first_layer_view, kkt.filter_spectrum)."""
    parts = []
    if "rank" in fl:
        parts.append(f"{fl['rank']} directions above {fl['rtol']:g} of the largest; the faces' "
                     f"share outside them {fl['outside_mean']:.3f} (max {fl['outside_max']:.3f})")
    if fl.get("stationarity_by_direction"):  # r_j = 1 where the KKT form holds (training.py)
        r = fl["stationarity_by_direction"]
        parts.append(f"r_j over its first {len(r)} directions {min(r):.2f} … {max(r):.2f}")
    if "filters" in fl:
        parts.append("filter spectrum " + ", ".join(f"{v:.2g}" for v in fl["filters"][:4]) + " …")
    return "; ".join(parts)


def report(res: dict) -> str:
    """What `gbc-teach faces` prints: the data, the classifier's numbers, the metrics table."""
    m = res["metrics"]
    clf = {k: v for k, v in m["classifier"].items() if k != "residual_history"}
    if "first_layer" in clf:
        clf["first_layer"] = first_layer_summary(clf["first_layer"])
    head = json.dumps({"data": m["data"]["source"], "classifier": clf}, indent=1, default=str,
                      ensure_ascii=False)
    return "\n".join([head[:2500], markdown_table(m), f"seconds: {m['seconds']:.0f}"])
