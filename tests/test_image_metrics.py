"""All-pairs SSIM against a slow reference, recovery calibration, Fréchet against closed forms."""

import warnings

import numpy as np
import pytest
import torch

from gbc_teach.datasets.mnist import sklearn_digits_28, to_float_images
from gbc_teach.evaluation.images import (
    diversity,
    frechet_distance,
    gaussian_frechet,
    l2_matrix,
    recovery,
    ssim_matrix,
    ssim_window,
)


@pytest.fixture(scope="module")
def digits():
    images, labels = sklearn_digits_28()
    return to_float_images(images), labels


def ssim_slow(a: np.ndarray, b: np.ndarray, win: int = 7, weights=None) -> float:
    """SSIM of two (H, W) images the straightforward way: loop over every window position."""
    w = np.ones((win, win)) / win**2 if weights is None else weights
    C1, C2 = 0.01**2, 0.03**2
    vals = []
    for i in range(a.shape[0] - win + 1):
        for j in range(a.shape[1] - win + 1):
            pa, pb = a[i:i + win, j:j + win], b[i:i + win, j:j + win]
            ma, mb = (w * pa).sum(), (w * pb).sum()
            va, vb = (w * (pa - ma) ** 2).sum(), (w * (pb - mb) ** 2).sum()
            cov = (w * (pa - ma) * (pb - mb)).sum()
            vals.append((2 * ma * mb + C1) * (2 * cov + C2)
                        / ((ma**2 + mb**2 + C1) * (va + vb + C2)))
    return float(np.mean(vals))


@pytest.mark.parametrize("window", ["uniform", "gaussian"])
def test_ssim_matches_slow_reference(digits, window):
    x = digits[0][:6]
    noise = 0.1 * torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    x = torch.cat([x, (x[:2] + noise).clamp(0, 1)])  # near-duplicates: SSIM well inside (0, 1)
    S = ssim_matrix(x[:4], x[3:], window=window, max_elems=5000)  # tiny chunks exercise the loop
    weights = ssim_window(7, window).reshape(7, 7).double().numpy()
    a, b = x[:4, 0].double().numpy(), x[3:, 0].double().numpy()
    for i, j in [(0, 0), (0, 4), (1, 2), (3, 0), (2, 3), (1, 3)]:
        assert S[i, j].item() == pytest.approx(ssim_slow(a[i], b[j], weights=weights), abs=1e-4)



@pytest.mark.parametrize("window, win, sk_kw", [
    ("uniform", 7, {"win_size": 7}),
    ("gaussian", 11, {"gaussian_weights": True, "sigma": 1.5}),  # skimage: 11 taps at sigma 1.5
])
def test_ssim_matches_skimage(digits, window, win, sk_kw):
    """The reference implementation, with the settings that match ours: data_range 1 and
    population moments (use_sample_covariance=False). Tolerance 1e-5: ssim_matrix works in
    float32 (measured differences up to 4e-6); skimage's default N - 1 normalization moves
    these values by 1e-4 or more, so the test also tells the two normalizations apart."""
    structural_similarity = pytest.importorskip("skimage.metrics").structural_similarity
    x = digits[0][:6]
    noise = 0.1 * torch.randn(2, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    x = torch.cat([x, (x[:2] + noise).clamp(0, 1)])  # near-duplicates: SSIM from ~0 to ~0.9
    S = ssim_matrix(x[:4], x[3:], win=win, window=window)
    a, b = x[:4, 0].double().numpy(), x[3:, 0].double().numpy()
    gaps = []
    for i in range(4):
        for j in range(5):
            ref = structural_similarity(a[i], b[j], data_range=1.0, use_sample_covariance=False,
                                        **sk_kw)
            assert S[i, j].item() == pytest.approx(ref, abs=1e-5)
            gaps.append(abs(structural_similarity(a[i], b[j], data_range=1.0, **sk_kw) - ref))
    # skimage's default (N - 1) is not what we compute; an image against itself is 1 in both
    assert min(gaps) == 0.0 and sorted(gaps)[1] > 1e-5


def test_ssim_identity_symmetry_range(digits):
    x = digits[0][:40]
    S = ssim_matrix(x, x)
    assert S.shape == (40, 40)
    assert torch.allclose(S.diag(), torch.ones(40), atol=1e-4)
    assert torch.allclose(S, S.T, atol=1e-5)
    off = S[~torch.eye(40, dtype=bool)]
    assert off.max() < 0.999 and off.min() > -1
    # (n, 28, 28) input and uint8 input give the same numbers
    u8 = (x[:5, 0] * 255).round().to(torch.uint8)
    assert torch.allclose(ssim_matrix(u8, x[:5]), ssim_matrix(u8[:, None].float() / 255, x[:5]))
    with pytest.raises(ValueError, match="grey"):
        ssim_matrix(torch.rand(2, 3, 28, 28), x[:2])


def test_l2_matrix_exact_zero(digits):
    x = digits[0][:10]
    D = l2_matrix(x, x)
    assert torch.all(D.diag() == 0)
    assert D[0, 1].item() == pytest.approx((x[0] - x[1]).norm().item(), rel=1e-5)


@pytest.mark.parametrize("metric", ["ssim", "l2"])
def test_recovery_calibration(digits, metric):
    x, y = digits
    rng = np.random.default_rng(0)
    # 20 a class for the 'training' images, two disjoint real pools of the same size
    idx = {c: rng.permutation(np.flatnonzero(y == c)) for c in range(10)}
    tr = np.concatenate([idx[c][:20] for c in range(10)])
    pa = np.concatenate([idx[c][20:40] for c in range(10)])
    pb = np.concatenate([idx[c][40:60] for c in range(10)])
    T, A, B = x[tr], x[pa], x[pb]
    own = recovery(T, y[tr], T, y[tr], B, y[pb], metric=metric)
    assert own["share"] == 1.0
    assert own["mean"] == pytest.approx(1.0 if metric == "ssim" else 0.0, abs=1e-4)
    tie = recovery(T, y[tr], B, y[pb], B, y[pb], metric=metric)
    assert tie["share"] == 0.0  # ties go to the reference
    fresh = recovery(T, y[tr], A, y[pa], B, y[pb], metric=metric)
    assert 0.35 < fresh["share"] < 0.65, fresh  # a second real pool scores about one half
    # candidates with the wrong labels cannot help: only same-class images count
    shuffled = recovery(T, y[tr], T, (y[tr] + 1) % 10, B, y[pb], metric=metric)
    assert shuffled["share"] < 0.2


@pytest.mark.parametrize("metric", ["ssim", "l2"])
def test_recovery_with_a_class_missing_keeps_a_finite_mean(digits, metric):
    """Candidates of classes 0–8 only: the 9s lose, are counted as missing and stay out of the
    mean (no -inf / inf in metrics.json)."""
    x, y = digits
    tr = np.flatnonzero(y < 10)[:200]
    have = tr[y[tr] != 9]
    r = recovery(x[tr], y[tr], x[have], y[have], x[tr], y[tr], metric=metric)
    nines = int((y[tr] == 9).sum())
    assert nines > 0 and r["missing"] == nines
    assert np.isfinite(r["mean"])
    assert r["share"] == 0.0  # the rest tie with the reference (the same images): ties lose
    none = recovery(x[tr], y[tr], x[tr][:0], y[tr][:0], x[tr], y[tr], metric=metric)
    assert none["mean"] is None and none["missing"] == len(tr)


def test_recovery_noise_hurts_ssim_more_than_l2(digits):
    # docs/method.md §8: noisy copies of the training images win far more often by L2 than by SSIM
    x, y = digits
    g = torch.Generator().manual_seed(0)
    tr, ref = np.arange(0, 300), np.arange(300, 600)
    noisy = (x[tr] + 0.1 * torch.randn(x[tr].shape, generator=g)).clamp(0, 1)
    s = recovery(x[tr], y[tr], noisy, y[tr], x[ref], y[ref], metric="ssim")["share"]
    d = recovery(x[tr], y[tr], noisy, y[tr], x[ref], y[ref], metric="l2")["share"]
    assert d > 0.8 and s < d


def test_frechet_known_answers():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(2000, 5)) @ rng.normal(size=(5, 5))
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-6)
    delta = np.array([1.0, -2.0, 0.5, 0.0, 3.0])
    assert frechet_distance(a, a + delta) == pytest.approx(delta @ delta, rel=1e-6)
    # diagonal covariances: sum (sqrt(s_a) - sqrt(s_b))^2
    sa, sb = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 9.0])
    assert gaussian_frechet(np.zeros(3), np.diag(sa), np.ones(3), np.diag(sb)) == pytest.approx(
        3 + ((np.sqrt(sa) - np.sqrt(sb)) ** 2).sum())
    # general case: Tr (S_a S_b)^{1/2} = Tr (S_a^{1/2} S_b S_a^{1/2})^{1/2} (symmetric form)
    M, N = rng.normal(size=(4, 4)), rng.normal(size=(4, 4))
    Sa, Sb = M @ M.T + np.eye(4), N @ N.T + np.eye(4)
    ev, U = np.linalg.eigh(Sa)
    ra = U @ np.diag(np.sqrt(ev)) @ U.T
    cross = np.sqrt(np.linalg.eigvalsh(ra @ Sb @ ra)).sum()
    ref = np.trace(Sa) + np.trace(Sb) - 2 * cross
    assert gaussian_frechet(np.zeros(4), Sa, np.zeros(4), Sb) == pytest.approx(ref, rel=1e-8)


def test_diversity():
    x = torch.zeros(4, 1, 2, 2)
    x[1, 0, 0, 0] = 1.0  # class 0: distance 1 between its two images
    x[3] = 1.0  # class 1: distance 2 (four pixels differ by 1)
    assert diversity(x, [0, 0, 1, 1]) == pytest.approx(1.5)
    assert diversity(torch.zeros(3, 1, 4, 4), [0, 0, 0]) == 0.0


def test_frechet_singular_covariances_exact_and_silent():
    # fewer samples than features, and features no sample uses: both covariances are singular.
    # A general matrix square root of S_a S_b warns there (LinAlgWarning) and loses accuracy;
    # the symmetric form gives the exact answer without a warning.
    sa, sb = np.array([1.0, 4.0, 0.0, 0.0]), np.array([0.0, 1.0, 9.0, 0.0])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning fails the test
        d = gaussian_frechet(np.zeros(4), np.diag(sa), np.zeros(4), np.diag(sb))
    assert d == pytest.approx(((np.sqrt(sa) - np.sqrt(sb)) ** 2).sum(), rel=1e-12)

    # two 3-D point sets embedded in 30-D: the Fréchet distance does not change under the
    # isometric embedding, so the 30-D answer (singular) must equal the 3-D one (full rank)
    rng = np.random.default_rng(1)
    Q = np.linalg.qr(rng.normal(size=(30, 3)))[0]  # orthonormal columns
    a3, b3 = rng.normal(size=(10, 3)), 2.0 * rng.normal(size=(12, 3)) + 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        d30 = frechet_distance(a3 @ Q.T, b3 @ Q.T)
        d_same = frechet_distance(a3 @ Q.T, a3 @ Q.T)
    assert d30 == pytest.approx(frechet_distance(a3, b3), rel=1e-9)
    assert d_same == pytest.approx(0.0, abs=1e-9)


def test_frechet_refuses_a_set_of_one_sample():
    """One sample has no covariance: a clear error, not a NaN from numpy."""
    from gbc_teach.evaluation.images import frechet_distance
    with pytest.raises(ValueError, match="two or more samples"):
        frechet_distance(torch.zeros(1, 4), torch.randn(10, 4))
