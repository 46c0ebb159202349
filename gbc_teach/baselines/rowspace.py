"""The training images as the sparsest non-negative vectors of W₁'s row space (notebook 05c §5).

At a weight-decay stationary point an MLP's first layer is a combination of its training
images (docs/method.md §10):

    wd·W₁ = −(1/n) Σ_i δ_i x_iᵀ,

so every row of W₁ lies in span{x_1, …, x_n}, and, while the δ_i are independent, the row space
*is* that span. Its dimension shows in the spectrum of W₁ as a gap: n singular values, then a
floor: what is left of the initialization (`kkt.gap_rank`). Inside an n-dimensional subspace of
the d pixels a generic vector has at most n − 1 zeros; a digit on black has hundreds. So the
training images are the sparsest non-negative vectors of the span, and a linear program finds
them: with B the row space's orthonormal basis (k × d),

    min_c  wᵀx   subject to  x = Bᵀc ≥ −ε,  x_p = 1,

one LP per random pixel p and random positive weights w (different LPs, different images), each
solved again `reweight` times with w_q = 1/(x̂_q + δ) from its own answer x̂ (reweighted ℓ1: the
weighted sum then counts lit pixels more nearly, and the answer moves from a blend toward the
sparsest vertex near it; 50 MNIST images, seeds 0–2: SSIM share 0.91 against 0.87, at a third of
the LPs for the same time). The classifier labels the candidates and ranks them by its
confidence: blends of two digits, the other vertices the LPs find, are read less surely than the
images it was trained on. Images that no
pixel's LP favours are reached by deflation (`rounds`): LPs whose constraint is a direction of the
span orthogonal to what was already found.

This reads θ's first layer only; GBC and the particles read the stationarity of all of θ.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.optimize import linprog
from torch import nn
from tqdm.auto import tqdm

from ..kkt import gap_rank, seen_directions


def sparse_vectors(B: torch.Tensor, n_lp: int, eps: float = 1e-3, spread: float = 1.0,
                   seed: int = 0, away: torch.Tensor | None = None, reweight: int = 0,
                   delta: float = 0.03, progress: bool = False) -> torch.Tensor:
    """n_lp candidates: each the solution of min wᵀx s.t. x = Bᵀc ≥ −eps, x_p = 1 (module doc),
    scaled to a largest pixel of 1 and clamped to [0, 1]; (m, d) with m ≤ n_lp (an infeasible or
    failed LP gives no candidate). eps allows what the floor of W₁'s spectrum adds to the span;
    spread: log-normal spread of the random weights w (0: min Σx, the same LP for each pixel).
    reweight: re-solves of each LP with w_q = 1/(x̂_q + delta), x̂ its last answer (module doc).

    away (f, d): vectors already found. Deflation: the constraint x_p = 1 becomes uᵀx = 1 for a
    random direction u of the span orthogonal to them, which every found vector (and every mixture
    of found vectors) fails, so each LP must reach something new."""
    V = B.detach().double().cpu().numpy().T  # (d, k)
    d, k = V.shape
    if n_lp < 1 or reweight < 0:
        raise ValueError(f"n_lp must be at least 1 and reweight at least 0, got {n_lp}, {reweight}")
    rng = np.random.default_rng(seed)
    # pixels the span reaches at all (a constant-zero border pixel cannot be set to 1)
    active = np.flatnonzero(np.abs(V).max(1) > 1e-3 * np.abs(V).max())
    if away is not None:  # the span's directions orthogonal to every found vector
        Q = np.linalg.qr(away.detach().double().cpu().numpy().reshape(-1, d).T)[0]
        U, S, _ = np.linalg.svd(V - Q @ (Q.T @ V), full_matrices=False)
        U = U[:, S > 1e-6]  # V has orthonormal columns: what is left has singular values ≤ 1
        if not U.shape[1]:
            raise ValueError("the found vectors already span the row space: nothing left to deflate")
    out = []
    for _ in tqdm(range(n_lp), desc="row-space LPs", disable=not progress, leave=False):
        if away is None:  # x_p = 1 at a random pixel p
            row = V[rng.choice(active)]
        else:  # uᵀx = 1, u ⊥ the found vectors
            row = (U @ rng.standard_normal(U.shape[1])) @ V
        w = np.exp(spread * rng.standard_normal(d))
        x = None
        for _ in range(1 + reweight):
            res = linprog(c=V.T @ w, A_ub=-V, b_ub=np.full(d, eps), A_eq=row[None], b_eq=[1.0],
                          bounds=[(None, None)] * k, method="highs")
            v = V @ res.x if res.status == 0 else None
            if v is None or v.max() <= 0:
                break  # the solver failed: keep the last answer, if any
            x = np.clip(v / v.max(), 0.0, 1.0)
            # reweighted ℓ1: Σ_q x_q / (x̂_q + δ) ≈ the number of lit pixels, so a pixel the last
            # answer left dark costs more and the next LP empties it
            w = 1.0 / (x + delta)
        if x is not None:
            out.append(x)
    return torch.from_numpy(np.array(out).reshape(-1, d)).float()


def distinct(x: torch.Tensor, score: torch.Tensor, same: float = 0.95):
    """Greedy de-duplication: in order of score, keep a candidate and drop every later one whose
    cosine with it exceeds `same`. Returns (indices kept, in score order; how many each stood for)."""
    f = x.flatten(1).double()
    f = f / f.norm(dim=1, keepdim=True).clamp_min(1e-12)
    cos = f @ f.T
    taken = torch.zeros(len(x), dtype=torch.bool)
    keep, count = [], []
    for i in score.argsort(descending=True).tolist():
        if taken[i]:
            continue
        group = (cos[i] > same) & ~taken
        taken |= group
        keep.append(i)
        count.append(int(group.sum()))
    return torch.tensor(keep, dtype=torch.long), torch.tensor(count, dtype=torch.long)


@torch.no_grad()
def recover(model: nn.Module, shape: tuple[int, ...], n_lp: int = 500, m: int | None = None,
            eps: float = 1e-3, ratio: float = 4.0, rounds: int = 1, seed: int = 0,
            reweight: int = 2, progress: bool = False) -> dict:
    """The row-space reconstruction of an MLP classifier (model.net[0] its first Linear layer).

    k = kkt.gap_rank of W₁'s spectrum (the number of training images it shows; a ValueError if
    the spectrum has no gap of `ratio`), `sparse_vectors` in those k directions, de-duplicated,
    labelled by the classifier and kept in order of its confidence: m of them (default k).
    rounds > 1: each further round runs n_lp // 3 deflated LPs (`sparse_vectors(away=...)`) away
    from the more confident half of the current m, and the m are chosen again from everything.
    reweight: re-weighted re-solves of each LP (`sparse_vectors`).
    Returns {"x": (m, *shape), "y", "confidence", "k", "n_candidates", "n_distinct"}.
    """
    W1 = model.net[0].weight
    B, rel = seen_directions(W1, rtol=0.0)
    k = gap_rank(rel, ratio)
    if k is None:
        raise ValueError(f"W₁'s spectrum has no gap of {ratio}× (largest "
                         f"{float((rel[:-1] / rel[1:]).max()):.1f}×): its row space does not show "
                         "the training images apart from the initialization's floor")
    if rounds < 1:
        raise ValueError(f"rounds must be at least 1, got {rounds}")
    was = model.training
    model.eval()

    def read(x):  # the classifier's confidence and label, then the distinct ones by confidence
        conf, y = torch.softmax(model(x.view(-1, *shape).to(W1.device)).double().cpu(), 1).max(1)
        return conf, y, distinct(x, conf)[0]

    cand = sparse_vectors(B[:k], n_lp, eps=eps, seed=seed, reweight=reweight, progress=progress)
    if not len(cand):
        raise ValueError(f"none of the {n_lp} row-space LPs was feasible (eps = {eps})")
    conf, y, order = read(cand)
    for r in range(1, rounds):
        keep = order[:m or k]
        sure = keep[conf[keep] >= conf[keep].median()]  # the more confident half
        more = sparse_vectors(B[:k], max(1, n_lp // 3), eps=eps, seed=seed + r, away=cand[sure],
                              reweight=reweight, progress=progress)
        cand = torch.cat([cand, more])
        conf, y, order = read(cand)
    model.train(was)
    keep = order[:m or k]
    return {"x": cand[keep].view(-1, *shape), "y": y[keep], "confidence": conf[keep].float(),
            "k": k, "n_candidates": len(cand), "n_distinct": len(order)}
