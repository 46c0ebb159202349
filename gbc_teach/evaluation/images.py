"""Image metrics of docs/method.md §8: all-pairs SSIM, recovery against a real pool, Fréchet, diversity.

Recovery is calibrated: a training image counts as recovered when the generated set holds a
same-class image closer to it than any image of a fresh real pool of the same size does, so a
second real pool scores about 0.5. Notebook: 05_mnist §4–5 (the metric table;
recovery calibrated by fresh data).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

C1, C2 = 0.01**2, 0.03**2  # SSIM constants (K1 L)^2, (K2 L)^2 for data range L = 1


def _as_images(x) -> torch.Tensor:
    """(n, H, W) or (n, C, H, W), float in [0, 1] (uint8 is divided by 255) -> (n, C, H, W);
    C = 1 (grey) or 3 (colour: SSIM is the mean of the per-channel SSIMs)."""
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    if x.ndim == 3:
        x = x.unsqueeze(1)
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"expected (n, H, W) grey or (n, 1 or 3, H, W) images, got {tuple(x.shape)}")
    return x


def ssim_window(win: int = 7, window: str = "uniform", sigma: float = 1.5) -> torch.Tensor:
    """Weights (win*win,) summing to 1: uniform, or a Gaussian of std sigma cut to win x win.

    Wang et al. (2004) use the Gaussian with win=11, sigma=1.5; skimage's default window is the
    uniform 7 x 7 one (see ssim_matrix for how the two implementations compare).
    """
    if window == "uniform":
        w = torch.ones(win, win)
    elif window == "gaussian":
        t = torch.arange(win, dtype=torch.float32) - (win - 1) / 2
        g = torch.exp(-(t**2) / (2 * sigma**2))
        w = g[:, None] * g[None, :]
    else:
        raise ValueError(f"window must be 'uniform' or 'gaussian', got {window!r}")
    return (w / w.sum()).flatten()


def _patches(x: torch.Tensor, w: torch.Tensor, win: int) -> tuple[torch.Tensor, ...]:
    """sqrt(w)-weighted patches (n, P, K), local means and variances (n, P) at valid positions."""
    p = F.unfold(x, win).transpose(1, 2)  # (n, K, P) -> (n, P, K), K = win^2, P = valid positions
    mu = p @ w  # (n, P)
    var = (p * p) @ w - mu**2  # population variance under the window weights
    return p * w.sqrt(), mu, var


def ssim_matrix(A, B, win: int = 7, window: str = "uniform",
                max_elems: int = 2**23) -> torch.Tensor:
    """SSIM of every image of A against every image of B -> (n, m).

    Mean over the valid window positions (no padding) of
      ((2 mu_a mu_b + C1)(2 sigma_ab + C2)) / ((mu_a^2 + mu_b^2 + C1)(sigma_a^2 + sigma_b^2 + C2)),
    with a win x win uniform window by default; A is processed in chunks so that each
    (chunk, m, P) intermediate holds at most `max_elems` numbers. Images are in [0, 1] (data
    range L = 1, so C1 = (0.01 L)^2 and C2 = (0.03 L)^2).

    The variances and the covariance are the window-weighted population moments, normalized
    by N = win^2 and not N - 1. With the default uniform 7 x 7 window this is
    skimage.metrics.structural_similarity(a, b, win_size=7, data_range=1.0,
    use_sample_covariance=False); with window='gaussian', win=11 it is the same call with
    gaussian_weights=True, sigma=1.5 (tests/test_image_metrics.py checks both). skimage's
    default is use_sample_covariance=True: every variance and the covariance are multiplied
    by N / (N - 1) = 49/48, which moves SSIM on digits by about 1e-4.
    """
    A = _as_images(A)
    B = _as_images(B).to(A.device)
    if A.shape[1] != B.shape[1]:
        raise ValueError(f"SSIM of grey against colour images: {A.shape[1]} vs {B.shape[1]} channels")
    if A.shape[1] > 1:  # colour: the mean over channels of the per-channel SSIM
        return torch.stack([ssim_matrix(A[:, c:c + 1], B[:, c:c + 1], win, window, max_elems)
                            for c in range(A.shape[1])]).mean(0)
    w = ssim_window(win, window).to(A.device)
    pa, mu_a, var_a = _patches(A, w, win)
    pb, mu_b, var_b = _patches(B, w, win)
    n, m, P = len(A), len(B), mu_a.shape[1]
    pa_t = pa.transpose(0, 1).contiguous()  # (P, n, K)
    pb_t = pb.permute(1, 2, 0).contiguous()  # (P, K, m)
    out = torch.empty(n, m, device=A.device)
    chunk = max(1, max_elems // max(1, m * P))
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        # E_w[a b] for all pairs, one batched matmul per window position: (P, c, K) @ (P, K, m)
        e_ab = torch.bmm(pa_t[:, s:e], pb_t).permute(1, 2, 0)  # (c, m, P)
        ma, mb = mu_a[s:e, None, :], mu_b[None, :, :]
        cov = e_ab - ma * mb
        num = (2 * ma * mb + C1) * (2 * cov + C2)
        den = (ma**2 + mb**2 + C1) * (var_a[s:e, None, :] + var_b[None, :, :] + C2)
        out[s:e] = (num / den).mean(-1)
    return out


def l2_matrix(A, B) -> torch.Tensor:
    """Euclidean pixel distance between every image of A and every image of B -> (n, m)."""
    a = _as_images(A).flatten(1)
    b = _as_images(B).flatten(1).to(a.device)
    # exact differences rather than the matmul expansion, so d(x, x) is exactly 0
    return torch.cdist(a, b, compute_mode="donot_use_mm_for_euclid_dist")


def recovery(train_imgs, train_labels, cand_imgs, cand_labels, ref_imgs, ref_labels,
             metric: str = "ssim", **ssim_kw) -> dict:
    """Share of training images whose best same-class candidate beats their best reference image.

    For ssim higher wins, for l2 lower wins; ties go to the reference. `mean` is the mean best
    candidate SSIM (or distance), `ref_mean` the same for the reference pool; a training image
    whose class has no candidate loses its contest and is left out of the mean (`missing` counts
    them; the mean is None when every class is missing).
    """
    if metric not in ("ssim", "l2"):
        raise ValueError(f"metric must be 'ssim' or 'l2', got {metric!r}")
    higher = metric == "ssim"
    worst = -np.inf if higher else np.inf
    score = (lambda a, b: ssim_matrix(a, b, **ssim_kw)) if higher else l2_matrix
    T, C, R = _as_images(train_imgs), _as_images(cand_imgs), _as_images(ref_imgs)
    yt, yc, yr = (np.asarray(y) for y in (train_labels, cand_labels, ref_labels))

    def best(X, idx_t, idx_x):
        # best same-class score for each training image; none of that class -> can never win
        if len(idx_x) == 0:
            return np.full(len(idx_t), worst)
        s = score(T[idx_t], X[idx_x])
        return (s.max(1).values if higher else s.min(1).values).double().cpu().numpy()

    cand_best = np.empty(len(T))
    ref_best = np.empty(len(T))
    for c in np.unique(yt):
        it = np.flatnonzero(yt == c)
        cand_best[it] = best(C, it, np.flatnonzero(yc == c))
        ref_best[it] = best(R, it, np.flatnonzero(yr == c))
    wins = cand_best > ref_best if higher else cand_best < ref_best
    found = np.isfinite(cand_best)
    return {"share": float(wins.mean()),
            "mean": float(cand_best[found].mean()) if found.any() else None,
            "ref_mean": float(ref_best.mean()), "n": int(len(T)), "metric": metric,
            "missing": int((~found).sum())}


def _nonnegative(ev: np.ndarray) -> np.ndarray:
    """Eigenvalues of a positive semi-definite matrix with round-off removed: those below
    len(ev) · eps · max(ev) (numpy's matrix_rank tolerance) are exactly 0. Their square roots
    would otherwise add about sqrt(eps) ≈ 1e-8 each."""
    tol = len(ev) * np.finfo(np.float64).eps * float(ev.max(initial=0.0))
    return np.where(ev > tol, ev, 0.0)


def gaussian_frechet(mu_a, sigma_a, mu_b, sigma_b) -> float:
    """d^2 = |mu_a - mu_b|^2 + Tr(S_a + S_b - 2 (S_a S_b)^{1/2}).

    The trace of the matrix square root is computed in its symmetric form,
    Tr (S_a S_b)^{1/2} = Tr (S_a^{1/2} S_b S_a^{1/2})^{1/2} = sum_i sqrt(eig_i): S_a S_b and
    S_a^{1/2} S_b S_a^{1/2} have the same eigenvalues, and the second matrix is symmetric and
    positive semi-definite, so two symmetric eigendecompositions give them to round-off. This
    stays well defined when a covariance is singular, which is the usual case here: a set of
    fewer images than features (10 generated digits against 128 evaluator features), features
    that are zero for every image, or a set with little diversity. A general matrix square root
    (scipy.linalg.sqrtm) of such a singular product is inaccurate and warns (LinAlgWarning).
    """
    mu_a, mu_b = np.atleast_1d(mu_a).astype(np.float64), np.atleast_1d(mu_b).astype(np.float64)
    S_a, S_b = np.atleast_2d(sigma_a).astype(np.float64), np.atleast_2d(sigma_b).astype(np.float64)
    ev_a, U = np.linalg.eigh((S_a + S_a.T) / 2)
    root_a = (U * np.sqrt(_nonnegative(ev_a))) @ U.T  # S_a^{1/2}
    M = root_a @ S_b @ root_a
    trace_covmean = float(np.sqrt(_nonnegative(np.linalg.eigvalsh((M + M.T) / 2))).sum())
    diff = mu_a - mu_b
    return float(diff @ diff + np.trace(S_a) + np.trace(S_b) - 2 * trace_covmean)


def frechet_distance(feats_a, feats_b) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (n, d), in float64."""
    a, b = (torch.as_tensor(f).detach().cpu().double().numpy() for f in (feats_a, feats_b))
    if min(len(a), len(b)) < 2:
        raise ValueError(f"the Fréchet distance needs two or more samples a set, got {len(a)} "
                         f"and {len(b)}")
    return gaussian_frechet(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))


def diversity(imgs, labels) -> float:
    """Mean pairwise L2 pixel distance within each class, averaged over classes with >= 2 images."""
    X, y = _as_images(imgs), np.asarray(labels)
    per_class = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        if len(idx) < 2:
            continue
        d = l2_matrix(X[idx], X[idx])
        k = len(idx)
        per_class.append(float(d.double().sum()) / (k * (k - 1)))  # diagonal is 0: mean over i != j
    if not per_class:
        raise ValueError("diversity needs at least one class with two or more images")
    return float(np.mean(per_class))


def nearest_same_class(train_x, train_y, idx, x, y) -> dict[int, tuple[int, float]]:
    """For each training index in idx: (index into x, SSIM) of its most similar same-class image
    of x; indices whose class x lacks are left out. One SSIM matrix per class."""
    ty, yy, idx = np.asarray(train_y), np.asarray(y), np.asarray(idx)
    out = {}
    for c in np.unique(ty[idx]):
        it, ic = idx[ty[idx] == c], np.flatnonzero(yy == c)
        if len(ic):
            S = ssim_matrix(train_x[it], x[ic])  # (len(it), n_c)
            for row, i in zip(S, it):
                out[int(i)] = (int(ic[int(row.argmax())]), float(row.max()))
    return out


def best_ssim(train_x, train_y, x, y) -> np.ndarray:
    """Each training image's best SSIM with a same-class image of (x, y); −inf if none.

    The per-image scores behind `recovery`: its share is the mean of
    best_ssim(train, cand) > best_ssim(train, reference).
    """
    out = np.full(len(train_y), -np.inf)
    for i, (_, score) in nearest_same_class(train_x, train_y, np.arange(len(train_y)), x, y).items():
        out[i] = score
    return out
