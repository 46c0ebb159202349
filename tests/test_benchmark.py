"""benchmarks/step_cost*.py: the GBC step it times is the right computation (no timing asserts)."""

import importlib
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
PARTS = ("cases", "check", "flops", "timing", "report")


@pytest.fixture(scope="module")
def bench():
    """The benchmark's modules (benchmarks/ is not a package), imported by plain name as the
    script step_cost.py imports them: bench.cli, bench.cases, bench.check, bench.flops, ..."""
    names = ["step_cost", *(f"step_cost_{p}" for p in PARTS)]
    sys.path.insert(0, str(BENCHMARKS))
    try:
        mods = {n: importlib.import_module(n) for n in names}
        yield SimpleNamespace(cli=mods["step_cost"], **{p: mods[f"step_cost_{p}"] for p in PARTS})
    finally:
        sys.path.remove(str(BENCHMARKS))
        for n in names:
            sys.modules.pop(n, None)


def test_cli_options(bench, capsys):
    """The command line loads every part and offers the documented options."""
    with pytest.raises(SystemExit) as exit_:
        bench.cli.main(["--help"])
    assert exit_.value.code == 0
    out = capsys.readouterr().out
    for opt in ("--device", "--json", "--threads", "--trials", "--no-scaling", "--quick",
                "--compile", "--markdown", "--plot"):
        assert opt in out


@pytest.mark.parametrize("case,batch", [("mnist", 6), ("toy", 9)])
def test_gradient_check_passes(bench, case, batch):
    """(b) double backprop and (c) per-sample vmap(grad) give the same generator gradient."""
    r = bench.check.gradient_check(case, batch=batch, seed=3)
    assert r["ok"], r
    assert r["max_rel_err"] <= bench.check.GRAD_RTOL
    assert abs(r["loss_b"] - r["loss_c"]) <= 1e-10 * max(1.0, abs(r["loss_c"]))
    assert torch.get_default_dtype() == torch.float32  # the float64 check restored the default


def test_gradient_check_catches_a_wrong_v(bench, monkeypatch):
    """The check is not vacuous: a per-sample reference that drops one sample fails it."""
    v_of = bench.check.PerSampleGBCObjective.v_of

    def wrong(self, x, y, w=None):
        v, qs = v_of(self, x, y, w)
        v0, _ = v_of(self, x[:1], y[:1], None if w is None else w[:1])
        return [a - b / len(x) for a, b in zip(v, v0)], qs

    monkeypatch.setattr(bench.check.PerSampleGBCObjective, "v_of", wrong)
    assert not bench.check.gradient_check("toy", batch=5, seed=1)["ok"]


def test_flop_formulas(bench):
    """The analytic counts on a hand-checked MLP: layers 3→4→2, generator 5→6→3, batch 2."""
    clf = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    G = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
    S, M1, SG, MG1 = 12 + 8, 12, 30 + 18, 30
    assert bench.flops.fwdbwd_flops(clf, 2) == 2 * 2 * (3 * S - M1)
    assert bench.flops.step_flops(clf, G, 2) == 2 * 2 * (7 * S - 2 * M1 + 3 * SG - MG1)


def test_flop_formulas_match_torch_counter(bench):
    """The analytic counts of (a) and (b) equal what torch's FLOP counter sees on the calls."""
    cases, flops = bench.cases, bench.flops
    case = cases.build_case("toy", batch=8)
    step = cases.make_gbc_step(case.G, case.objective(), case.batch)
    x, y, _ = case.G.training_batch(case.batch)
    fwdbwd = cases.make_fwdbwd(case.classifier, x, y)
    assert flops.counted_flops(step) == flops.step_flops(case.classifier, case.G, case.batch)
    assert flops.counted_flops(fwdbwd) == flops.fwdbwd_flops(case.classifier, case.batch)


def test_flop_formulas_match_torch_counter_conv_generator(bench):
    """Same on the MNIST defaults, whose generator has convolutions (MACs found by hooks)."""
    cases, flops = bench.cases, bench.flops
    case = cases.build_case("mnist", batch=4)
    assert any(isinstance(m, torch.nn.Conv2d) for m in case.G.modules())
    step = cases.make_gbc_step(case.G, case.objective(), case.batch)
    assert flops.counted_flops(step) == flops.step_flops(case.classifier, case.G, case.batch,
                                                         executed=True)
    # the last UpConv (one output channel) runs as a phase convolution: 36 taps, 16 needed
    needed, run = flops.layer_macs(case.G), flops.layer_macs(case.G, executed=True)
    assert run[-1] == needed[-1] * 36 // 16 and run[:-1] == needed[:-1]
