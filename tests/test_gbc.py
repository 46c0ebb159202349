"""The generator loop: NaN guard restores G and the scalars; the naive baseline trains."""

import copy

import pytest
import torch
from torch import nn

from gbc_teach.baselines.naive import NaiveObjective
from gbc_teach.gbc import balanced_labels, fit_codes, train_generator
from gbc_teach.models import MLP, Generator
from gbc_teach.training import NonFiniteError


class NaNObjective(nn.Module):
    """Loss ‖x − s‖² with a learnable scalar s; NaN from call `n` on. Records G at each call."""

    def __init__(self, G, n):
        super().__init__()
        self.G, self.n, self.calls, self.seen = [G], n, 0, []
        self.s = nn.Parameter(torch.tensor(0.3))

    def forward(self, x, y, w=None):
        self.seen.append((copy.deepcopy(self.G[0].state_dict()), self.s.detach().clone()))
        loss = (x - self.s).pow(2).mean()
        self.calls += 1
        if self.calls > self.n:
            loss = loss * float("nan")
        return {"loss": loss}


def test_nan_restores_generator_and_scalars():
    torch.manual_seed(0)
    G = Generator(2, 3, 2, hidden=8, depth=1)
    obj = NaNObjective(G, n=4)  # steps 0..3 fine, NaN from step 4 (not a log step)
    with pytest.raises(NonFiniteError, match="restored the state of step 3"):
        train_generator(G, obj, steps=20, batch=12, log_every=3, progress=False)
    # step 4's NaN gradient poisoned G; step 6 (logged) notices and rolls back to step 3
    assert obj.calls == 7
    state3, s3 = obj.seen[3]
    for k, v in G.state_dict().items():
        assert torch.isfinite(v).all() and torch.equal(v, state3[k]), k
    assert torch.equal(obj.s.detach(), s3)
    assert not torch.equal(state3["net.0.weight"], obj.seen[0][0]["net.0.weight"])  # it trained


def test_naive_baseline_raises_margins():
    torch.manual_seed(1)
    clf = MLP(2, [8], 3, bias=False, const_feature=True)
    for p in clf.parameters():
        p.requires_grad_(False)
    G = Generator(2, 3, 2, hidden=16, depth=1, box=2.0)
    hist = train_generator(G, NaiveObjective(clf, 3), steps=40, batch=24, lr=1e-2,
                           log_every=20, progress=False)
    assert hist["step"] == [0, 20, 40] and len(hist["loss"]) == 3
    assert hist["loss"][-1] < hist["loss"][0]  # loss = −mean q


def test_balanced_labels():
    assert balanced_labels(7, 3).tolist() == [0, 1, 2, 0, 1, 2, 0]


def test_fit_codes_puts_every_code_on_its_atom():
    """After the warm start every (class, code) sends any z to its atom, and π(c | y) is the
    atoms' weights normalized per class."""
    torch.manual_seed(0)
    G = Generator(2, 2, 2, hidden=64, box=2.5, n_codes=3)
    atoms = torch.tensor([[[-1.5, 0.0], [0.0, 1.2], [1.0, -1.0]],
                          [[0.5, 0.5], [-0.8, -1.4], [1.6, 1.1]]])
    weights = torch.tensor([[1.0, 2.0, 1.0], [3.0, 0.0, 1.0]])
    before = G(torch.zeros(6, 2), torch.tensor([0, 0, 0, 1, 1, 1]), torch.tensor([0, 1, 2] * 2))
    assert (before - atoms.flatten(0, 1)).norm(dim=1).max() > 0.5  # not there by chance
    rms = fit_codes(G, atoms, weights, steps=800, seed=0)
    assert rms < 0.05, rms
    y, c = torch.tensor([0, 0, 0, 1, 1, 1]).repeat(50), torch.tensor([0, 1, 2] * 2).repeat(50)
    with torch.no_grad():
        x = G(torch.randn(300, 2, generator=torch.Generator().manual_seed(1)), y, c)
    assert (x - atoms[y, c]).norm(dim=1).max() < 0.15  # measured 0.06
    pi = torch.softmax(G.code_logits.detach(), 1)
    torch.testing.assert_close(pi[0], torch.tensor([0.25, 0.5, 0.25]), atol=1e-6, rtol=0)
    assert pi[1, 1] < 1e-3 and pi[1, 0] == pytest.approx(0.75, abs=1e-3)  # zero weight: floored
    with pytest.raises(ValueError, match=r"\(n_classes, n_codes\) = \(2, 3\)"):
        fit_codes(G, atoms[:, :2], weights[:, :2])



class RisingObjective(nn.Module):
    """Loss ‖x − s‖² + (step-dependent ramp): falls for the first calls, then rises whatever G
    does, so the lowest loss is at a known step. Records G's state at each call."""

    def __init__(self, G, turn):
        super().__init__()
        self.G, self.turn, self.calls, self.seen = [G], turn, 0, []
        self.s = nn.Parameter(torch.tensor(0.3))

    def forward(self, x, y, w=None):
        self.seen.append(copy.deepcopy(self.G[0].state_dict()))
        ramp = abs(self.calls - self.turn) * 10.0  # minimum at call `turn`
        self.calls += 1
        return {"loss": (x - self.s).pow(2).mean() + ramp}


def test_keep_best_ends_on_the_lowest_logged_loss_and_the_callback_sees_every_log_step():
    torch.manual_seed(0)
    G = Generator(2, 3, 2, hidden=8, depth=1)
    obj = RisingObjective(G, turn=6)
    logged = []
    hist = train_generator(G, obj, steps=12, batch=12, log_every=3, progress=False,
                           keep_best=True, callback=lambda step, g, v: logged.append(step))
    assert logged == hist["step"] == [0, 3, 6, 9, 12]
    assert hist["kept_step"] == 6 and min(hist["loss"]) == hist["loss"][2]
    for k, v in G.state_dict().items():  # G is back at the state it had at step 6
        assert torch.equal(v, obj.seen[6][k]), k
    assert not torch.equal(obj.seen[6]["net.0.weight"], obj.seen[12]["net.0.weight"])
    # without keep_best the loop ends where it stopped
    torch.manual_seed(0)
    G2 = Generator(2, 3, 2, hidden=8, depth=1)
    hist2 = train_generator(G2, RisingObjective(G2, turn=6), steps=12, batch=12, log_every=3,
                            progress=False)
    assert "kept_step" not in hist2
    assert not torch.equal(G2.state_dict()["net.0.weight"], obj.seen[6]["net.0.weight"])


def test_zero_steps_only_logs_the_start():
    torch.manual_seed(0)
    G = Generator(2, 3, 2, hidden=8, depth=1)
    before = copy.deepcopy(G.state_dict())
    obj = NaNObjective(G, n=100)
    hist = train_generator(G, obj, steps=0, batch=12, progress=False)
    assert hist["step"] == [0] and len(hist["loss"]) == 1
    assert all(torch.equal(v, before[k]) for k, v in G.state_dict().items())


def test_fit_codes_reaches_every_code_with_a_batch_smaller_than_classes_times_codes():
    """batch 4 < 2 classes × 3 codes: each step still holds every (class, code) pair (without
    that, code 2 stays where it started: measured 2.1–2.5 from its atom; with it 0.29 at most)."""
    torch.manual_seed(0)
    G = Generator(2, 2, 2, hidden=64, box=2.5, n_codes=3)
    atoms = torch.tensor([[[-1.5, 0.0], [0.0, 1.2], [1.0, -1.0]],
                          [[0.5, 0.5], [-0.8, -1.4], [1.6, 1.1]]])
    fit_codes(G, atoms, torch.ones(2, 3), steps=800, batch=4, seed=0)
    y, c = torch.tensor([0, 0, 0, 1, 1, 1]).repeat(50), torch.tensor([0, 1, 2] * 2).repeat(50)
    with torch.no_grad():
        x = G(torch.randn(300, 2, generator=torch.Generator().manual_seed(1)), y, c)
    assert (x - atoms[y, c]).norm(dim=1).max() < 0.5
