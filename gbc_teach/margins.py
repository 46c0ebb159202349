"""Margins q(x, y; θ) of a classifier's outputs (docs/method.md §2; notebook 01).

Multi-class: q = f_y − max_{j≠y} f_j.  Binary with one logit: q = y·f, y ∈ {−1, +1}.
"""

from __future__ import annotations

import torch


def q(logits: torch.Tensor, y: torch.Tensor, check: bool = True) -> torch.Tensor:
    """Margin of each row of `logits` (N, C) at its label `y` (N,); returns (N,).

    check=False skips the label-range checks (each one a host sync on a GPU): for hot loops
    whose labels are made by the code itself.
    """
    if logits.dim() == 1:
        logits = logits[:, None]
    if logits.dim() != 2:
        raise ValueError(f"logits must be (N, C), got shape {tuple(logits.shape)}")
    if y.shape != logits.shape[:1]:
        raise ValueError(f"labels shape {tuple(y.shape)} does not match logits {tuple(logits.shape)}")
    if logits.shape[1] == 1:
        # binary, one logit: q = y·f with y ∈ {−1, +1}
        if check and not bool(((y == 1) | (y == -1)).all()):
            raise ValueError("binary margins need labels in {-1, +1}")
        return y.to(logits.dtype) * logits[:, 0]
    y = y.long()
    C = logits.shape[1]
    if check and (bool((y < 0).any()) or bool((y >= C).any())):
        raise ValueError(f"labels must lie in [0, {C - 1}], got range [{int(y.min())}, {int(y.max())}]")
    f_y = logits.gather(1, y[:, None])[:, 0]
    # max over j ≠ y: mask the true class with −inf
    others = logits.masked_fill(torch.nn.functional.one_hot(y, C).bool(), float("-inf"))
    return f_y - others.max(dim=1).values


def q_of(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """q(x, y; θ) for a model: margins of model(x) at labels y."""
    return q(model(x), y)
