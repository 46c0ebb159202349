"""The naive baseline (docs/method.md §6): a generator that only makes its samples confident.

Maximizing the margin q alone, with nothing asking the samples to satisfy the KKT conditions,
drives them to the class cores — far from the training points (notebook 01 shows it).
"""

from __future__ import annotations

from torch import nn

from ..margins import q as margin


class NaiveObjective(nn.Module):
    """The naive baseline: make every sample as confidently its class as possible (max q)."""

    def __init__(self, classifier: nn.Module, n_classes: int):
        super().__init__()
        self.classifier, self.n_classes = classifier, n_classes

    def forward(self, x, y, w=None):
        qs = margin(self.classifier(x), y)
        return {"loss": -qs.mean(), "q": qs}
