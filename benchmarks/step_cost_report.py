"""The step-cost benchmark's report: the text table, the README's markdown tables, the scaling plot.

All three read the result dict that `step_cost.main` assembles (per case: times in ms, ratios,
FLOP counts, the matmul rate; the gradient check; the scaling sweeps, if run).
"""

from __future__ import annotations

from pathlib import Path

from step_cost_timing import MATMUL_N


def table(res: dict) -> str:
    """The run's summary as plain text: cases, matmul rate, gradient check, scaling, conditions."""
    head = (f"{'case':6} {'B':>5} {'(a) fwd+bwd':>12} {'(b) step':>10} {'(c) per-sample':>15} "
            f"{'b/a':>6} {'FLOP b/a':>9} {'c/b':>7} {'GFLOP/s':>8} {'eff':>5}")
    lines = [head, "-" * len(head)]
    for r in res["cases"].values():
        c = f"{r['per_sample_ms']:.1f} ms" if "per_sample_ms" in r else "-"
        s = f"{r['speedup_vs_per_sample']:.1f}" if "speedup_vs_per_sample" in r else "-"
        lines.append(f"{r['case']:6} {r['batch']:>5} {r['fwdbwd_ms']:>9.2f} ms "
                     f"{r['step_ms']:>7.2f} ms {c:>15} {r['ratio_step_to_fwdbwd']:>6.2f} "
                     f"{r['flop_ratio_step_to_fwdbwd']:>9.2f} {s:>7} "
                     f"{r['step_gflops']:>8.1f} {r.get('flop_efficiency', float('nan')):>5.2f}")
    m = res["cases"].get("mnist", {})
    lines.append(f"dense {MATMUL_N}² float32 matmul: {m.get('matmul_gflops', float('nan')):.0f} "
                 f"GFLOP/s; device {res['device']}, torch {res['torch']}, "
                 f"threads {res['threads']} ({res['threads_reason']})")
    gc = res["gradient_check"]
    lines.append("gradient check (b vs c, float64): " + ", ".join(
        f"{g['case']} max rel err {g['max_rel_err']:.1e} {'ok' if g['ok'] else 'FAIL'}"
        for g in gc))
    if "scaling" in res:
        sc = res["scaling"]
        for kind in ("batch", "width"):
            lines.append(f"scaling vs {kind}: " + ", ".join(
                f"{p[kind]}: {p['step_ms']:.1f} ms (b/a {p['ratio_step_to_fwdbwd']:.2f})"
                for p in sc[kind]) + f"; log-log slope of the time {sc[f'{kind}_loglog_slope']:.2f}"
                f" (of the FLOPs {sc[f'{kind}_flops_loglog_slope']:.2f}) over the upper half")
    load = res.get("loadavg_1min_start_end")
    lines.append(f"wall time {res['wall_s']:.0f} s" + (
        f"; 1-min load average {load[0]:.1f} at start, {load[1]:.1f} at end" if load else ""))
    return "\n".join(lines)


def markdown(res: dict) -> str:
    """The Performance table, as markdown (for the README)."""
    rows = ["| case | batch | (a) fwd+bwd | (b) GBC step | (c) per-sample | b/a | FLOP b/a "
            "| c/b | GFLOP/s (b) | flop_efficiency |",
            "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in res["cases"].values():
        rows.append(f"| {r['case']} | {r['batch']} | {r['fwdbwd_ms']:.2f} ms | "
                    f"{r['step_ms']:.2f} ms | {r['per_sample_ms']:.1f} ms | "
                    f"{r['ratio_step_to_fwdbwd']:.2f} | {r['flop_ratio_step_to_fwdbwd']:.2f} | "
                    f"{r['speedup_vs_per_sample']:.1f} | {r['step_gflops']:.1f} | "
                    f"{r['flop_efficiency']:.2f} |")
    m = res["cases"]["mnist"]
    load = res.get("loadavg_1min_start_end")
    rows.append("")
    rows.append(f"Dense {MATMUL_N}² float32 matmul {m['matmul_gflops']:.0f} GFLOP/s; {res['device']}, "
                f"torch {res['torch']}, {res['threads']} thread(s) ({res['threads_reason']}); "
                f"wall time {res['wall_s']:.0f} s"
                + (f"; 1-min load average {load[0]:.1f}–{load[1]:.1f}." if load else "."))
    if "scaling" in res:
        sc = res["scaling"]
        rows += ["", "| scaling | " + " | ".join(str(p["batch"]) for p in sc["batch"]) + " |",
                 "|---|" + "---:|" * len(sc["batch"]),
                 "| batch: (b) ms | " + " | ".join(f"{p['step_ms']:.1f}" for p in sc["batch"])
                 + " |",
                 "| batch: b/a | " + " | ".join(f"{p['ratio_step_to_fwdbwd']:.2f}"
                                                for p in sc["batch"]) + " |",
                 "", "| scaling | " + " | ".join(str(p["width"]) for p in sc["width"]) + " |",
                 "|---|" + "---:|" * len(sc["width"]),
                 "| width: (b) ms | " + " | ".join(f"{p['step_ms']:.1f}" for p in sc["width"])
                 + " |",
                 "| width: b/a (FLOP b/a) | " + " | ".join(
                     f"{p['ratio_step_to_fwdbwd']:.2f} ({p['flop_ratio_step_to_fwdbwd']:.2f})"
                     for p in sc["width"]) + " |"]
    return "\n".join(rows)


def plot_scaling(rows: dict, path: Path, title: str) -> None:
    """Step and fwd+bwd times (log-log) and b/a against batch and width, beside the FLOP ratio."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(10, 7), sharex="col")
    for j, kind in enumerate(("batch", "width")):
        pts = rows[kind]
        xs = [p[kind] for p in pts]
        ax = axes[0, j]
        ax.loglog(xs, [p["step_ms"] for p in pts], "o-", label="(b) GBC step")
        ax.loglog(xs, [p["fwdbwd_ms"] for p in pts], "s-", label="(a) classifier fwd+bwd")
        # FLOP-proportional reference through the last point of (b)
        f_last, t_last = pts[-1]["flops_step"], pts[-1]["step_ms"]
        ax.loglog(xs, [t_last * p["flops_step"] / f_last for p in pts], "k:",
                  label="∝ analytic FLOPs of (b)")
        ax.set_ylabel("ms per call")
        ax.set_title(f"step time vs {kind} (slope {rows[f'{kind}_loglog_slope']:.2f})")
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
        ax = axes[1, j]
        ax.semilogx(xs, [p["ratio_step_to_fwdbwd"] for p in pts], "o-", label="measured b/a")
        ax.semilogx(xs, [p["flop_ratio_step_to_fwdbwd"] for p in pts], "k:",
                    label="analytic FLOP ratio b/a")
        ax.set_xlabel("batch size" if kind == "batch" else "hidden width (both layers)")
        for a in axes[:, j]:
            a.set_xticks(xs, [str(x) for x in xs])
            a.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
        ax.set_ylabel("b / a")
        ax.legend(fontsize=8)
        ax.grid(True, which="both", alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
