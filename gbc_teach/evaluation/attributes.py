"""Judges of generated faces (docs/method.md §8, §11; notebook 07): an independent attribute
evaluator and train-on-synthetic/test-on-real for attributes.

The evaluator is a CNN of another design than the classifier under study (3×3 convolutions with
max pooling, ReLU, biases, a hidden fully connected layer over the whole feature map: where a mark
sits matters — a dark crescent is a smile at the mouth, not at the hairline — and a global average
pool, which forgets where, left four of the five attributes at chance), trained on thousands of fresh faces
that neither that classifier nor the generator ever sees; it is trained once and cached, keyed
on its data and settings. It scores the samples per attribute (does the face show the attributes
it was asked for?) and gives the penultimate features for the Fréchet distance.
"""

from __future__ import annotations

import contextlib
import hashlib

import torch
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from ..utils import atomic_torch_save, cache_dir, seed_everything, sweep_stale_tmp
from .evaluator import load_cached

ARCH_VERSION = "attribute-evaluator-v2"


class AttributeEvaluator(nn.Module):
    """conv(3→w)-pool-conv(w→2w)-pool-conv(2w→4w)-pool-fc(4w·(S/8)²→128)-fc(128→A), S×S faces."""

    def __init__(self, n_attrs: int = 5, width: int = 32, size: int = 32):
        super().__init__()
        if size % 8:
            raise ValueError(f"the attribute evaluator needs a face size divisible by 8, got {size}")
        self.body = nn.Sequential(
            nn.Conv2d(3, width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(2 * width, 4 * width, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(4 * width * (size // 8) ** 2, 128), nn.ReLU())
        self.head = nn.Linear(128, n_attrs)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x - 0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))


def autocast(device: torch.device, amp: bool):
    """bf16 autocast on cuda when asked, else nothing."""
    if amp and device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def fit_attributes(model: nn.Module, x, a, epochs: int, seed: int = 0, batch: int = 64,
                   lr: float = 2e-3, progress: bool = False, amp: bool = False, flip: bool = True):
    """Adam on the binary cross-entropy of every attribute, random horizontal flips."""
    dev = next(model.parameters()).device
    gen = seed_everything(seed)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    steps = max(1, epochs * ((len(x) + batch - 1) // batch))
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps)
    model.train()
    for _ in tqdm(range(epochs), desc="attribute evaluator", disable=not progress, leave=False):
        perm = torch.randperm(len(x), generator=gen)
        for s in range(0, len(x), batch):
            idx = perm[s:s + batch]
            xb = x[idx]
            if flip:  # the attributes are left-right symmetric
                xb = torch.where(torch.rand(len(xb), 1, 1, 1, generator=gen) < 0.5, xb.flip(3), xb)
            with autocast(dev, amp):
                loss = F.binary_cross_entropy_with_logits(model(xb.to(dev)).float(), a[idx].to(dev))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return model.eval()


def load_or_train_attribute_evaluator(x, a, epochs: int = 6, seed: int = 0, device="cpu",
                                      progress: bool = False, amp: bool = False):
    """The cached evaluator trained on exactly these faces and settings, else train and cache."""
    x, a = x.float().cpu(), a.float().cpu()
    h = hashlib.sha256(f"{ARCH_VERSION}|{epochs}|{seed}|{tuple(x.shape)}".encode())
    h.update(x.contiguous().numpy().tobytes())
    h.update(a.contiguous().numpy().tobytes())
    key = h.hexdigest()
    path = cache_dir() / f"attribute-evaluator-{key[:16]}.pt"

    def build(ckpt):
        m = AttributeEvaluator(a.shape[1], size=x.shape[-1])
        m.load_state_dict(ckpt["state_dict"])
        return m

    if path.is_file():
        model = load_cached(path, key, build, "attribute evaluator")
        if model is not None:
            return model.to(device).eval()
    model = fit_attributes(AttributeEvaluator(a.shape[1], size=x.shape[-1]).to(device), x, a, epochs, seed,
                           progress=progress, amp=amp)
    sweep_stale_tmp(path.parent)
    atomic_torch_save({"key": key, "state_dict": {k: v.cpu() for k, v in
                                                  model.state_dict().items()}}, path)
    return model


@torch.no_grad()
def predict(model: nn.Module, x, batch: int = 500, features: bool = False) -> torch.Tensor:
    """Logits (N, A), or penultimate features, on the CPU."""
    dev = next(model.parameters()).device
    model.eval()
    fn = model.features if features else model
    return torch.cat([fn(x[s:s + batch].to(dev)).float().cpu() for s in range(0, len(x), batch)])


def attribute_accuracy(model: nn.Module, x, a) -> torch.Tensor:
    """Per-attribute share of faces whose predicted attribute equals the requested one, (A,)."""
    return ((predict(model, x) > 0) == (a.cpu() > 0.5)).float().mean(0)


def tstr_attributes(x_syn, a_syn, x_real, a_real, steps: int = 300, seed: int = 0,
                    device="cpu", amp: bool = False) -> torch.Tensor:
    """Train-on-synthetic/test-on-real: a fresh small CNN fitted on the samples and their
    requested attributes; its per-attribute accuracy on real faces, (A,)."""
    seed_everything(seed)
    student = AttributeEvaluator(a_syn.shape[1], width=16, size=x_syn.shape[-1]).to(device)
    epochs = max(1, round(steps * 64 / max(len(x_syn), 1)))
    fit_attributes(student, x_syn.float().cpu(), a_syn.float().cpu(), epochs, seed, amp=amp)
    return attribute_accuracy(student, x_real, a_real)
