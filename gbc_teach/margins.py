"""Margins q(x, y; θ) of a classifier's outputs (docs/method.md §2; notebook 01).

Multi-class: q = f_y − max_{j≠y} f_j.  Binary with one logit: q = y·f, y ∈ {−1, +1}.
Multi-label (one logit per attribute, labels a ∈ {0, 1}^A): one margin per attribute,
q_a = s_a·f_a with s_a = 2a_a − 1 (docs/method.md §11); a sample's margin is its smallest, min_a q_a.
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
    if y.dim() == 2:  # multi-label: the smallest attribute margin
        return q_attrs(logits, y, check).min(1).values
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


def q_attrs(logits: torch.Tensor, a: torch.Tensor, check: bool = True) -> torch.Tensor:
    """Per-attribute margins (N, A) of a multi-label head: q_ia = s_ia·f_a(x_i), s = 2a − 1.

    Each (image, attribute) pair is one constraint s_ia·f_a(x_i) ≥ 1 of the max-margin problem.
    """
    if logits.shape != a.shape:
        raise ValueError(f"the attribute labels' shape {tuple(a.shape)} does not match the logits' "
                         f"{tuple(logits.shape)}")
    if check and not bool(((a == 0) | (a == 1)).all()):
        raise ValueError("attribute labels must be 0 or 1")
    # s = ±1: the side of the decision boundary each attribute should be on
    s = 2 * a.to(logits.dtype) - 1
    return s * logits


def q_of(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """q(x, y; θ) for a model: margins of model(x) at labels y."""
    return q(model(x), y)
