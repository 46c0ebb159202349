"""Timing for the step-cost benchmark: interleaved medians, threads, one case's numbers, scaling.

Everything of a case is timed in one run and interleaved (trial by trial, so that a change in
the machine's load hits all of them alike); each number is the median over trials. Beside
(a), (b), (b) on the eval-mode classifier and (c), a dense float32 matmul of size MATMUL_N is
timed in the same loop with the same thread count:

  flop_efficiency = (FLOPs(b) / time(b)) / (rate of the 2048² float32 matmul).

Before timing, `bench_case` checks the analytic FLOPs of (a) and (b) against torch's counter
on the very closures it is about to time.
"""

from __future__ import annotations

import copy
import math
import os
import statistics
import time

import torch
from torch import nn

from gbc_teach.losses import GBCObjective

from step_cost_cases import Case, bn_to_eval, build_case, make_fwdbwd, make_gbc_step
from step_cost_check import PerSampleGBCObjective
from step_cost_flops import counted_flops, fwdbwd_flops, step_flops

MATMUL_N = 2048
# Scaling sweeps (MNIST): batch at the default width, width (both hidden layers) at the default batch.
SCALING_BATCHES = (64, 128, 256, 512, 1024)
SCALING_WIDTHS = (128, 256, 512, 1024, 2048)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_once(f, reps: int, device) -> float:
    _sync(device)
    t0 = time.perf_counter()
    for _ in range(reps):
        f()
    _sync(device)
    return (time.perf_counter() - t0) / reps


def time_interleaved(fns: dict, trials: int, device, min_block_s: float = 0.02,
                     warmup: int = 2) -> dict[str, float]:
    """Median seconds per call of each function; in each trial every function runs once
    (a block of reps ≥ min_block_s), one after the other. A fast function gets one untimed
    call before its block, so that it is not timed on caches the previous one has flushed."""
    reps, rewarm = {}, {}
    for name, f in fns.items():
        for _ in range(warmup - 1):
            f()
        t1 = max(_time_once(f, 1, device), 1e-6)
        reps[name], rewarm[name] = max(1, math.ceil(min_block_s / t1)), t1 < 0.05
    times: dict[str, list[float]] = {n: [] for n in fns}
    for _ in range(trials):
        for name, f in fns.items():
            if rewarm[name]:
                f()
            times[name].append(_time_once(f, reps[name], device))
    return {n: statistics.median(v) for n, v in times.items()}



def make_matmul(n: int, device, dtype=torch.float32):
    """A closure multiplying two fixed n×n random matrices: the dense-matmul rate's reference."""
    g = torch.Generator().manual_seed(0)
    A, B = (torch.randn(n, n, generator=g).to(device, dtype) for _ in range(2))
    return lambda: A @ B


def bench_case(case: Case, trials: int, per_sample: bool = True, matmul: bool = True) -> dict:
    """(a), (b), b_eval and (c) for one case, interleaved, plus the matmul rate."""
    dev = case.device
    with torch.no_grad():
        xa, ya, _ = case.G.training_batch(case.batch, torch.Generator().manual_seed(7))
    fns = {"a": make_fwdbwd(case.classifier, xa, ya),
           "b": make_gbc_step(case.G, case.objective(), case.batch)}
    if per_sample:
        clf_eval = bn_to_eval(case.classifier, xa)
        G_b, G_c = copy.deepcopy(case.G), copy.deepcopy(case.G)
        fns["b_eval"] = make_gbc_step(G_b, case.objective(GBCObjective, clf_eval), case.batch)
        fns["c"] = make_gbc_step(G_c, case.objective(PerSampleGBCObjective, clf_eval),
                                 case.batch)
    if matmul:
        fns["matmul"] = make_matmul(MATMUL_N, dev)
    fa, fb = fwdbwd_flops(case.classifier, case.batch), step_flops(case.classifier, case.G,
                                                                   case.batch)
    fb_run = step_flops(case.classifier, case.G, case.batch, executed=True)
    counted = (counted_flops(fns["a"]), counted_flops(fns["b"]))
    if counted != (fa, fb_run):
        raise RuntimeError(f"{case.name}: analytic FLOPs (a, b) = {(fa, fb_run)} but torch counts "
                           f"{counted}: the formulas no longer describe the step")
    t = time_interleaved(fns, trials, dev)
    out = {"case": case.name, "batch": case.batch,
           "widths": [m.out_features for m in case.classifier.modules()
                      if isinstance(m, nn.Linear)][:-1],
           "fwdbwd_ms": 1e3 * t["a"], "step_ms": 1e3 * t["b"],
           "ratio_step_to_fwdbwd": t["b"] / t["a"],
           "flops_fwdbwd": fa, "flops_step": fb, "flops_step_executed": fb_run,
           "flop_ratio_step_to_fwdbwd": fb / fa,
           "step_gflops": fb / t["b"] / 1e9}
    if per_sample:
        out.update({"step_bn_eval_ms": 1e3 * t["b_eval"], "per_sample_ms": 1e3 * t["c"],
                    "speedup_vs_per_sample": t["c"] / t["b"],
                    "speedup_vs_per_sample_same_bn_mode": t["c"] / t["b_eval"]})
    if matmul:
        rate = 2 * MATMUL_N ** 3 / t["matmul"]
        out.update({"matmul_gflops": rate / 1e9, "flop_efficiency": fb / t["b"] / rate})
    return out


def choose_threads(spec: str, device: torch.device) -> tuple[int, str]:
    """'auto' on CPU: time the default MNIST step at 1..n_cpu threads and keep the fastest
    (on a machine shared with other jobs, more threads than idle cores makes every small op
    wait at OpenMP barriers); an integer: that many."""
    n_cpu = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    if spec != "auto":
        return int(spec), "given"
    if device.type != "cpu" or n_cpu <= 1:
        return max(1, n_cpu or 1), "all cores"
    case = build_case("mnist", device)
    step = make_gbc_step(case.G, case.objective(), case.batch)
    best = {}
    for n in range(1, n_cpu + 1):
        torch.set_num_threads(n)
        step()
        best[n] = statistics.median(_time_once(step, 1, device) for _ in range(5))
    n = min(best, key=best.get)
    return n, "auto: " + ", ".join(f"{k} thr {1e3 * v:.1f} ms" for k, v in best.items())


def _slope(xs: list[float], ys: list[float]) -> float:
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((a - mx) * (b - my) for a, b in zip(xs, ys)) / sum((a - mx) ** 2 for a in xs)


def scaling(device, trials: int, batches=SCALING_BATCHES, widths=SCALING_WIDTHS) -> dict:
    """(a) and (b) times of the MNIST case against batch size and against classifier width."""
    rows = {"batch": [], "width": []}
    for kind, values in (("batch", batches), ("width", widths)):
        for v in values:
            case = (build_case("mnist", device, batch=v) if kind == "batch"
                    else build_case("mnist", device, width=v))
            r = bench_case(case, trials, per_sample=False, matmul=False)
            rows[kind].append({kind: v, **{k: r[k] for k in (
                "fwdbwd_ms", "step_ms", "ratio_step_to_fwdbwd", "flop_ratio_step_to_fwdbwd",
                "flops_step", "step_gflops")}})
    for kind in ("batch", "width"):  # log-log slope of the step time over the upper half of the sweep
        pts = rows[kind][len(rows[kind]) // 2:]
        xs = [math.log(p[kind]) for p in pts]
        ys = [math.log(p["step_ms"]) for p in pts]
        fs = [math.log(p["flops_step"]) for p in pts]
        rows[f"{kind}_loglog_slope"] = _slope(xs, ys)
        rows[f"{kind}_flops_loglog_slope"] = _slope(xs, fs)
    return rows
