"""BN-statistics matching: zero exactly at the running statistics, positive elsewhere, trains G."""

import pytest
import torch

from gbc_teach.baselines.bnstat import BNStatObjective, batch_moments, bn_layers
from gbc_teach.gbc import train_generator
from gbc_teach.models import MLP, Generator


def _classifier_with_stats_of(x):
    """A BN MLP whose running statistics are exactly the batch statistics of x."""
    torch.manual_seed(0)
    m = MLP(12, [16, 16], 3, bn=True)
    for bn in bn_layers(m):
        bn.momentum = 1.0  # running ← batch statistics of the next forward
    m.train()
    with torch.no_grad():
        m(x)
    # PyTorch stores the unbiased variance as running_var; BN-stat matching compares the biased one
    for bn in bn_layers(m):
        n = len(x)
        bn.running_var.mul_((n - 1) / n)
    return m.eval()


@pytest.mark.parametrize("normalize", [True, False])
def test_zero_at_running_stats_positive_elsewhere(normalize):
    x = torch.randn(64, 12)
    obj = BNStatObjective(_classifier_with_stats_of(x), 3, normalize=normalize)
    L_same, _ = obj.bn_loss(x)
    assert float(L_same) < 1e-4
    L_shift, _ = obj.bn_loss(x + 0.5)
    L_scale, _ = obj.bn_loss(2.0 * x)
    assert float(L_shift) > 0.05 and float(L_scale) > 0.05


def test_batch_moments_match_torch():
    h = torch.randn(50, 7, 3, 3)
    mu, var = batch_moments(h)
    assert torch.allclose(mu, h.mean((0, 2, 3)), atol=1e-6)
    assert torch.allclose(var, h.var((0, 2, 3), unbiased=False), atol=1e-5)


def test_leaves_caller_model_untouched_and_needs_bn():
    m = MLP(12, [16], 3, bn=True).train()
    state = {k: v.clone() for k, v in m.state_dict().items()}
    obj = BNStatObjective(m, 3)
    obj(torch.randn(32, 12), torch.arange(32) % 3)
    assert m.training and all(torch.equal(state[k], v) for k, v in m.state_dict().items())
    with pytest.raises(ValueError, match="batch norm"):
        BNStatObjective(MLP(12, [16], 3, bn=False), 3)
    with pytest.raises(ValueError, match="class_loss"):
        BNStatObjective(m, 3, class_loss="hinge")


def test_generator_learns_the_statistics():
    torch.manual_seed(1)
    x_real = 0.5 + 0.2 * torch.randn(256, 12)
    obj = BNStatObjective(_classifier_with_stats_of(x_real), 3, r_bn=1.0)
    G = Generator(4, 3, 12, hidden=32, out="box", box=3.0)
    hist = train_generator(G, obj, steps=150, batch=96, lr=3e-3, progress=False, log_every=10)
    assert hist["L_bn"][-1] < 0.5 * hist["L_bn"][0]
    assert {"loss", "L_bn", "L_class"} <= set(hist)
