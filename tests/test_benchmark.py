"""benchmarks/step_cost.py: the GBC step it times is the right computation (no timing asserts)."""

import importlib.util
import sys
from pathlib import Path

import pytest
import torch

PATH = Path(__file__).resolve().parents[1] / "benchmarks" / "step_cost.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("step_cost", PATH)
    mod = importlib.util.module_from_spec(spec)
    sys.modules["step_cost"] = mod
    spec.loader.exec_module(mod)
    yield mod
    sys.modules.pop("step_cost", None)


@pytest.mark.parametrize("case,batch", [("mnist", 6), ("toy", 9)])
def test_gradient_check_passes(bench, case, batch):
    """(b) double backprop and (c) per-sample vmap(grad) give the same generator gradient."""
    r = bench.gradient_check(case, batch=batch, seed=3)
    assert r["ok"], r
    assert r["max_rel_err"] <= bench.GRAD_RTOL
    assert abs(r["loss_b"] - r["loss_c"]) <= 1e-10 * max(1.0, abs(r["loss_c"]))
    assert torch.get_default_dtype() == torch.float32  # the float64 check restored the default


def test_gradient_check_catches_a_wrong_v(bench, monkeypatch):
    """The check is not vacuous: a per-sample reference that drops one sample fails it."""
    v_of = bench.PerSampleGBCObjective.v_of

    def wrong(self, x, y, w=None):
        v, qs = v_of(self, x, y, w)
        v0, _ = v_of(self, x[:1], y[:1], None if w is None else w[:1])
        return [a - b / len(x) for a, b in zip(v, v0)], qs

    monkeypatch.setattr(bench.PerSampleGBCObjective, "v_of", wrong)
    assert not bench.gradient_check("toy", batch=5, seed=1)["ok"]


def test_flop_formulas(bench):
    """The analytic counts on a hand-checked MLP: layers 3→4→2, generator 5→6→3, batch 2."""
    clf = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    G = torch.nn.Sequential(torch.nn.Linear(5, 6), torch.nn.ReLU(), torch.nn.Linear(6, 3))
    S, M1, SG, MG1 = 12 + 8, 12, 30 + 18, 30
    assert bench.fwdbwd_flops(clf, 2) == 2 * 2 * (3 * S - M1)
    assert bench.step_flops(clf, G, 2) == 2 * 2 * (7 * S - 2 * M1 + 3 * SG - MG1)


def test_flop_formulas_match_torch_counter(bench):
    """The analytic counts of (a) and (b) equal what torch's FLOP counter sees on the calls."""
    case = bench.build_case("toy", batch=8)
    step = bench.make_gbc_step(case.G, case.objective(), case.batch)
    x, y, _ = case.G.training_batch(case.batch)
    fwdbwd = bench.make_fwdbwd(case.classifier, x, y)
    assert bench.counted_flops(step) == bench.step_flops(case.classifier, case.G, case.batch)
    assert bench.counted_flops(fwdbwd) == bench.fwdbwd_flops(case.classifier, case.batch)


def test_flop_formulas_match_torch_counter_conv_generator(bench):
    """Same on the MNIST defaults, whose generator has convolutions (MACs found by hooks)."""
    case = bench.build_case("mnist", batch=4)
    assert any(isinstance(m, torch.nn.Conv2d) for m in case.G.modules())
    step = bench.make_gbc_step(case.G, case.objective(), case.batch)
    assert bench.counted_flops(step) == bench.step_flops(case.classifier, case.G, case.batch,
                                                         executed=True)
    # the last UpConv (one output channel) runs as a phase convolution: 36 taps, 16 needed
    needed, run = bench.layer_macs(case.G), bench.layer_macs(case.G, executed=True)
    assert run[-1] == needed[-1] * 36 // 16 and run[:-1] == needed[:-1]
