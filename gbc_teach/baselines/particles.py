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


def fit_in_span(objective, B: torch.Tensor, x0: torch.Tensor, labels: torch.Tensor,
                rounds: int = 100, inner: int = 20, box: float = 100.0) -> tuple[torch.Tensor, dict]:
    """Particles confined to a subspace: x_k = Bᵀc_k, with B (r, d) orthonormal rows — e.g. W₁'s
    row space up to its gap, where a weight-decay MLP's training images lie. Only c is searched
    (r numbers a particle instead of d pixels), started at c = B·x0 and fitted by full-batch
    L-BFGS on the objective's loss (a smooth deterministic search: Adam's ±lr steps walk even a
    start on the training images away) plus box · L_box, the mean squared distance of the pixels
    from [0, 1] (a clamp would leave the subspace; without the box the search wanders to
    far-off images that also satisfy the conditions).

    Returns (x, history) with x shaped like x0 and the loss and L_stat after each round of at most
    `inner` L-BFGS iterations."""
    if rounds < 1 or inner < 1:
        raise ValueError(f"rounds and inner must be at least 1, got {rounds}, {inner}")
    Bf = B.detach().to(x0.dtype)
    if Bf.shape[1] != x0[0].numel():
        raise ValueError(f"B has rows of {Bf.shape[1]} numbers, x0's images have {x0[0].numel()}")
    c = nn.Parameter(x0.detach().flatten(1) @ Bf.T)

    def images():  # x = Bᵀc
        return (c @ Bf).view_as(x0)

    opt = torch.optim.LBFGS([c], lr=1.0, max_iter=inner, history_size=50,
                            line_search_fn="strong_wolfe")

    def losses():
        x = images()
        # L_box = mean over pixels of dist(x, [0, 1])²
        L_box = ((x.clamp(0.0, 1.0) - x) ** 2).mean()
        out = objective(x, labels)
        return out["loss"] + box * L_box, out["L_stat"], L_box

    def closure():
        opt.zero_grad()
        loss = losses()[0]
        loss.backward()
        return loss

    hist = {"loss": [], "L_stat": [], "L_box": []}
    for _ in range(rounds):
        opt.step(closure)
        for k, v in zip(hist, losses()):
            hist[k].append(float(v.detach()))
    return images().detach(), hist
