"""The naive baseline (docs/method.md §6): a generator that only makes its samples confident.

Maximizing the margin q alone, with nothing asking the samples to satisfy the KKT conditions,
drives them to the class cores — far from the training points (notebook 01 shows it).
"""

from __future__ import annotations

from torch import nn

from ..losses import no_reduce
from ..margins import q as margin


class NaiveObjective(nn.Module):
    """The naive baseline: make every sample as confidently its class as possible (max q)."""

    def __init__(self, classifier: nn.Module, n_classes: int, reduce=no_reduce):
        super().__init__()
        self.classifier, self.n_classes, self.reduce = classifier, n_classes, reduce

    def forward(self, x, y, w=None):
        qs = margin(self.classifier(x), y)
        # L = −E[q], the batch mean over the whole batch (reduce: see losses.GBCObjective)
        return {"loss": -self.reduce(qs.mean()), "q": qs}
