"""Recovery metrics on hand-made points with known answers (docs/method.md §8)."""

import pytest
import torch

from gbc_teach.evaluation.points import dictionary_scores, precision, radius, sv_recall

X = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
y = torch.tensor([0, 0, 1])
support = torch.tensor([True, False, True])
samples = torch.tensor([
    [0.05, 0.0],  # class 0, next to X[0]: a hit
    [0.0, 1.05],  # class 0, next to X[2] — but X[2] is class 1: no hit
    [1.0, 0.05],  # class 1, next to X[1] — class 0: no hit
])
sample_y = torch.tensor([0, 0, 1])


def test_recall_and_precision_known_answers():
    r = 0.1
    # SVs: X[0] (class 0) has the class-0 sample at 0.05; X[2] (class 1) has no class-1 sample near
    assert sv_recall(samples, sample_y, X, y, support, r) == pytest.approx(0.5)
    assert precision(samples, sample_y, X, y, r) == pytest.approx(1 / 3)
    # with every label matching its nearest point, everything counts
    right_y = torch.tensor([0, 1, 0])
    assert precision(samples, right_y, X, y, r) == 1.0
    assert sv_recall(samples, right_y, X, y, support, r) == 1.0
    assert sv_recall(samples, right_y, X, y, torch.tensor([False, True, False]), r) == 1.0
    # a tiny radius catches nothing
    assert precision(samples, right_y, X, y, 0.01) == 0.0


def test_radius_boundary_is_inclusive():
    s = torch.tensor([[0.5, 0.0]])  # exactly 0.5 from X[0]
    assert precision(s, torch.tensor([0]), X, y, 0.5) == 1.0
    assert precision(s, torch.tensor([0]), X, y, 0.49) == 0.0
    assert sv_recall(s, torch.tensor([0]), X, y, support, 0.5) == 0.5
    assert sv_recall(s, torch.tensor([0]), X, y, support, 0.49) == 0.0


def test_images_are_flattened():
    A = torch.zeros(2, 1, 2, 2)
    A[1] += 1.0  # distance 2 from A[0] in R^4
    s = torch.zeros(1, 1, 2, 2) + 0.05  # distance 0.1 from A[0]
    lab = torch.tensor([3, 3])
    assert precision(s, torch.tensor([3]), A, lab, 0.11) == 1.0
    assert sv_recall(s, torch.tensor([3]), A, lab, torch.tensor([True, True]), 0.11) == 0.5


def test_radius():
    assert radius(X) == pytest.approx(0.1 * 2 ** 0.5)
    assert radius(X, frac=1.0) == pytest.approx(2 ** 0.5)


def test_errors():
    with pytest.raises(ValueError, match="no support vectors"):
        sv_recall(samples, sample_y, X, y, torch.zeros(3, dtype=torch.bool), 0.1)
    with pytest.raises(ValueError, match="no samples"):
        precision(samples[:0], sample_y[:0], X, y, 0.1)


def test_dictionary_scores_weigh_candidates_by_mu():
    """Two support vectors; candidates: one on SV 0 (μ 3), one on the non-SV point (μ 1), one
    far from everything (μ 1), one on SV 1 but too weak to count as active (μ 0.001)."""
    X = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0]])
    y = torch.tensor([0, 1, 0])
    support = torch.tensor([True, True, False])
    cand = torch.tensor([[0.0, 0.0], [0.0, 1.0], [5.0, 5.0], [1.0, 0.0]])
    cand_y = torch.tensor([0, 0, 0, 1])
    mu = torch.tensor([3.0, 1.0, 1.0, 0.001])
    s = dictionary_scores(cand, cand_y, mu, X, y, support, r=0.1)
    assert s["n_active"] == 3
    assert s["sv_recall"] == 0.5  # SV 1's only candidate is below 1% of max μ
    assert abs(s["weight_near"] - 4.001 / 5.001) < 1e-6  # the far candidate's μ is the only miss
    assert dictionary_scores(cand, cand_y, mu, X, y, support, r=0.1, active_frac=1e-4)["sv_recall"] == 1.0
