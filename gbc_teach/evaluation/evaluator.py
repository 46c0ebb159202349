"""The independent evaluator of docs/method.md §8: a small CNN trained on real images that neither the
generator nor the classifier under study ever sees.

It scores generated digits (accuracy w.r.t. their conditioning label) and provides the
penultimate features for the Fréchet distance. Trained once, then cached (train-or-load).
Notebook: 05_mnist §4 (the metric table).
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import warnings
from pathlib import Path

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from tqdm.auto import tqdm

from ..utils import (
    atomic_torch_save,
    cache_dir,
    get_device,
    load_checkpoint,
    seed_everything,
    sweep_stale_tmp,
)

ARCH_VERSION = "evaluator-cnn-v1"  # bump when EvaluatorCNN changes, so old caches are not reused


class EvaluatorCNN(nn.Module):
    """conv(1->w) - pool - conv(w->2w) - pool - fc(2w*7*7 -> 128) - fc(128 -> classes), w = 16."""

    def __init__(self, n_classes: int = 10, width: int = 16, n_features: int = 128):
        super().__init__()
        self.conv1 = nn.Conv2d(1, width, 3, padding=1)
        self.conv2 = nn.Conv2d(width, 2 * width, 3, padding=1)
        self.fc1 = nn.Linear(2 * width * 7 * 7, n_features)
        self.fc2 = nn.Linear(n_features, n_classes)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate features (N, n_features) of images (N, 1, 28, 28) in [0, 1]."""
        h = F.max_pool2d(F.relu(self.conv1(x - 0.5)), 2)  # (N, w, 14, 14); centring helps Adam
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)  # (N, 2w, 7, 7)
        return F.relu(self.fc1(h.flatten(1)))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.features(x))


def random_shift(x: torch.Tensor, gen: torch.Generator, max_shift: int) -> torch.Tensor:
    """Translate each image by its own random (dy, dx) in [-max_shift, max_shift], zero-filled."""
    B, _, H, W = x.shape
    d = torch.randint(0, 2 * max_shift + 1, (2, B), generator=gen)
    xp = F.pad(x, (max_shift,) * 4)  # (B, 1, H + 2s, W + 2s)
    rows = d[0, :, None] + torch.arange(H)  # (B, H)
    cols = d[1, :, None] + torch.arange(W)  # (B, W)
    # one gather for the whole batch: out[b, 0, i, j] = xp[b, 0, rows[b, i], cols[b, j]]
    return xp[torch.arange(B)[:, None, None], 0, rows[:, :, None], cols[:, None, :]].unsqueeze(1)


def _check(images, labels) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.as_tensor(images).float()
    y = torch.as_tensor(np.asarray(labels)).long()
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError("evaluator images must be (N, 1, H, W) floats in [0, 1], "
                         f"got {tuple(x.shape)}")
    if len(x) != len(y):
        raise ValueError(f"{len(x)} images but {len(y)} labels")
    return x, y


def train_evaluator(images, labels, epochs: int = 16, seed: int = 0, device=None,
                    progress: bool = True, lr: float = 1e-3, batch_size: int = 64,
                    max_shift: int = 2, n_classes: int = 10, width: int = 16) -> EvaluatorCNN:
    """Train EvaluatorCNN with Adam and cross-entropy on real images; returns it in eval mode."""
    x, y = _check(images, labels)
    dev = get_device(device)
    gen = seed_everything(seed)
    model = EvaluatorCNN(n_classes, width).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps_per_epoch = (len(x) + batch_size - 1) // batch_size
    # cosine decay to 0: a clean finish without tuning a schedule
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * steps_per_epoch)
    bar = tqdm(total=epochs * steps_per_epoch, desc="evaluator", disable=not progress)
    model.train()
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for s in range(0, len(x), batch_size):
            idx = perm[s: s + batch_size]
            xb = x[idx]
            if max_shift:
                xb = random_shift(xb, gen, max_shift)
            loss = F.cross_entropy(model(xb.to(dev)), y[idx].to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update(1)
            bar.set_postfix(loss=f"{loss.item():.3f}", refresh=False)
    bar.close()
    return model.eval()


@torch.no_grad()
def evaluator_logits(model: EvaluatorCNN, imgs, batch_size: int = 1000) -> torch.Tensor:
    """Logits (N, classes) on CPU, computed in batches."""
    x = torch.as_tensor(imgs).float()
    dev = next(model.parameters()).device
    model.eval()
    return torch.cat([model(x[s: s + batch_size].to(dev)).cpu()
                      for s in range(0, len(x), batch_size)])


@torch.no_grad()
def evaluator_features(model: EvaluatorCNN, imgs, batch_size: int = 1000) -> torch.Tensor:
    """Penultimate features (N, n_features) on CPU, for the Fréchet distance."""
    x = torch.as_tensor(imgs).float()
    dev = next(model.parameters()).device
    model.eval()
    return torch.cat([model.features(x[s: s + batch_size].to(dev)).cpu()
                      for s in range(0, len(x), batch_size)])


def evaluator_accuracy(model: EvaluatorCNN, imgs, labels) -> float:
    """Share of images whose evaluator prediction equals their (conditioning) label."""
    y = torch.as_tensor(np.asarray(labels)).long()
    return float((evaluator_logits(model, imgs).argmax(1) == y).float().mean())


def evaluator_key(images, labels, hparams: dict) -> str:
    """sha256 of the training images, labels, hyperparameters and architecture version."""
    x, y = _check(images, labels)
    h = hashlib.sha256()
    h.update(ARCH_VERSION.encode())
    h.update(json.dumps(hparams, sort_keys=True, default=str).encode())
    h.update(str(tuple(x.shape)).encode())
    h.update(x.contiguous().numpy().tobytes())
    h.update(y.contiguous().numpy().astype(np.int64).tobytes())
    return h.hexdigest()


# the settings that change the trained model, with their defaults
TRAIN_DEFAULTS = {k: p.default for k, p in inspect.signature(train_evaluator).parameters.items()
                  if k not in ("images", "labels", "device", "progress")}


def evaluator_hparams(**overrides) -> dict:
    """Every training setting of `train_evaluator`: its defaults, then `overrides`."""
    unknown = set(overrides) - set(TRAIN_DEFAULTS)
    if unknown:
        raise TypeError(f"unknown evaluator settings {sorted(unknown)}")
    return {**TRAIN_DEFAULTS, **overrides}


def load_or_train_evaluator(images, labels, cache_path: str | os.PathLike | None = None,
                            device=None, progress: bool = True, **train_kw) -> EvaluatorCNN:
    """Load the cached evaluator trained on exactly these images and settings, else train and cache.

    Default `cache_path`: cache_dir()/evaluator-<key>.pt. A file whose key differs is retrained
    and overwritten, never reused; a file that does not load (truncated, corrupt, not a
    checkpoint) is a cache miss too, with a warning naming it.
    """
    # key on every setting, defaults included: changing a default must not reuse an old model
    hparams = evaluator_hparams(**train_kw)
    key = evaluator_key(images, labels, hparams)
    path = Path(cache_path) if cache_path is not None else cache_dir() / f"evaluator-{key[:16]}.pt"
    if path.is_file():
        model = load_cached(path, key, _build_evaluator, "evaluator")
        if model is not None:
            return model.to(get_device(device)).eval()
    model = train_evaluator(images, labels, device=device, progress=progress, **hparams)
    arch = {"n_classes": model.fc2.out_features, "width": model.conv1.out_channels,
            "n_features": model.fc1.out_features}
    state = {k: v.cpu() for k, v in model.state_dict().items()}
    sweep_stale_tmp(path.parent)  # temp files of runs killed while saving
    atomic_torch_save({"key": key, "arch": arch, "hparams": hparams, "state_dict": state}, path)
    return model


def _build_evaluator(ckpt: dict) -> EvaluatorCNN:
    model = EvaluatorCNN(**ckpt["arch"])
    model.load_state_dict(ckpt["state_dict"])
    return model


def load_cached(path: Path, key: str, build, what: str = "evaluator"):
    """build(checkpoint) if `path` holds the checkpoint for `key`; None (a cache miss) otherwise.

    Train-or-load for every cached model: a file of another key is replaced as designed; one
    that does not load (truncated, corrupt, not a checkpoint) is a miss too, with a warning."""
    # any unreadable cache is only a miss; the loader's own message is not repeated, since
    # torch's may suggest weights_only=False, which would run code from the file
    try:
        ckpt = load_checkpoint(path)
    except Exception as e:  # noqa: BLE001
        return _miss(path, type(e).__name__, what)
    if not isinstance(ckpt, dict):
        return _miss(path, f"it holds a {type(ckpt).__name__}, not a checkpoint", what)
    if ckpt.get("key") != key:
        return None  # another data set or setting: retrained and replaced, as designed
    try:
        return build(ckpt)
    except Exception as e:  # noqa: BLE001
        return _miss(path, f"not a {what} checkpoint: {type(e).__name__}", what)


def _miss(path: Path, why: str, what: str) -> None:
    warnings.warn(f"{what} cache {path} does not load ({why}): treated as missing; "
                  "retraining and replacing it", stacklevel=4)
