"""q(x, y; θ): multi-class against a brute-force loop, binary case, shape and label errors."""

import pytest
import torch

from gbc_teach.margins import q, q_of


def q_loop(logits, y):
    """Reference: f_y − max_{j≠y} f_j, one point at a time."""
    out = []
    for f, c in zip(logits.tolist(), y.tolist()):
        out.append(f[c] - max(v for j, v in enumerate(f) if j != c))
    return torch.tensor(out, dtype=logits.dtype)


@pytest.mark.parametrize("C", [2, 3, 10])
def test_multiclass_matches_loop(C):
    g = torch.Generator().manual_seed(C)
    logits = torch.randn(50, C, generator=g, dtype=torch.float64)
    y = torch.randint(0, C, (50,), generator=g)
    torch.testing.assert_close(q(logits, y), q_loop(logits, y))


def test_multiclass_ties_and_signs():
    logits = torch.tensor([[1.0, 1.0, 0.0], [3.0, -1.0, 2.0], [0.0, 5.0, 5.0]])
    y = torch.tensor([0, 2, 1])
    # a tie with the runner-up gives 0; a misclassified point gives a negative margin
    torch.testing.assert_close(q(logits, y), torch.tensor([0.0, -1.0, 0.0]))


def test_binary_one_logit():
    f = torch.tensor([[2.0], [-3.0], [0.5]])
    y = torch.tensor([1, 1, -1])
    torch.testing.assert_close(q(f, y), torch.tensor([2.0, -3.0, -0.5]))
    # a 1-D logit vector is read as one logit per point
    torch.testing.assert_close(q(f[:, 0], y), torch.tensor([2.0, -3.0, -0.5]))


def test_q_of_model():
    model = torch.nn.Linear(4, 3)
    x, y = torch.randn(7, 4), torch.randint(0, 3, (7,))
    with torch.no_grad():
        torch.testing.assert_close(q_of(model, x, y), q_loop(model(x), y))


def test_margin_gradient_flows():
    logits = torch.tensor([[1.0, 3.0, 2.0]], requires_grad=True)
    q(logits, torch.tensor([2])).sum().backward()
    # ∂q/∂f = e_y − e_{argmax_{j≠y}}
    torch.testing.assert_close(logits.grad, torch.tensor([[0.0, -1.0, 1.0]]))


@pytest.mark.parametrize("logits, y, match", [
    (torch.zeros(4, 3, 2), torch.zeros(4, dtype=torch.long), "must be"),
    (torch.zeros(4, 3), torch.zeros(5, dtype=torch.long), "does not match"),
    (torch.zeros(4, 3), torch.zeros(4, 1, dtype=torch.long), "does not match"),
    (torch.zeros(4, 3), torch.tensor([0, 1, 2, 3]), "must lie in"),
    (torch.zeros(4, 3), torch.tensor([0, -1, 2, 1]), "must lie in"),
    (torch.zeros(3, 1), torch.tensor([1, 0, -1]), r"\{-1, \+1\}"),
])
def test_errors(logits, y, match):
    with pytest.raises(ValueError, match=match):
        q(logits, y)
