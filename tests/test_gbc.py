"""The generator loop: NaN guard restores G and the scalars; the naive baseline trains."""

import copy

import pytest
import torch
from torch import nn

from gbc_teach.baselines.naive import NaiveObjective
from gbc_teach.gbc import balanced_labels, train_generator
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
