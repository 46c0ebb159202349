"""Recovery metrics on the 2-D toy (docs/method.md §8; notebook 01).

r = 0.1 × diameter of the training set.
SV recall: share of support vectors with a same-class sample within r.
precision: share of samples within r of a same-class training point.
"""

from __future__ import annotations

import torch


def _within(A: torch.Tensor, yA: torch.Tensor, B: torch.Tensor, yB: torch.Tensor, r: float):
    """For each row of A: is some same-class row of B within distance r?"""
    d = torch.cdist(A.flatten(1).float(), B.flatten(1).float())  # (|A|, |B|)
    same = yA[:, None] == yB[None, :]
    return ((d <= r) & same).any(1)


def sv_recall(samples, sample_y, X, y, support, r: float) -> float:
    """Share of support vectors (X[support]) with a same-class sample within r."""
    if int(support.sum()) == 0:
        raise ValueError("no support vectors: is the classifier trained into the max-margin regime?")
    return float(_within(X[support], y[support], samples, sample_y, r).float().mean())


def precision(samples, sample_y, X, y, r: float) -> float:
    """Share of samples within r of a same-class training point."""
    if len(samples) == 0:
        raise ValueError("no samples")
    return float(_within(samples, sample_y, X, y, r).float().mean())


def radius(X: torch.Tensor, frac: float = 0.1) -> float:
    """r = frac × the diameter of the training set."""
    Xf = X.flatten(1).float()
    return frac * float(torch.cdist(Xf, Xf).max())


def dictionary_scores(cand, cand_y, mu, X, y, support, r: float, active_frac: float = 0.01) -> dict:
    """A weighted candidate set (e.g. `kkt.dictionary_fit`'s μ) scored like a generator's samples:
    sv_recall over the active candidates (μ_j > active_frac · max μ), and weight_near, the share
    of Σμ on candidates within r of a same-class training point (precision with μ as the
    sampling weights)."""
    mu = mu.float()
    active = mu > active_frac * mu.max()
    near = _within(cand, cand_y, X, y, r).float()
    return {"sv_recall": sv_recall(cand[active], cand_y[active], X, y, support, r),
            "weight_near": float((mu * near).sum() / mu.sum()), "n_active": int(active.sum())}
