"""The ablation table of notebook 04: GBC loss variants on the 2-D toy, seeds 0–2.

    .venv/bin/python scripts/toy_ablation.py            # full: ToyConfig(), seeds 0 1 2
    .venv/bin/python scripts/toy_ablation.py --fast     # CI profile: seed 0, few steps

Writes outputs/toy_ablation.json (full) or outputs/toy_ablation_fast.json (fast), after every
seed, atomically; notebook 04 loads the full one when it exists and its config matches.
One classifier is trained per seed and classifier setting and shared by every generator
variant (gbc_teach.ablation). Runs on one CPU thread unless --threads says otherwise.
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import asdict
from pathlib import Path

import torch

from gbc_teach.experiments.ablation import format_table, run_ablation, summarize
from gbc_teach.experiments.toy2d import ToyConfig
from gbc_teach.utils import atomic_write_json

ROOT = Path(__file__).resolve().parents[1]
FULL_JSON = ROOT / "outputs" / "toy_ablation.json"
FAST_JSON = ROOT / "outputs" / "toy_ablation_fast.json"


def fast_config() -> ToyConfig:
    """The fast profile of the ablation (notebook 04 uses the same)."""
    return ToyConfig.fast(gen_steps=300)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--fast", action="store_true", help="seed 0, ToyConfig.fast(gen_steps=300)")
    p.add_argument("--seeds", type=int, nargs="+", default=None, help="default 0 1 2 (fast: 0)")
    p.add_argument("--out", default=None, help="JSON path (default outputs/toy_ablation[_fast].json)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg = fast_config() if args.fast else ToyConfig()
    seeds = args.seeds if args.seeds is not None else ([0] if args.fast else [0, 1, 2])
    out = Path(args.out) if args.out else (FAST_JSON if args.fast else FULL_JSON)
    t0 = time.perf_counter()

    def save(result):
        result["fast"] = bool(args.fast)
        atomic_write_json(result, out)

    res = run_ablation(seeds, cfg, log=lambda s: print(s, flush=True), on_seed=save)
    print(f"\nconfig: {asdict(cfg)}\nseeds {seeds}, {time.perf_counter() - t0:.0f} s in all\n")
    print(format_table(summarize(res)))
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
