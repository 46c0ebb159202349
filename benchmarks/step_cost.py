"""What one GBC generator step costs, against one forward + backward of the classifier.

    python benchmarks/step_cost.py [--device cpu|cuda] [--json] [--threads N|auto] [--quick]

Three things are timed, in one run and interleaved; each number is the median over trials:
(a) one forward + backward of the classifier (the floor's unit), (b) one GBC generator step
(double backprop, both losses, α, Adam), and (c) the same step with v from per-sample gradients.
Before any timing, a float64 gradient check requires (b) and (c) to agree, and before each
case is timed, the analytic FLOP counts of (a) and (b) must equal torch's FLOP counter.

This file is the command line; the benchmark lives beside it, one part to a file:

    step_cost_cases.py   the MNIST and toy cases; (a) and (b) as closures
    step_cost_check.py   the per-sample reference (c) and the float64 gradient check
    step_cost_flops.py   the analytic FLOP counts of (a) and (b), and torch's count to check them
    step_cost_timing.py  interleaved timing, thread choice, one case's numbers, scaling sweeps
    step_cost_report.py  the text table, the markdown tables, the scaling plot

Run as a script, Python puts this folder on sys.path, so they import by their plain names.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import torch

from step_cost_cases import build_case
from step_cost_check import gradient_check
from step_cost_report import markdown, plot_scaling, table
from step_cost_timing import SCALING_BATCHES, SCALING_WIDTHS, bench_case, choose_threads, scaling


def main(argv=None) -> dict:
    """Check the gradients, time both cases (and the sweeps), print the report; return the numbers."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--json", action="store_true", help="print the numbers as JSON on stdout "
                    "(the table then goes to stderr)")
    ap.add_argument("--threads", default="auto", help="CPU threads: an integer or 'auto'")
    ap.add_argument("--trials", type=int, default=7, help="timed trials per case (medians)")
    ap.add_argument("--no-scaling", action="store_true", help="skip the scaling sweeps")
    ap.add_argument("--quick", action="store_true", help="3 trials, short sweeps (smoke test)")
    ap.add_argument("--compile", action="store_true",
                    help="torch.compile the generator's network (the classifier cannot be "
                         "compiled: the step differentiates through its backward)")
    ap.add_argument("--markdown", action="store_true",
                    help="also print the Performance table as markdown")
    ap.add_argument("--plot", default="outputs/bench_scaling.png")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    load_start = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda: torch sees no CUDA GPU")
    trials = 3 if args.quick else args.trials
    threads, reason = choose_threads(args.threads, device)
    torch.set_num_threads(threads)

    checks = [gradient_check("mnist"), gradient_check("toy", batch=32)]
    if not all(c["ok"] for c in checks):
        raise SystemExit(f"gradient check failed, not timing a wrong computation: {checks}")

    res = {"device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device),
           "torch": torch.__version__, "threads": threads, "threads_reason": reason,
           "compile": args.compile, "gradient_check": checks, "cases": {}}
    for name in ("mnist", "toy"):
        case = build_case(name, device)
        if args.compile:
            case.G.net.compile()  # in place; G only: see --compile's help
        res["cases"][name] = bench_case(case, trials)
    if not args.no_scaling:
        kw = dict(batches=SCALING_BATCHES[:4], widths=SCALING_WIDTHS[:4]) if args.quick else {}
        res["scaling"] = scaling(device, 3 if args.quick else max(5, trials - 2), **kw)
        plot_scaling(res["scaling"], Path(args.plot),
                     f"GBC step cost, MNIST MLP, {res['device']}, {threads} thread(s)")
        res["plot"] = args.plot
    res["wall_s"] = time.perf_counter() - t0
    if hasattr(os, "getloadavg"):  # other jobs on the machine: the numbers' conditions
        res["loadavg_1min_start_end"] = [load_start, os.getloadavg()[0]]
    print(table(res), file=sys.stderr if args.json else sys.stdout)
    if args.markdown:
        print("\n" + markdown(res), file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(res, indent=2))
    return res


if __name__ == "__main__":
    main()
