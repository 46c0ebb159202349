"""The row-space reconstruction: sparse non-negative vectors of W₁'s row space (baselines.rowspace)."""

import pytest
import torch
from torch import nn

from gbc_teach.baselines.rowspace import distinct, recover, sparse_vectors


class MLP(nn.Module):
    def __init__(self, W1: torch.Tensor, n_classes: int = 3):
        super().__init__()
        self.net = nn.Sequential(nn.Linear(W1.shape[1], W1.shape[0]), nn.Softplus(),
                                 nn.Linear(W1.shape[0], n_classes))
        with torch.no_grad():
            self.net[0].weight.copy_(W1)

    def forward(self, x):
        return self.net(x.flatten(1))


def sparse_images(n: int = 6, d: int = 144, on: int = 20, seed: int = 0) -> torch.Tensor:
    """n non-negative 'images' of d pixels, each with `on` random pixels in [0.3, 1], the rest 0."""
    g = torch.Generator().manual_seed(seed)
    X = torch.zeros(n, d)
    for i in range(n):
        idx = torch.randperm(d, generator=g)[:on]
        X[i, idx] = 0.3 + 0.7 * torch.rand(on, generator=g)
    return X


def stroke_images(n: int, side: int = 16, strokes: int = 4, seed: int = 0) -> torch.Tensor:
    """n 'digits' of side² pixels, each the union of `strokes` random anti-aliased line segments:
    like handwriting, their lit pixels overlap much more than random sparse pixels do."""
    g = torch.Generator().manual_seed(seed)
    yy, xx = torch.meshgrid(torch.arange(side).float(), torch.arange(side).float(), indexing="ij")
    t = torch.linspace(0, 1, 50)
    X = torch.zeros(n, side * side)
    for i in range(n):
        img = torch.zeros(side, side)
        for _ in range(strokes):
            a, b = (torch.rand(2, 2, generator=g) * (side - 4) + 2).unbind(0)
            px, py = a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])
            dist = ((xx[..., None] - px) ** 2 + (yy[..., None] - py) ** 2).sqrt().min(-1).values
            img = torch.maximum(img, (1.5 - dist).clamp(0, 1))
        X[i] = img.flatten()
    return X


def row_space_net(X: torch.Tensor, floor: float = 1e-7, seed: int = 0) -> MLP:
    """A first layer Σ_i δ_i x_iᵀ (random δ_i) plus a random floor `floor` as strong."""
    g = torch.Generator().manual_seed(seed)
    W1 = torch.randn(32, len(X), generator=g) @ X
    W1 = W1 + floor * W1.norm() * torch.randn(32, X.shape[1], generator=g) / 32
    return MLP(W1)


def best_cosine(found: torch.Tensor, X: torch.Tensor) -> torch.Tensor:
    """For each image of X, the largest cosine with any found vector."""
    a = found.flatten(1) / found.flatten(1).norm(dim=1, keepdim=True)
    b = X / X.norm(dim=1, keepdim=True)
    return (b @ a.T).max(1).values


def test_the_sparsest_vectors_of_the_span_are_the_images():
    """In the span of six sparse non-negative images, the LPs return the images themselves, and
    random positive mixtures of them (dense combinations) never."""
    X = sparse_images()
    B = torch.linalg.svd(X.double(), full_matrices=False)[2]  # an orthonormal basis of the span
    cand = sparse_vectors(B, n_lp=60, seed=0)
    assert len(cand) == 60 and cand.min() >= 0 and cand.max() <= 1
    assert best_cosine(cand, X).min() > 0.999  # every image found
    # every candidate is one of the images, not a blend of two
    assert best_cosine(X, cand).min() > 0.999


def test_recover_reads_the_number_of_images_off_the_gap_and_returns_them():
    X = sparse_images(n=5, seed=1)
    out = recover(row_space_net(X), shape=(144,), n_lp=60, seed=0)
    assert out["k"] == 5  # the gap: five values, then the floor 1e-7
    assert out["x"].shape == (5, 144) and out["n_distinct"] == 5
    assert best_cosine(out["x"], X).min() > 0.999
    # kept in order of the classifier's confidence
    assert (out["confidence"][:-1] >= out["confidence"][1:]).all()


def test_recover_refuses_a_first_layer_without_a_gap():
    g = torch.Generator().manual_seed(0)
    with pytest.raises(ValueError, match="no gap of 4"):
        recover(MLP(torch.randn(32, 144, generator=g)), shape=(144,), n_lp=5)


def test_distinct_keeps_one_of_each_group_by_score():
    x = torch.tensor([[1.0, 0.0], [0.99, 0.01], [0.0, 1.0]])
    keep, count = distinct(x, torch.tensor([0.1, 0.9, 0.5]))
    assert keep.tolist() == [1, 2] and count.tolist() == [2, 1]


def test_deflated_lps_never_return_what_was_found():
    """With the first three images as `away`, every LP must leave their span: none of them (and
    no mixture of them) comes back, and the other images do."""
    X = sparse_images(n=6, seed=2)
    B = torch.linalg.svd(X.double(), full_matrices=False)[2]
    cand = sparse_vectors(B, n_lp=40, seed=0, away=X[:3])
    assert len(cand) > 0
    assert best_cosine(cand, X[:3]).max() < 0.99  # no found image again
    assert best_cosine(cand, X[3:]).min() > 0.999  # the three others reached
    with pytest.raises(ValueError, match="already span"):
        sparse_vectors(B, n_lp=2, away=X)


def test_recover_in_rounds_keeps_k_candidates_in_confidence_order():
    X = sparse_images(n=5, seed=1)
    out = recover(row_space_net(X), shape=(144,), n_lp=12, rounds=3, seed=0)
    assert out["k"] == 5 and len(out["x"]) == 5 and out["n_candidates"] > 12
    assert (out["confidence"][:-1] >= out["confidence"][1:]).all()
    with pytest.raises(ValueError, match="rounds"):
        recover(row_space_net(X), shape=(144,), n_lp=5, rounds=0)


def test_reweighted_lps_find_more_of_overlapping_images():
    """Forty stroke images in a 40-dimensional span: a weighted pixel sum is a poor stand-in for
    sparsity there, and most plain LPs end on blends; re-solving each LP with weights
    1/(x̂ + δ) from its own answer lands on the images themselves more often."""
    X = stroke_images(40)
    B = torch.linalg.svd(X.double(), full_matrices=False)[2]
    found = lambda c: int((best_cosine(c, X) > 0.99).sum())  # images with a candidate on them
    images = lambda c: int((best_cosine(X, c) > 0.99).sum())  # candidates that are images
    totals = torch.zeros(2, 2)
    for seed in range(3):
        plain = sparse_vectors(B, n_lp=60, seed=seed)
        again = sparse_vectors(B, n_lp=60, seed=seed, reweight=2)
        assert again.min() >= 0 and again.max() <= 1
        assert found(again) >= found(plain) and images(again) >= images(plain)
        totals += torch.tensor([[found(plain), images(plain)], [found(again), images(again)]])
    # summed over three seeds: images found 11 → 22, candidates that are images 13 → 28
    assert totals[1, 0] >= totals[0, 0] + 6 and totals[1, 1] >= totals[0, 1] + 6
