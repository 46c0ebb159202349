"""KKT diagnostic on real points: is the classifier in the max-margin regime? (docs/method.md §4, §7, §10)

Stationarity asks Πθ = Σ_i μ_i ∇_θ q_i with μ ≥ 0. Given the training points we fit μ by
non-negative least squares and report the relative residual ‖Πθ − Σ μ_i ∇q_i‖ / ‖Πθ‖.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import nnls
from torch import nn

from .margins import q as margin
from .margins import q_attrs
from .training import wd_residual


@dataclass
class KKTResult:
    mu: torch.Tensor  # (N,) multipliers, ≥ 0
    residual: float  # ‖Πθ − Σ μ_i ∇q_i‖ / ‖Πθ‖
    support: torch.Tensor  # (N,) bool: μ_i > sv_frac · max μ
    q: torch.Tensor  # (N,) margins of the points
    q_min: float

    @property
    def n_support(self) -> int:
        return int(self.support.sum())


def constraints(logits: torch.Tensor, y: torch.Tensor, pairs: bool = True):
    """The max-margin constraint values and the point index of each: f_y − f_j for every point i
    and wrong class j (pairs=True, multi-class), else q_i (one per point). Attribute labels
    y (N, A): q_ia = s_ia f_a(x_i) for every point i and attribute a (pairs=True)."""
    N, C = logits.shape
    if pairs and y.dim() == 2:  # row-major over (i, a): one constraint per (image, attribute)
        return q_attrs(logits, y).flatten(), torch.arange(N, device=y.device).repeat_interleave(C)
    if pairs and C > 1:
        # row-major over (i, j): point i's C − 1 constraints are consecutive; no host syncs
        cls = torch.arange(C, device=y.device).expand(N, C)
        wrong = cls != y[:, None]
        idx = torch.arange(N, device=y.device)[:, None].expand(N, C)[wrong]
        return logits[idx, y[idx]] - logits[idx, cls[wrong]], idx
    return margin(logits, y), torch.arange(N, device=y.device)


def margin_jacobian(model: nn.Module, X: torch.Tensor, y: torch.Tensor, pairs: bool = True,
                    chunk: int = 64):
    """Rows of constraint gradients, flattened over all parameters, float32; plus q (N,) and
    the point index of each row.

    pairs=True: one row ∇_θ (f_y − f_j) per point i and wrong class j — the multi-class
    max-margin problem's constraints, differentiable even where two runner-up classes tie.
    pairs=False: one row ∇_θ q_i per point (q's max picks one runner-up).
    The whole batch goes through the model at once (batch norm in training mode sees the
    same batch statistics as in training); the backwards are batched with vmap.
    """
    params = [p for p in model.parameters()]
    logits = model(X)
    qs = margin(logits, y)
    cons, idx = constraints(logits, y, pairs)
    rows = []
    eye = torch.eye(len(cons), dtype=cons.dtype, device=cons.device)
    for i in range(0, len(cons), chunk):
        grads = torch.autograd.grad(cons, params, eye[i:i + chunk], retain_graph=True,
                                    is_grads_batched=True, allow_unused=True)
        grads = [g if g is not None else torch.zeros(len(eye[i:i + chunk]), *p.shape, device=p.device)
                 for g, p in zip(grads, params)]
        rows.append(torch.cat([g.flatten(1) for g in grads], 1).detach())
    return torch.cat(rows), qs.detach(), idx


def flat_Pi_theta(model: nn.Module, Pi: torch.Tensor) -> torch.Tensor:
    """Πθ flattened over all parameters (zeros on tensors outside Π)."""
    return torch.cat([p.detach().flatten() * float(m) for p, m in zip(model.parameters(), Pi)])


def nnls_gram(J: torch.Tensor, t: torch.Tensor) -> np.ndarray:
    """min_{μ ≥ 0} ‖t − Jᵀμ‖ solved on the small N×N Gram system (J: (N, P), t: (P,)).

    The Gram products run where J lives (a GPU if so); the N×N solve runs on the CPU (scipy)."""
    J64, t64 = J.double(), t.double()
    K = (J64 @ J64.T).cpu()  # (N, N) Gram matrix
    c = (J64 @ t64).cpu()
    w, V = torch.linalg.eigh(K)
    keep = w > 1e-12 * w.max()
    # ‖t − Jᵀμ‖² = μᵀKμ − 2cᵀμ + ‖t‖² = ‖Rμ − d‖² + const with R = D^½Vᵀ, d = D^-½Vᵀc
    R = (w[keep].sqrt()[:, None] * V[:, keep].T).numpy()
    d = ((V[:, keep].T @ c) / w[keep].sqrt()).numpy()
    mu, _ = nnls(R, d, maxiter=50 * len(d) + 100)
    return mu


def kkt_fit(model: nn.Module, X: torch.Tensor, y: torch.Tensor, Pi: torch.Tensor | None = None,
            sv_frac: float = 0.01, pairs: bool = True, chunk: int = 64) -> KKTResult:
    """Fit μ ≥ 0 on the real points and return the relative stationarity residual.

    With pairs=True, μ_i is the sum of the multipliers of point i's constraints f_y − f_j ≥ 1.
    chunk: constraint gradients computed per batched backward (memory grows with it).
    """
    if Pi is None:
        Pi = torch.ones(len(list(model.parameters())), dtype=torch.bool)
    J, q, idx = margin_jacobian(model, X, y, pairs=pairs, chunk=chunk)
    t = flat_Pi_theta(model, Pi).to(J)
    mu_rows = torch.from_numpy(nnls_gram(J, t))
    residual = float((t.double() - J.double().T @ mu_rows.to(J.device)).norm() / t.double().norm())
    # the result lives on the CPU whatever the model's device: it is a diagnostic, not a tensor
    # that goes back into training
    mu = torch.zeros(len(y), dtype=torch.float64).index_add_(0, idx.cpu(), mu_rows).float()
    support = mu > sv_frac * mu.max() if mu.max() > 0 else torch.zeros_like(mu, dtype=torch.bool)
    return KKTResult(mu, residual, support, q.cpu(), float(q.min()))


def dictionary_fit(model: nn.Module, candidates: torch.Tensor, labels: torch.Tensor,
                   Pi: torch.Tensor | None = None, q_band: tuple[float, float] | None = None,
                   q_min: float | None = None):
    """The convex version of the reconstruction: fix candidate points, fit only μ ≥ 0.

    min_{μ ≥ 0} ‖Πθ − Σ_j μ_j ∇_θ q(x_j, y_j)‖ over a dictionary of labelled candidates (e.g. a
    grid × every class). With q_band = (lo, hi), only candidates with lo·q_min ≤ q ≤ hi·q_min
    enter (complementary slackness). If even the best μ puts weight far from the training
    points, the KKT conditions do not single them out (notebook 01). Returns (μ, residual, keep)
    with keep the candidates that entered.
    """
    if Pi is None:
        Pi = torch.ones(len(list(model.parameters())), dtype=torch.bool)
    keep = torch.ones(len(candidates), dtype=torch.bool)
    if q_band is not None:
        if q_min is None:
            raise ValueError("q_band needs q_min")
        with torch.no_grad():
            qc = margin(model(candidates), labels)
        keep = (qc >= q_band[0] * q_min) & (qc <= q_band[1] * q_min)
        if not bool(keep.any()):
            raise ValueError(f"no candidate has a margin in {q_band} × q_min")
    J, _, _ = margin_jacobian(model, candidates[keep], labels[keep], pairs=False)
    t = flat_Pi_theta(model, Pi).to(J)
    J, t = J.double().cpu(), t.double().cpu()
    mu, _ = nnls(J.T.numpy(), t.numpy(), maxiter=50 * len(J) + 1000)
    mu = torch.from_numpy(mu)
    residual = float((t - J.T @ mu).norm() / t.norm())
    return mu.float(), residual, keep.cpu()


def scan_q_min(model: nn.Module, candidates: torch.Tensor, labels: torch.Tensor,
               Pi: torch.Tensor | None = None, n: int = 121, band: tuple[float, float] = (1.0, 1.05),
               quantiles: tuple[float, float] = (0.02, 0.98)) -> dict:
    """q_min without the data: the margin band at which the dictionary fits Πθ best.

    At a KKT point Πθ is a non-negative combination of margin gradients taken *at* q = q_min;
    a band of candidates at any other margin s explains it worse. So scan s over a geometric grid
    between two quantiles of the candidates' positive margins, fit μ ≥ 0 on the candidates with
    band[0]·s ≤ q ≤ band[1]·s (`dictionary_fit`), and keep the s of the smallest residual.
    Returns {"s": (n,) tensor, "residual": (n,) tensor (NaN where the band is empty),
    "q_min": the best s, "n_band": (n,) candidates per band, and the fit at the best s as
    `dictionary_fit(..., q_band=band, q_min=best s)` returns it: "mu", "keep"}.
    """
    with torch.no_grad():
        qc = margin(model(candidates), labels)
    pos = qc[qc > 0].double()
    if len(pos) < 2:
        raise ValueError("fewer than two candidates with a positive margin: widen the candidates")
    lo, hi = (float(torch.quantile(pos, q)) for q in quantiles)
    s = torch.logspace(np.log10(lo), np.log10(hi), n, dtype=torch.float64)
    res = torch.full((n,), float("nan"), dtype=torch.float64)
    counts = torch.zeros(n, dtype=torch.long)
    best = None  # (index, μ, keep) of the smallest residual so far
    for i, si in enumerate(s.tolist()):
        keep = ((qc >= band[0] * si) & (qc <= band[1] * si)).cpu()
        counts[i] = int(keep.sum())
        if counts[i]:
            mu, res[i], _ = dictionary_fit(model, candidates[keep], labels[keep], Pi)
            if best is None or res[i] < res[best[0]]:
                best = (i, mu, keep)
    if best is None:
        raise ValueError("no band held a candidate: use more candidates or a wider band")
    return {"s": s, "residual": res, "q_min": float(s[best[0]]), "n_band": counts,
            "mu": best[1], "keep": best[2]}


def dictionary_atoms(candidates: torch.Tensor, labels: torch.Tensor, mu: torch.Tensor,
                     n_classes: int, k: int, radius: float):
    """Merge a dictionary fit into k weighted atoms a class, e.g. a generator's k codes.

    The fit spreads each support vector's μ over the few candidates around it. Per class,
    repeatedly take the candidate of largest remaining μ, merge every candidate within `radius`
    of it into one atom (μ-weighted mean position, summed μ), until k atoms are found or the class
    has no μ left (< 10⁻³ of Σμ); then split the heaviest atoms in two (same place, half the
    weight) until there are k. Returns (atoms (C, k, d), weights (C, k)).
    """
    mu = mu.float()
    atoms = torch.zeros(n_classes, k, candidates.shape[1])
    weights = torch.zeros(n_classes, k)
    for c in range(n_classes):
        x, w = candidates[labels == c], mu[labels == c].clone()
        if not len(x):
            raise ValueError(f"no candidate of class {c}: the dictionary must cover every class")
        found = []
        while len(found) < k and w.sum() > 1e-3 * mu.sum():
            near = ((x - x[w.argmax()]).norm(dim=1) < radius) & (w > 0)
            found.append([(w[near, None] * x[near]).sum(0) / w[near].sum(), float(w[near].sum())])
            w[near] = 0
        if not found:  # a class without μ: one atom at its first candidate, weight 1
            found = [[x[0], 1.0]]
        while len(found) < k:
            heavy = max(found, key=lambda a: a[1])
            heavy[1] /= 2
            found.append([heavy[0].clone(), heavy[1]])
        for j, (pos, weight) in enumerate(found):
            atoms[c, j], weights[c, j] = pos, weight
    return atoms, weights


def wd_multipliers(model: nn.Module, X: torch.Tensor, y: torch.Tensor, wd: float) -> torch.Tensor:
    """The multipliers a weight-decay stationary point predicts, one per (point, wrong class):

        θ = Σ_i Σ_{j≠y_i} μ_ij ∇_θ(f_{y_i} − f_j)(x_i),   μ_ij = p_ij / (n·wd),

    with p_ij the softmax probability of class j at x_i; rows in the order of `constraints`
    (point-major). Known, not fitted: compare them with kkt_fit's NNLS multipliers.
    Attribute labels y (N, A), trained with BCE: μ_ia = σ(−q_ia)/(n·wd), q_ia = s_ia f_a(x_i).
    """
    with torch.no_grad():
        logits = model(X)
    if y.dim() == 2:
        return (torch.sigmoid(-q_attrs(logits.double(), y)).flatten() / (len(y) * wd)).cpu()
    p = torch.softmax(logits.double(), 1)
    wrong = torch.arange(logits.shape[1], device=y.device)[None, :] != y[:, None]
    return (p[wrong] / (len(y) * wd)).cpu()


def kkt_residual_with(model: nn.Module, X: torch.Tensor, y: torch.Tensor, mu_rows: torch.Tensor,
                      chunk: int = 64) -> float:
    """‖θ − Σ μ_ij ∇(f_y − f_j)‖/‖θ‖ for given pair multipliers (every tensor in Π)."""
    J, _, _ = margin_jacobian(model, X, y, pairs=True, chunk=chunk)
    t = torch.cat([p.detach().flatten() for p in model.parameters()]).double()
    r = t.to(J.device) - J.double().T @ mu_rows.to(J.device).double()
    return float(r.norm() / t.norm())


def wd_diagnostics(model, X, y, wd: float, chunk: int = 8, pairs=None) -> dict:
    """The weight-decay stationarity residual and the KKT fits per image and per pair.

    residual_wd = ‖∇L + wd·θ‖/‖wd·θ‖ is also the KKT residual with the *predicted* multipliers
    μ_ij = p_ij/(n·wd); NNLS fits its own μ ≥ 0 with one constraint per image (q = f_y − max f_j)
    or per (image, wrong class) pair; mu_correlation compares the fitted per-image μ with the
    predicted ones (summed over wrong classes). pairs: the per-pair KKTResult if already fitted.
    """
    per_image = kkt_fit(model, X, y, pairs=False, chunk=chunk)
    pairs = pairs or kkt_fit(model, X, y, pairs=True, chunk=chunk)
    mu_pred = wd_multipliers(model, X, y, wd).view(len(y), -1).sum(1)
    corr = float(np.corrcoef(pairs.mu.double().numpy(), mu_pred.numpy())[0, 1])
    return {"wd": wd, "residual_wd": wd_residual(model, X, y, wd),
            "kkt_residual_per_image": per_image.residual, "kkt_residual_pairs": pairs.residual,
            "mu_correlation": corr if np.isfinite(corr) else None}


def first_layer_view(W1: torch.Tensor, X: torch.Tensor, rtol: float = 1e-3) -> dict:
    """What a fully connected first layer h = W₁x + b can see of the training images.

    Everything the classifier computes depends on x only through W₁x, so the part of x outside
    W₁'s row space is invisible to it: no method that reads θ alone can recover that part. At a
    weight-decay stationary point wd·W₁ = −(1/n) Σ_i δ_i x_iᵀ (δ_i: the loss gradient at h), so
    the rows lie in the span of the training images; but where the δ_i of different images are
    nearly parallel combinations of the C output gradients (a net close to linear on its data),
    the row space has at most about C strong directions however many images there are.

    Returns the singular values of W₁ relative to the largest (sorted), `rank` (how many exceed
    rtol) and, per image, the share of ‖x_i‖ outside the span of those `rank` directions; and
    the same share outside all the directions above the spectrum's floor (`gap_rank`, None where
    there is no gap): weak directions are still seen, and they can hold what the strong miss.
    """
    Xf = X.detach().flatten(1).double().cpu()
    B_all, rel = seen_directions(W1, rtol=0.0)  # one SVD: every direction, strongest first
    k = int((rel > rtol).sum())

    def share_outside(B):  # ‖x − BᵀBx‖ / ‖x‖ for each image
        return (Xf - _onto(B, Xf)).norm(dim=1) / Xf.norm(dim=1).clamp_min(1e-12)

    outside = share_outside(B_all[:k])
    g = gap_rank(rel)
    out_g = share_outside(B_all[:g]) if g is not None else None
    return {"rtol": rtol, "rank": k, "singular_values": rel[:len(Xf) + 4].tolist(),
            "outside": outside.tolist(), "outside_mean": float(outside.mean()),
            "outside_max": float(outside.max()), "gap_rank": g,
            "outside_gap_mean": None if out_g is None else float(out_g.mean()),
            "outside_gap_max": None if out_g is None else float(out_g.max())}


def conv_operator(conv: nn.Conv2d, shape: tuple[int, int, int]) -> torch.Tensor:
    """A first convolution as the matrix it is, (outputs, inputs), its bias left out: column k
    is the convolution of the image with pixel k at 1 and all others at 0. Like W₁ of an MLP,
    its row space is all that the layer, and so the classifier, can see of an image
    (`first_layer_view(conv_operator(conv, shape), X)`). Dense: images of a few thousand pixels."""
    n = int(np.prod(shape))
    w = conv.weight.detach().cpu()
    eye = torch.eye(n, dtype=w.dtype).view(n, *shape)
    cols = [nn.functional.conv2d(e, w, None, conv.stride, conv.padding, conv.dilation,
                                 conv.groups).flatten(1) for e in eye.split(512)]
    return torch.cat(cols).T


def filter_spectrum(conv: nn.Conv2d) -> list[float]:
    """Singular values of the filter bank (filters × their c·k·k weights), relative to the
    largest: how many different filters the convolution really has."""
    S = torch.linalg.svdvals(conv.weight.detach().flatten(1).double().cpu())
    return (S / S[0]).tolist()


def gap_rank(rel: torch.Tensor, ratio: float = 4.0) -> int | None:
    """The number of directions above the spectrum's floor: the largest k with σ_k/σ_{k+1} ≥ ratio
    (rel: singular values in decreasing order). None where no gap is that large.

    At a weight-decay stationary point W₁'s rows lie in the span of the n training images, so
    its spectrum has at most n values above what is left of the initialization; where the floor
    sits `ratio` below the n-th value, k = n (notebook 05c §5). Inside the floor and among the
    data's own directions neighbouring values differ by well under 4× (measured on MNIST: at most
    2.8× where there is no gap; 4.9–34× at the gap, depending on how far training went)."""
    r = rel.double()
    big = torch.nonzero(r[:-1] >= ratio * r[1:].clamp_min(1e-300)).flatten()
    return int(big[-1]) + 1 if len(big) else None


def seen_directions(W1: torch.Tensor, rtol: float = 1e-3):
    """(B, σ/σ_max): the orthonormal rows B of W₁'s row space with singular value above rtol·σ_max
    (the directions the first layer responds to), and every relative singular value."""
    _, S, Vh = torch.linalg.svd(W1.detach().double().cpu(), full_matrices=False)
    rel = S / S[0]
    return Vh[:int((rel > rtol).sum())], rel


def seen_part(W1: torch.Tensor, x: torch.Tensor, rtol: float = 1e-3) -> torch.Tensor:
    """BᵀBx: the part of each image x that W₁ responds to, the rest (which the classifier, and
    anything read off θ, cannot see) set to 0 — clamped to the image range [0, 1].

    A reconstruction's unseen part is whatever its optimizer left there (its start, mostly);
    the seen part is what the conditions determined."""
    B, _ = seen_directions(W1, rtol)
    return _onto(B, x.detach().flatten(1).double().cpu()).float().view_as(x).clamp(0.0, 1.0)


def _onto(B: torch.Tensor, xf: torch.Tensor) -> torch.Tensor:
    """BᵀBx for each row x of xf: the projection on the span of B's orthonormal rows."""
    return (xf @ B.T) @ B
