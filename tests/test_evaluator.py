"""The independent evaluator: learns real digits fast, gives features, trains once and caches."""

import numpy as np
import pytest
import torch

from gbc_teach.datasets.mnist import sklearn_digits_28, to_float_images
from gbc_teach.evaluation import evaluator as ev


@pytest.fixture(scope="module")
def digits():
    images, labels = sklearn_digits_28()
    x, y = to_float_images(images), torch.from_numpy(labels)
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(0))
    return x[perm[:1200]], y[perm[:1200]], x[perm[1200:]], y[perm[1200:]]


def test_shapes():
    m = ev.EvaluatorCNN()
    x = torch.rand(3, 1, 28, 28)
    assert m(x).shape == (3, 10) and m.features(x).shape == (3, 128)
    assert ev.evaluator_features(m, x, batch_size=2).shape == (3, 128)


def test_trains_well_above_chance(digits):
    xtr, ytr, xte, yte = digits
    m = ev.train_evaluator(xtr, ytr, epochs=4, seed=0, progress=False, batch_size=32)  # 152 steps
    acc = ev.evaluator_accuracy(m, xte, yte)
    assert acc > 0.8, acc  # chance is 0.1; measured 0.90-0.93 over seeds 0-3
    assert not m.training


def test_rejects_bad_shapes():
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        ev.train_evaluator(torch.rand(4, 28, 28), [0, 1, 2, 3], epochs=1, progress=False)
    with pytest.raises(ValueError, match="labels"):
        ev.train_evaluator(torch.rand(4, 1, 28, 28), [0, 1], epochs=1, progress=False)


def test_cache_train_once_and_never_stale(digits, tmp_path, monkeypatch):
    xtr, ytr = digits[0][:200], digits[1][:200]
    path = tmp_path / "evaluator.pt"
    calls = []
    real_train = ev.train_evaluator

    def counting_train(*a, **k):
        calls.append(k["epochs"])
        return real_train(*a, **k)

    monkeypatch.setattr(ev, "train_evaluator", counting_train)
    m1 = ev.load_or_train_evaluator(xtr, ytr, path, epochs=1, progress=False)
    assert path.is_file() and calls == [1]
    m2 = ev.load_or_train_evaluator(xtr, ytr, path, epochs=1, progress=False)
    assert calls == [1]  # loaded, not retrained
    assert torch.equal(ev.evaluator_logits(m1, xtr[:20]), ev.evaluator_logits(m2, xtr[:20]))
    # other hyperparameters, other labels, other images: the cache is stale and retrained
    ev.load_or_train_evaluator(xtr, ytr, path, epochs=2, progress=False)
    ev.load_or_train_evaluator(xtr, (ytr + 1) % 10, path, epochs=2, progress=False)
    ev.load_or_train_evaluator(xtr.flip(-1), (ytr + 1) % 10, path, epochs=2, progress=False)
    ev.load_or_train_evaluator(xtr.flip(-1), (ytr + 1) % 10, path, epochs=2, width=8,
                               progress=False)
    assert calls == [1, 2, 2, 2, 2]


def test_default_cache_path_uses_key(digits, tmp_path, monkeypatch):
    monkeypatch.setenv("GBC_CACHE_DIR", str(tmp_path))
    xtr, ytr = digits[0][:64], digits[1][:64]
    ev.load_or_train_evaluator(xtr, ytr, epochs=1, progress=False)
    key = ev.evaluator_key(xtr, ytr, ev.evaluator_hparams(epochs=1))
    assert (tmp_path / f"evaluator-{key[:16]}.pt").is_file()
    assert key != ev.evaluator_key(xtr, ytr, ev.evaluator_hparams(epochs=1, seed=1))
    with pytest.raises(TypeError, match="widht"):
        ev.evaluator_hparams(widht=8)
    assert np.isfinite(ev.evaluator_features(ev.EvaluatorCNN(), xtr).numpy()).all()
