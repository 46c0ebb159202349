"""`gbc-teach compare`: aggregation over seeds, the table, the run cache, the command line."""

import dataclasses
import json

import pytest

from gbc_teach import cli
from gbc_teach.experiments import compare, toy2d
from gbc_teach.experiments.base import Experiment
from gbc_teach.experiments.compare import Setting


def image_metrics(seed, acc, bn=True):
    row = lambda a: {"evaluator_accuracy": a, "ssim_recovery_share": a / 2, "frechet": 10 * a,
                     "train_seconds": 1.0, "diversity": None}
    m = {"seed": seed, "gbc": row(acc), "naive": row(0.1), "real": row(0.9)}
    if bn:
        m["bnstat"] = row(0.5)
    return m


def test_aggregate_mean_std_and_per_seed_values():
    agg = compare.aggregate({0: image_metrics(0, 0.4), 1: image_metrics(1, 0.6),
                             2: image_metrics(2, 0.8)})
    acc = agg["gbc"]["evaluator_accuracy"]
    assert acc["mean"] == pytest.approx(0.6) and acc["std"] == pytest.approx(0.2)  # ddof = 1
    assert acc["values"] == {"0": 0.4, "1": 0.6, "2": 0.8} and acc["n"] == 3
    assert agg["naive"]["frechet"]["std"] == 0.0
    assert "diversity" not in agg["gbc"]  # None in every seed: no column value at all
    assert list(agg) == ["gbc", "naive", "bnstat", "real"]  # METHODS order, no absent rows


def test_aggregate_missing_rows_and_no_batch_norm():
    no_bn = compare.aggregate({0: image_metrics(0, 0.5, bn=False), 1: image_metrics(1, 0.7, bn=False)})
    assert "bnstat" not in no_bn and "particles" not in no_bn
    partial = compare.aggregate({0: image_metrics(0, 0.5, bn=True), 1: image_metrics(1, 0.7, bn=False)})
    assert partial["bnstat"]["evaluator_accuracy"]["n"] == 1  # over the seeds that have it
    assert partial["bnstat"]["evaluator_accuracy"]["std"] == 0.0
    nan = image_metrics(2, float("nan"))
    assert compare.aggregate({2: nan, 3: image_metrics(3, 0.3)})["gbc"]["evaluator_accuracy"]["n"] == 1


def test_toy_rows_and_markdown():
    toy = {s: {"seed": s, "seconds": 10.0 + s, "gbc": {"sv_recall": r, "precision": 1.0},
               "naive": {"sv_recall": 0.0, "precision": 0.5}} for s, r in ((0, 0.5), (1, 0.7))}
    res = {"seeds": [0, 1], "settings": {
        "toy2d": {"label": "toy", "seeds": [0, 1], "rows": compare.aggregate(toy), "bnstat": "none"},
        "mnist-paper": {"label": "paper", "seeds": [0, 1], "bnstat": True,
                        "rows": compare.aggregate({0: image_metrics(0, 0.4),
                                                   1: image_metrics(1, 0.6)})}}}
    rows = res["settings"]["toy2d"]["rows"]
    assert rows["gbc"]["seconds"]["mean"] == pytest.approx(10.5)
    md = compare.markdown(res)
    assert "| toy2d | gbc | 2 | 0.60 ± 0.14 | 1.00 ± 0.00 |" in md
    assert "| mnist-paper | bnstat | 2 |" in md and "| toy2d | bnstat" not in md
    assert "toy2d: toy; seeds 0, 1; no batch norm" in md
    assert md.index("SSIM share") < md.index("SV recall")  # image table first, toy table second
    v = compare.verdicts(res)
    assert "toy2d, SV recall: GBC 0.60 ± 0.14 — above naive (0.00)" in v
    acc = next(line for line in v if line.startswith("mnist-paper, evaluator"))
    assert "above naive (0.10)" in acc and "within the spread of bnstat (0.50)" in acc
    assert "below real (0.90)" in acc
    recs = compare.long_records(res)
    assert {"setting": "toy2d", "method": "gbc", "metric": "sv_recall", "seed": 1,
            "value": 0.7} in recs


def test_verdicts_compare_the_seen_rows_with_each_other():
    """faces-recovery: GBC from the particles as seen against the particles as seen (and naive,
    real), GBC as drawn against the particles as drawn — never across."""
    def seen(seed, p):
        m = image_metrics(seed, 0.2, bn=False)
        for k, a in (("particles", 0.3), ("particles_seen", p), ("gbc_warm_seen", 1.0),
                     ("gbc_seen", 0.6)):
            m[k] = {"evaluator_accuracy": a, "ssim_recovery_share": a}
        return m
    res = {"settings": {"faces-recovery": {"rows": compare.aggregate(
        {0: seen(0, 1.0), 1: seen(1, 0.8)})}}}
    v = compare.verdicts(res)
    warm = next(line for line in v if line.startswith("faces-recovery, SSIM share: GBC from"))
    assert "within the spread of particles_seen (0.90)" in warm and "above naive (0.05)" in warm
    assert "particles (0.30)" not in warm
    own = next(line for line in v if line.startswith("faces-recovery, SSIM share: GBC as seen"))
    assert "below particles_seen (0.90)" in own and "particles (0.30)" not in own
    plain = next(line for line in v if line.startswith("faces-recovery, SSIM share: GBC 0.10"))
    assert "below particles (0.30)" in plain and "particles_seen" not in plain


def stub_setting(calls: list, steps: int = 1) -> Setting:
    @dataclasses.dataclass
    class Cfg:
        steps: int = 1

    def run(seed, cfg, progress=False, data_dir=None):
        calls.append((seed, cfg.steps))
        return {"metrics": {"seed": seed, "seconds": 1.0,
                            "gbc": {"sv_recall": 0.1 * seed, "precision": 1.0}}}

    exp = Experiment(name="stub", help="", config=lambda p, f: Cfg(steps), data=None,
                     classifier=None, run=run, write=None, report=None)
    return Setting("stub", exp, "default", "a stub")


def test_cache_second_call_computes_nothing(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setitem(compare.SETTINGS, "stub", stub_setting(calls))
    first = compare.compare_all(["stub"], seeds=[0, 1, 2], root=tmp_path, log=None)
    assert sorted(calls) == [(0, 1), (1, 1), (2, 1)]
    second = compare.compare_all(["stub"], seeds=[0, 1, 2], root=tmp_path, log=None)
    assert len(calls) == 3 and second["settings"] == first["settings"]
    compare.compare_all(["stub"], seeds=[0, 3], root=tmp_path, log=None)
    assert calls[3:] == [(3, 1)]  # only the missing seed
    monkeypatch.setitem(compare.SETTINGS, "stub", stub_setting(calls, steps=2))
    compare.compare_all(["stub"], seeds=[0], root=tmp_path, log=None)
    assert calls[4:] == [(0, 2)]  # another config, another hash: a new run
    assert len(list((tmp_path / "stub").iterdir())) == 5


def test_max_seeds_caps_a_slow_setting(tmp_path, monkeypatch):
    calls = []
    monkeypatch.setitem(compare.SETTINGS, "stub",
                        dataclasses.replace(stub_setting(calls), max_seeds=2))
    res = compare.compare_all(["stub"], seeds=[0, 1, 2], root=tmp_path, log=None)
    assert res["settings"]["stub"]["seeds"] == [0, 1] and len(calls) == 2
    assert "| stub | gbc | 2 |" in compare.markdown(res)


def test_cli_fast_toy(tmp_path, monkeypatch, capsys):
    # the real toy pipeline, at smaller sizes than its fast profile
    tiny = lambda profile, fast: toy2d.ToyConfig.fast(clf_steps=400, gen_steps=60, naive_steps=20,
                                                      n_eval_samples=100)
    exp = dataclasses.replace(toy2d.EXPERIMENT, config=tiny)
    monkeypatch.setitem(compare.SETTINGS, "toy2d", dataclasses.replace(compare.SETTINGS["toy2d"],
                                                                       experiment=exp))
    monkeypatch.setenv("GBC_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "out"
    argv = ["compare", "--fast", "--experiments", "toy2d", "--seeds", "0,1", "--out", str(out),
            "--quiet"]
    assert cli.main(argv) == 0
    res = json.loads((out / "compare.json").read_text())
    rows = res["settings"]["toy2d"]["rows"]
    assert set(rows) == {"gbc", "naive"} and rows["gbc"]["sv_recall"]["n"] == 2
    assert set(rows["gbc"]["precision"]["values"]) == {"0", "1"}
    assert "| toy2d | gbc | 2 |" in (out / "compare.md").read_text()
    assert (out / "compare.png").stat().st_size > 1000
    cached = sorted((tmp_path / "cache" / "compare" / "toy2d-fast").glob("*/metrics.json"))
    assert len(cached) == 2
    stamps = [p.stat().st_mtime_ns for p in cached]
    capsys.readouterr()
    assert cli.main(argv) == 0  # the second call reads both runs from the cache
    assert "cached in" not in capsys.readouterr().out
    assert [p.stat().st_mtime_ns for p in cached] == stamps
    assert cli.main(["compare", "--experiments", "nope", "--out", str(out)]) == 2


def test_saved_samples_spread_over_the_groups():
    """The figure's few samples per method come from every class or combination, not the first."""
    import numpy as np

    x = np.repeat(np.arange(4), 8)  # 4 groups of 8, grouped as the experiments return them
    assert set(compare.evenly_spaced(x, 4)) == {0, 1, 2, 3}
    assert len(compare.evenly_spaced(x[:3], 10)) == 3  # fewer rows than asked: all of them
