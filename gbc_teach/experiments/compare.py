"""Every generation method on the same classifiers, over seeds (notebook 08): `gbc-teach compare`.

Five settings — the 2-D toy, the paper's MNIST classifier (500 images, batch norm), the MNIST
classifier at its KKT point (weight decay, 10 images), the faces attribute classifier, and an
MLP attribute classifier on four faces where the faces come back (`faces-recovery`) — each
run by its own `Experiment` for several seeds. Every run's metrics.json is cached under
`cache_dir()/compare/<setting>/s<seed>-<config hash>/`, so a second call computes only what is
missing (a changed config is a new hash, a new run). The rows (GBC, naive, BN statistics where the
classifier has batch norm, free particles, real data, the training images themselves) are
aggregated to mean ± std over seeds, per-seed values kept:

    res = compare_all(["toy2d"], seeds=[0, 1, 2], fast=True)
    print(markdown(res))
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..datasets.mnist import find_mnist_dir
from ..utils import (
    as_uint8,
    atomic_save_npz,
    atomic_savefig,
    atomic_write_bytes,
    atomic_write_json,
    cache_dir,
    ensure_writable_dir,
)
from ..viz.compare import spread_figure
from . import faces, mnist, toy2d
from .base import Experiment
from .config import UsageError


@dataclass(frozen=True)
class Setting:
    """One classifier of the comparison: an experiment, its profile, and a cap on seeds (a slow
    setting runs fewer seeds than asked, and the table says so)."""

    name: str
    experiment: Experiment
    profile: str
    label: str
    max_seeds: int | None = None


SETTINGS = {s.name: s for s in (
    Setting("toy2d", toy2d.EXPERIMENT, "default", "toy 2-D (relu², KKT point)"),
    Setting("mnist-paper", mnist.EXPERIMENT, "paper", "MNIST, paper setting (500 images, BN)"),
    Setting("mnist-recovery", mnist.EXPERIMENT, "recovery", "MNIST at its KKT point (10 images, wd)"),
    # ≈ 6 min a seed on one CPU thread: two seeds keep the full default near 30 min
    Setting("faces", faces.EXPERIMENT, "default", "faces, attribute classifier (wd)", max_seeds=2),
    # ≈ 5 min a seed: an MLP on 4 faces, every method also judged by what W₁ sees (*_seen)
    Setting("faces-recovery", faces.EXPERIMENT, "recovery",
            "faces at 4 training faces (MLP, wd)", max_seeds=3),
)}
# the order of the rows; bnstat only where the classifier has batch norm; *_seen and gbc_warm
# (GBC started on the particles' answer) only in faces-recovery
METHODS = ("gbc", "gbc_seen", "gbc_warm", "gbc_warm_seen", "particles", "particles_seen", "naive",
           "bnstat", "real", "train_images")
IMAGE_KEYS = ("ssim_recovery_share", "l2_recovery_share", "frechet", "evaluator_accuracy",
              "second_evaluator_accuracy", "tstr_accuracy", "diversity", "train_seconds")
TOY_KEYS = ("sv_recall", "precision", "seconds")
HEADERS = {"ssim_recovery_share": "SSIM share", "l2_recovery_share": "L2 share",
           "frechet": "Fréchet", "evaluator_accuracy": "evaluator", "second_evaluator_accuracy":
           "2nd evaluator", "tstr_accuracy": "TSTR", "diversity": "diversity",
           "train_seconds": "time (s)", "sv_recall": "SV recall", "precision": "precision",
           "seconds": "time (s)"}


def config_hash(cfg) -> str:
    """A short hash of a config dataclass: equal configs, equal runs."""
    text = json.dumps(asdict(cfg), sort_keys=True, default=str)
    return hashlib.sha1(text.encode()).hexdigest()[:10]


def run_folder_of(setting: Setting, seed: int, cfg, fast: bool, root: Path) -> Path:
    return root / (setting.name + ("-fast" if fast else "")) / f"s{seed}-{config_hash(cfg)}"


def evenly_spaced(x, n: int):
    """n rows of x evenly spaced over it: samples come grouped by class or combination, so the
    first n would show one or two of them."""
    return x[np.unique(np.linspace(0, len(x) - 1, min(n, len(x))).round().astype(int))]


def _save_samples(res: dict, folder: Path, per_method: int = 10) -> None:
    """A few samples per method (uint8) for the side-by-side figure; images only."""
    if not isinstance(res.get("samples"), dict):
        return
    arrays = {k: evenly_spaced(v[0], per_method) for k, v in res["samples"].items()}
    arrays["train_images"] = evenly_spaced(res["train"][0], per_method)
    if "real" in res:
        arrays["real"] = evenly_spaced(res["real"][0], per_method)
    atomic_save_npz(folder / "samples.npz", **{k: as_uint8(v) for k, v in arrays.items()})


def cached_metrics(setting: Setting, seed: int, fast: bool = False, root: Path | None = None,
                   data_dir=None, progress: bool = False, log=print) -> dict:
    """The metrics of one (setting, seed, config) run: read from the cache, else run and cache."""
    root = Path(root) if root is not None else cache_dir() / "compare"
    cfg = setting.experiment.config(setting.profile, fast)
    folder = run_folder_of(setting, seed, cfg, fast, root)
    path = folder / "metrics.json"
    if path.exists():
        return json.loads(path.read_text())
    t0 = time.perf_counter()
    res = setting.experiment.run(seed, cfg, progress=progress, data_dir=data_dir)
    m = res["metrics"]
    m.update(profile=setting.profile, fast=fast, wall_seconds=time.perf_counter() - t0)
    folder.mkdir(parents=True, exist_ok=True)
    _save_samples(res, folder)
    atomic_write_json(m, path)  # last: a folder with metrics.json is a finished run
    if log:
        log(f"{setting.name} seed {seed}: {m['wall_seconds']:.0f} s, cached in {folder}")
    return m


def _stat(values: list) -> dict:
    xs = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    if not xs:
        return {"mean": None, "std": None, "n": 0}
    a = np.asarray(xs, dtype=float)
    return {"mean": float(a.mean()), "std": float(a.std(ddof=1)) if len(a) > 1 else 0.0,
            "n": len(a)}


def aggregate(per_seed: dict, keys=None) -> dict:
    """{seed: metrics.json} → {method: {key: {mean, std, n, values: {seed: v}}}}.

    A method absent from a seed's metrics (e.g. no BN-statistics row for a classifier without
    batch norm) is aggregated over the seeds that have it, and left out if none has it. The toy
    has one run time for all its methods ('seconds').
    """
    toy = any("sv_recall" in m.get("gbc", {}) for m in per_seed.values())
    keys = keys or (TOY_KEYS if toy else IMAGE_KEYS)
    out = {}
    for method in METHODS:
        seeds = [s for s, m in per_seed.items() if isinstance(m.get(method), dict)]
        if not seeds:
            continue
        row = {}
        for k in keys:
            vals = {str(s): (per_seed[s].get(k) if k == "seconds" else per_seed[s][method].get(k))
                    for s in seeds}
            if all(v is None for v in vals.values()):
                continue
            row[k] = {**_stat(list(vals.values())), "values": vals}
        out[method] = row
    return out


def compare_all(names=None, seeds=(0, 1, 2), fast: bool = False, root=None, data_dir=None,
                progress: bool = False, log=print) -> dict:
    """Run (or read) every setting × seed and aggregate; the result of compare.json."""
    names = list(names or SETTINGS)
    out = {"seeds": list(seeds), "fast": fast, "settings": {}}
    for name in names:
        if name not in SETTINGS:
            raise ValueError(f"unknown setting {name!r}; choose from {', '.join(SETTINGS)}")
        s = SETTINGS[name]
        used = list(seeds)[:s.max_seeds] if s.max_seeds else list(seeds)
        per_seed = {seed: cached_metrics(s, seed, fast, root, data_dir, progress, log)
                    for seed in used}
        first = per_seed[used[0]]
        out["settings"][name] = {
            "label": s.label, "experiment": s.experiment.name, "profile": s.profile,
            "seeds": used, "rows": aggregate(per_seed),
            "wall_seconds": {str(k): m.get("wall_seconds", m.get("seconds")) for k, m in per_seed.items()},
            "bnstat": "bnstat" in first or first.get("bnstat_skipped"),
            "data": (first.get("data") or {}).get("split") or (first.get("data") or {}).get("source")}
    return out


def _cell(st: dict | None, digits: int) -> str:
    if not st or st["mean"] is None:
        return "—"
    fmt = "{:.0f}" if abs(st["mean"]) >= 100 else f"{{:.{digits}f}}"
    text = fmt.format(st["mean"])
    return text + (" ± " + fmt.format(st["std"]) if st["n"] > 1 else "")


def markdown(res: dict, digits: int = 2) -> str:
    """One table per kind of classifier: the image settings share their columns, the toy has
    its own (support-vector recall and precision); mean ± std over the seeds in 'seeds'."""
    parts = []
    image = [n for n, s in res["settings"].items() if "sv_recall" not in s["rows"].get("gbc", {})]
    toy = [n for n in res["settings"] if n not in image]
    for names, keys in ((image, IMAGE_KEYS), (toy, TOY_KEYS)):
        if not names:
            continue
        lines = ["| setting | method | seeds | " + " | ".join(HEADERS[k] for k in keys) + " |",
                 "|---" * (len(keys) + 3) + "|"]
        for n in names:
            s = res["settings"][n]
            for method, row in s["rows"].items():
                cells = [_cell(row.get(k), digits) for k in keys]
                lines.append(f"| {n} | {method} | {len(s['seeds'])} | " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    notes = [f"- {n}: {s['label']}; seeds {', '.join(map(str, s['seeds']))}"
             + ("" if s["bnstat"] is True else "; no batch norm, so no BN-statistics row")
             + ("; time: the whole run (classifier and both generators)"
                if "sv_recall" in s["rows"].get("gbc", {}) else "")
             for n, s in res["settings"].items()]
    return "\n\n".join(parts + ["\n".join(notes)])


# the GBC rows that get verdicts, and what each is held against: as drawn against as drawn,
# as seen by the first layer against as seen
VERDICT_ROWS = (("gbc", "GBC", ("particles", "naive", "bnstat", "real")),
                ("gbc_seen", "GBC as seen", ("particles_seen", "naive", "bnstat", "real")),
                ("gbc_warm_seen", "GBC from the particles, as seen",
                 ("particles_seen", "naive", "bnstat", "real")))


def verdicts(res: dict) -> list[str]:
    """One line per setting, headline metric and GBC row: its mean against each other method's,
    and whether the gap is larger than the two standard deviations together (a difference the
    seeds agree on) — the sentences of notebook 08, read off the numbers. Where the rows are also
    judged as the first layer sees them (faces-recovery), GBC as seen and GBC started on the
    particles' answer as seen are compared with the particles as seen too."""
    lines = []
    for n, s in res["settings"].items():
        rows = s["rows"]
        keys = ("sv_recall",) if "sv_recall" in rows.get("gbc", {}) else (
            "ssim_recovery_share", "evaluator_accuracy", "tstr_accuracy")
        for lead, name, others in VERDICT_ROWS:
            for k in keys:
                g = rows.get(lead, {}).get(k)
                if not g or g["mean"] is None:
                    continue
                parts = []
                for m in others:
                    o = rows.get(m, {}).get(k)
                    if not o or o["mean"] is None:
                        continue
                    gap = g["mean"] - o["mean"]
                    sure = abs(gap) > g["std"] + o["std"]
                    word = ("above" if gap > 0 else "below") if sure else "within the spread of"
                    parts.append(f"{word} {m} ({o['mean']:.2f})")
                lines.append(f"{n}, {HEADERS[k]}: {name} {g['mean']:.2f} ± {g['std']:.2f} — "
                             + ", ".join(parts))
    return lines


def load_samples(setting: str, seed: int, fast: bool = False, root: Path | None = None):
    """The few cached samples per method of one run ({method: uint8 array}), or None."""
    root = Path(root) if root is not None else cache_dir() / "compare"
    s = SETTINGS[setting]
    path = run_folder_of(s, seed, s.experiment.config(s.profile, fast), fast, root) / "samples.npz"
    if not path.exists():
        return None
    with np.load(path) as z:
        return {k: z[k] for k in z.files}


def long_records(res: dict) -> list[dict]:
    """One record per (setting, method, metric, seed): the data of the spread figure."""
    return [{"setting": n, "method": m, "metric": k, "seed": int(seed), "value": v}
            for n, s in res["settings"].items() for m, row in s["rows"].items()
            for k, st in row.items() for seed, v in st["values"].items() if v is not None]


def write(res: dict, out: Path) -> list[str]:
    """compare.json, compare.md and compare.png (the spread over seeds) in out."""
    out = ensure_writable_dir(out)
    atomic_write_json(res, out / "compare.json")
    atomic_write_bytes((markdown(res) + "\n").encode(), out / "compare.md")
    atomic_savefig(spread_figure(long_records(res)), out / "compare.png")
    return ["compare.json", "compare.md", "compare.png"]


# ------------------------------------------------------------------------- the command line
def add_arguments(p) -> None:
    p.add_argument("--out", default="outputs/compare", help="folder for compare.md, .json, .png")
    p.add_argument("--seeds", default="0,1,2", help="comma-separated seeds (default 0,1,2)")
    p.add_argument("--experiments", default=",".join(SETTINGS),
                   help=f"comma-separated settings (default: all of {', '.join(SETTINGS)})")
    p.add_argument("--fast", action="store_true", help="each experiment's fast profile")
    p.add_argument("--data", default=None, help="folder with MNIST IDX files (as gbc-teach mnist)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def main(args) -> int:
    """`gbc-teach compare`: read or run every setting × seed, write the table and figure."""
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        raise UsageError(f"--seeds must be comma-separated integers, got {args.seeds!r}") from None
    names = [n.strip() for n in args.experiments.split(",") if n.strip()]
    bad = [n for n in names if n not in SETTINGS]
    if bad or not seeds:
        raise UsageError(f"unknown setting(s) {', '.join(bad)}; choose from {', '.join(SETTINGS)}"
                         if bad else "--seeds is empty")
    data_dir = (find_mnist_dir(args.data, "--data")
                if any(SETTINGS[n].experiment.reads_mnist for n in names) else None)
    res = compare_all(names, seeds, args.fast, data_dir=data_dir, progress=not args.quiet)
    written = write(res, Path(args.out))
    print(markdown(res))
    print(f"wrote {args.out}/: " + ", ".join(written))
    return 0
