"""Free-particle reconstruction (Haim et al. 2022; Buzaglo et al. 2023): the strongest baseline
(docs/method.md §8, §10; notebook 05b §4–5).

GBC trains a generator G(z, y, c) whose samples satisfy the classifier's stationarity
condition. Drop the network and keep the atoms: m free images x_k ∈ [0, 1]^d with fixed
labels y_k, fitted by the same objective (losses.GBCObjective). With one code per atom and no
noise, a generator is exactly this table of images; the two differ only in parameterization
(notebook 05b shows both). A method of its own, and the check that a given classifier gives
its training images back at all.
"""

from __future__ import annotations

import torch
from torch import nn

from ..models import batch_rows


class Particles(nn.Module):
    """m labelled images, trained directly; `training_batch` returns all of them (full batch).

    Labels run over the classes evenly (k % C); pixels start dark and small, uniform in
    [0, init], like the empty background of a digit, and are kept in [0, 1] by `project`.
    """

    def __init__(self, n_classes: int, m: int, shape: tuple[int, ...] = (1, 28, 28),
                 init: float = 0.01, seed: int = 0, labels: torch.Tensor | None = None):
        super().__init__()
        if m < n_classes:
            raise ValueError(f"need at least one particle a class: m = {m} < {n_classes} classes")
        g = torch.Generator().manual_seed(seed)
        self.n_classes = n_classes
        self.x = nn.Parameter(init * torch.rand(m, *shape, generator=g))
        # labels: given (e.g. attribute vectors (m, A)), or the classes in turn
        self.register_buffer("y", torch.arange(m) % n_classes if labels is None else labels.clone())

    def training_batch(self, n: int | None = None, generator=None, share: tuple[int, int] = (0, 1)):
        """(x, y, w): every particle, equal weights (w = None); n and generator are ignored.

        share=(r, W): rank r's rows of the m particles (models.batch_rows)."""
        rows = batch_rows(len(self.x), share)
        return self.x[rows], self.y[rows], None

    @torch.no_grad()
    def project(self) -> None:
        """Back into the image domain [0, 1] after each optimizer step."""
        self.x.clamp_(0.0, 1.0)

    @torch.no_grad()
    def sample(self, n: int | None = None, y=None, k=None, generator=None):
        """All particles and their labels (a particle set has no other samples to draw)."""
        return self.x.detach().clone(), self.y.clone()
