"""The 2-D toy data set the course starts with (docs/method.md §7–8; notebook 01).

Three Gaussian blobs on a circle, a few points each, a fresh draw per seed: separable
(every pair of opposite-class points at least `min_gap` apart) but not trivially far apart.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass
class Toy2D:
    X: torch.Tensor  # (N, 2) float32 points
    y: torch.Tensor  # (N,) int64 labels in [0, C)
    n_classes: int
    box: float  # points lie in [−box, box]²

    @property
    def diameter(self) -> float:
        """Largest pairwise distance of the training set (docs/method.md §8 radius r = 0.1 × this)."""
        return float(torch.cdist(self.X, self.X).max())


def make_toy2d(seed: int = 0, n_classes: int = 3, n_per_class: int = 8, radius: float = 1.0,
               spread: float = 0.45, min_gap: float = 0.15, box: float = 2.0) -> Toy2D:
    """Draw the toy: class c's points ~ N(radius·(cos 2πc/C, sin 2πc/C), spread²·I)."""
    if n_classes < 2 or n_per_class < 1:
        raise ValueError(f"need n_classes ≥ 2 and n_per_class ≥ 1, got {n_classes}, {n_per_class}")
    g = torch.Generator().manual_seed(seed)
    angles = 2 * math.pi * torch.arange(n_classes) / n_classes
    centers = radius * torch.stack([angles.cos(), angles.sin()], 1)  # (C, 2)
    for _ in range(1000):  # rejection: redraw until the classes keep a minimum gap
        y = torch.arange(n_classes).repeat_interleave(n_per_class)
        X = centers[y] + spread * torch.randn(len(y), 2, generator=g)
        X = X.clamp(-box, box)
        d = torch.cdist(X, X)
        other = y[:, None] != y[None, :]
        if d[other].min() >= min_gap:
            return Toy2D(X.float(), y, n_classes, box)
    raise RuntimeError("could not draw a separable toy set; lower min_gap or spread")


def grid_candidates(side: int, n_classes: int, extent: float = 2.5):
    """Every point of a side×side grid over [−extent, extent]², once per class."""
    g = torch.linspace(-extent, extent, side)
    a, b = torch.meshgrid(g, g, indexing="xy")
    grid = torch.stack([a.flatten(), b.flatten()], 1)
    return grid.repeat(n_classes, 1), torch.arange(n_classes).repeat_interleave(len(grid))


def with_const_feature(X: torch.Tensor, c: float = 1.0) -> torch.Tensor:
    """Append a constant feature, so a bias-free (homogeneous) net still has an affine first layer."""
    return torch.cat([X, torch.full_like(X[:, :1], c)], 1)
