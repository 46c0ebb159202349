"""Baselines that use the same frozen classifier as GBC (docs/method.md §8; notebook 05).

BN-statistics matching (DeepInversion, Yin et al. 2020): a classifier with batch norm keeps,
in every BN layer l, the running mean m_l and variance s²_l of its training data's
pre-normalization activations. A generator can be trained so that its samples reproduce them:

    L_bn = Σ_l ‖(μ_l(x) − m_l) / s_l‖ / √C_l + ‖σ²_l(x) / s²_l − 1‖ / √C_l,

with μ_l, σ²_l the batch mean and (biased) variance of layer l's input on the generated batch
and C_l its channel count, plus a class term (cross-entropy, or the negative margin):

    L = L_class + r_bn · L_bn.

The statistics are divided by the running ones so that r_bn means the same in every layer and at
any scale of θ (DeepInversion uses the raw norms). The classifier runs in eval mode, as deployed
(normalization by the running statistics); it is a private copy, so the caller's model is left
untouched. The naive baseline (margin only) is `baselines.naive.NaiveObjective`.
"""

from __future__ import annotations

import copy

import torch
from torch import nn
from torch.nn import functional as F

from ..margins import q as margin


def bn_layers(model: nn.Module) -> list[nn.modules.batchnorm._BatchNorm]:
    """Every batch-norm layer of `model` that tracks running statistics, in forward order."""
    return [m for m in model.modules()
            if isinstance(m, nn.modules.batchnorm._BatchNorm) and m.running_mean is not None]


def batch_moments(h: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean and biased variance of a BN input (N, C) or (N, C, H, W)."""
    dims = [0] + list(range(2, h.dim()))  # every axis but the channel axis
    mu = h.mean(dims)
    var = (h - mu.view(1, -1, *([1] * (h.dim() - 2)))).pow(2).mean(dims)
    return mu, var


def bn_stat_distance(mu: torch.Tensor, var: torch.Tensor, bn: nn.modules.batchnorm._BatchNorm,
                     normalize: bool = True) -> torch.Tensor:
    """‖(μ − m)/s‖/√C + ‖σ²/s² − 1‖/√C (normalize) or ‖μ − m‖ + ‖σ² − s²‖ (DeepInversion)."""
    m, s2 = bn.running_mean, bn.running_var
    if not normalize:
        return (mu - m).norm() + (var - s2).norm()
    s2 = s2 + bn.eps
    C = mu.numel() ** 0.5
    return ((mu - m) / s2.sqrt()).norm() / C + (var / s2 - 1).norm() / C


class BNStatObjective(nn.Module):
    """L = L_class + r_bn·L_bn: DeepInversion-style BN-statistics matching on a frozen classifier.

    class_loss: 'ce' (cross-entropy) or 'margin' (−q, as the naive baseline).
    forward(x, y, w=None) → {'loss', 'L_bn', 'L_class', 'q'}, usable with gbc.train_generator.
    """

    def __init__(self, classifier: nn.Module, n_classes: int, r_bn: float = 1.0,
                 class_loss: str = "ce", normalize: bool = True):
        super().__init__()
        if class_loss not in ("ce", "margin"):
            raise ValueError(f"class_loss must be 'ce' or 'margin', got {class_loss!r}")
        self.classifier = copy.deepcopy(classifier).eval()  # deployed mode: running statistics
        for p in self.classifier.parameters():
            p.requires_grad_(False)
        self.layers = bn_layers(self.classifier)
        if not self.layers:
            raise ValueError("BN-statistics matching needs a classifier with batch norm "
                             "(running statistics); this one has none")
        self.n_classes, self.r_bn = n_classes, r_bn
        self.class_loss, self.normalize = class_loss, normalize
        self._inputs: list[torch.Tensor] = []
        for bn in self.layers:  # record each BN layer's input during the forward
            bn.register_forward_hook(lambda mod, inp, out: self._inputs.append(inp[0]))

    def bn_loss(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(L_bn, logits) of a batch: sum over BN layers of the statistic distances."""
        self._inputs.clear()
        logits = self.classifier(x)
        L_bn = sum(bn_stat_distance(*batch_moments(h), bn, self.normalize)
                   for h, bn in zip(self._inputs, self.layers))
        self._inputs.clear()
        return L_bn, logits

    def forward(self, x: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None = None) -> dict:
        L_bn, logits = self.bn_loss(x)
        qs = margin(logits, y, check=False)
        per = F.cross_entropy(logits, y.long(), reduction="none") if self.class_loss == "ce" else -qs
        L_class = (per * (1 if w is None else w)).mean()
        return {"loss": L_class + self.r_bn * L_bn, "L_bn": L_bn, "L_class": L_class, "q": qs}
