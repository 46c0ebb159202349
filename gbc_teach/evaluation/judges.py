"""Two more judges of generated images, beside the evaluator's accuracy (docs/method.md §8;
notebook 05b).

A small evaluator can read class textures that no person would call a digit: the accuracy of
one evaluator alone ranks noise and digits alike. Two checks that are harder to fool:

- a second evaluator of another design (5×5 convolutions, global average pooling, no fully
  connected trunk), trained with stronger augmentation (shifts, pixel noise, contrast);
  when the two evaluators disagree about a sample set, distrust both;
- train-on-synthetic / test-on-real (TSTR): fit a fresh classifier on the generated samples
  and their labels, test it on real images it never saw. Only samples that carry what a
  real digit of that class looks like teach a student anything.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from ..utils import atomic_torch_save, cache_dir, seed_everything, sweep_stale_tmp
from .evaluator import evaluator_accuracy, load_cached, random_shift

ARCH_VERSION = "second-evaluator-gap-v1"


class SecondEvaluator(nn.Module):
    """conv5(1→32) - pool - conv5(32→64) - pool - conv3(64→128) - global avg pool - fc(128→C)."""

    def __init__(self, n_classes: int = 10):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # (N, 32, 14, 14)
            nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),  # (N, 64, 7, 7)
            nn.Conv2d(64, 128, 3, padding=1), nn.ReLU(),
            nn.AdaptiveAvgPool2d(1), nn.Flatten())  # (N, 128)
        self.head = nn.Linear(128, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.body(x - 0.5))


def augment(x: torch.Tensor, gen: torch.Generator, max_shift: int = 3, noise: float = 0.1):
    """Random shift (zero-filled), contrast in [0.6, 1] and Gaussian pixel noise, clamped."""
    x = random_shift(x, gen, max_shift)
    c = 0.6 + 0.4 * torch.rand(len(x), 1, 1, 1, generator=gen)
    return (c * x + noise * torch.randn(x.shape, generator=gen)).clamp(0, 1)


def _key(x: torch.Tensor, y: torch.Tensor, epochs: int, seed: int) -> str:
    h = hashlib.sha256(f"{ARCH_VERSION}|{epochs}|{seed}|{tuple(x.shape)}".encode())
    h.update(x.contiguous().numpy().tobytes())
    h.update(y.long().contiguous().numpy().tobytes())
    return h.hexdigest()


def train_second_evaluator(x: torch.Tensor, y: torch.Tensor, epochs: int = 8, seed: int = 0,
                           batch: int = 64, lr: float = 2e-3, progress: bool = True,
                           cache: bool = True, path: str | os.PathLike | None = None):
    """Train (or load from the cache) the second evaluator on real images (N, 1, 28, 28)."""
    x, y = torch.as_tensor(x).float().cpu(), torch.as_tensor(np.asarray(y)).long().cpu()
    key = _key(x, y, epochs, seed)
    path = Path(path) if path else cache_dir() / f"second-evaluator-{key[:16]}.pt"
    n_classes = int(y.max()) + 1

    def build(ckpt):
        model = SecondEvaluator(n_classes)
        model.load_state_dict(ckpt["state_dict"])
        return model.eval()

    if cache and path.is_file():
        model = load_cached(path, key, build, "second evaluator")
        if model is not None:
            return model
    gen = seed_everything(seed)
    model = SecondEvaluator(n_classes)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = epochs * ((len(x) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps)
    bar = tqdm(total=steps, desc="second evaluator", disable=not progress, leave=False)
    for _ in range(epochs):
        perm = torch.randperm(len(x), generator=gen)
        for s in range(0, len(x), batch):
            idx = perm[s:s + batch]
            loss = F.cross_entropy(model(augment(x[idx], gen)), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            bar.update(1)
    bar.close()
    model.eval()
    if cache:
        sweep_stale_tmp(path.parent)  # temp files of runs killed while saving
        atomic_torch_save({"key": key, "state_dict": model.state_dict()}, path)
    return model


def tstr_accuracy(x_syn, y_syn, x_real, y_real, steps: int = 300, width: int = 256,
                  seed: int = 0, lr: float = 1e-3, wd: float = 1e-4) -> float:
    """Train-on-synthetic / test-on-real: a fresh 784-width-C MLP fitted (full batch, Adam) on
    the samples, its accuracy on the real images."""
    xs = torch.as_tensor(x_syn).float().flatten(1).cpu()
    ys = torch.as_tensor(np.asarray(y_syn)).long().cpu()
    n_classes = int(max(int(ys.max()), int(np.asarray(y_real).max()))) + 1
    seed_everything(seed)
    student = nn.Sequential(nn.Linear(xs.shape[1], width), nn.ReLU(), nn.Linear(width, n_classes))
    opt = torch.optim.AdamW(student.parameters(), lr=lr, weight_decay=wd)
    for _ in range(steps):
        loss = F.cross_entropy(student(xs), ys)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return evaluator_accuracy(nn.Sequential(nn.Flatten(), student), x_real, y_real)
