"""The toy's support vectors from the classifier alone, two ways, seeds 0–5.

    .venv/bin/python scripts/toy_convex.py                 # full: ToyConfig(), seeds 0–5
    .venv/bin/python scripts/toy_convex.py --seeds 0 --fast

For each seed, on the classifier of `gbc-teach toy2d`: (1) the convex reconstruction — q_min
read off the classifier by `kkt.scan_q_min` (the margin band where a grid dictionary fits Πθ
best), then the dictionary fit in that band, scored like a generator; (2) the GBC generator of
`gbc-teach toy2d` (skip with --no-gbc); (3) the same generator started on the dictionary's atoms
(`--set start=convex`; skip with --no-convex-gbc). Writes outputs/toy_convex.json after every seed.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import asdict
from pathlib import Path

import torch

from gbc_teach.experiments.ablation import convex_seed
from gbc_teach.experiments.toy2d import ToyConfig
from gbc_teach.utils import atomic_write_json

ROOT = Path(__file__).resolve().parents[1]


def table(rows: list[dict]) -> str:
    def line(name, rec, prec):
        per = " / ".join(f"{r:.2f}" for r in rec)
        return (f"| {name} | {statistics.fmean(rec):.2f} | {statistics.fmean(prec):.2f} | {per} | "
                + " / ".join(f"{p:.2f}" for p in prec) + " |")
    out = ["| method | SV recall | precision | recall per seed | precision per seed |",
           "|---|---|---|---|---|",
           line("grid dictionary at the scanned q_min", [r["sv_recall"] for r in rows],
                [r["weight_near"] for r in rows])]
    for key, name in (("gbc", "GBC generator, random start (`gbc-teach toy2d`)"),
                      ("gbc_convex", "GBC generator, convex start (`--set start=convex`)")):
        if all(key in r for r in rows):
            out.append(line(name, [r[key]["sv_recall"] for r in rows],
                            [r[key]["precision"] for r in rows]))
    ratios = " / ".join(f"{r['q_min_ratio']:.2f}" for r in rows)
    return "\n".join(out) + f"\n\nscanned q_min / true q_min per seed: {ratios}"


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    p.add_argument("--fast", action="store_true", help="ToyConfig.fast() (a 60×60 grid)")
    p.add_argument("--no-gbc", action="store_true", help="no GBC generator from a random start")
    p.add_argument("--no-convex-gbc", action="store_true",
                   help="no GBC generator from the convex start")
    p.add_argument("--out", default=str(ROOT / "outputs" / "toy_convex.json"))
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = ToyConfig.fast() if args.fast else ToyConfig()
    rows, t0 = [], time.perf_counter()
    for seed in args.seeds:
        rows.append(convex_seed(seed, cfg, gbc=not args.no_gbc, convex_gbc=not args.no_convex_gbc))
        r = rows[-1]
        print(f"seed {seed}: scanned q_min {r['q_min_ratio']:.2f}× the true one, dictionary recall "
              f"{r['sv_recall']:.2f} precision {r['weight_near']:.2f}"
              + (f"; GBC recall {r['gbc']['sv_recall']:.2f} precision {r['gbc']['precision']:.2f}"
                 if "gbc" in r else "")
              + (f"; from the convex start {r['gbc_convex']['sv_recall']:.2f} / "
                 f"{r['gbc_convex']['precision']:.2f}" if "gbc_convex" in r else ""), flush=True)
        atomic_write_json({"config": asdict(cfg), "side": cfg.scan_side, "rows": rows,
                           "seconds": time.perf_counter() - t0}, Path(args.out))
    print("\n" + table(rows) + f"\n\n{time.perf_counter() - t0:.0f} s in all; wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
