"""Figures of the faces experiment (docs/method.md §11; notebook 07): samples by attribute
combination, and training faces above their nearest samples."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import torch

from ..datasets.faces import SHORT
from ..evaluation.images import nearest_same_class


def combo_label(a, names) -> str:
    """e.g. 'Smile Blond' for an attribute vector; 'none' when no attribute is on."""
    return " ".join(SHORT.get(n, n) for n, v in zip(names, a) if v > 0.5) or "none"


def _show(ax, img: torch.Tensor) -> None:
    ax.imshow(img.permute(1, 2, 0).clamp(0, 1).numpy(), interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])


def samples_by_combination(x, a, names, per_row: int = 8, held=None, max_rows: int = 32):
    """One row per attribute combination (its label on the left, '(held out)' for combinations
    absent from the classifier's training set), up to `per_row` samples each."""
    keys = [tuple(int(v) for v in r) for r in a.round().tolist()]
    combos = sorted(set(keys))[:max_rows]
    held = {tuple(int(v) for v in r) for r in (held.tolist() if held is not None else [])}
    fig, axes = plt.subplots(len(combos), per_row, squeeze=False,
                             figsize=(0.7 * per_row + 1.6, 0.72 * len(combos) + 0.2))
    for r, k in enumerate(combos):
        idx = [i for i, kk in enumerate(keys) if kk == k][:per_row]
        for j in range(per_row):
            if j < len(idx):
                _show(axes[r, j], x[idx[j]])
            else:
                axes[r, j].axis("off")
        axes[r, 0].set_ylabel(combo_label(k, names) + (" (held out)" if k in held else ""),
                              fontsize=6, rotation=0, ha="right", va="center")
    fig.subplots_adjust(left=0.2, right=0.99, top=0.99, bottom=0.01, wspace=0.04, hspace=0.06)
    return fig


def nearest_faces(train_x, train_labels, samples: dict, max_cols: int = 12):
    """One column a training face: the face, then each method's most similar (SSIM) sample of
    the same attribute combination, with its SSIM."""
    idx = np.arange(min(len(train_x), max_cols))
    best = {k: nearest_same_class(train_x, train_labels, idx, x, y) for k, (x, y) in samples.items()}
    rows = ["training face", *samples]
    fig, axes = plt.subplots(len(rows), len(idx), squeeze=False,
                             figsize=(0.85 * len(idx) + 1.2, 0.95 * len(rows) + 0.2))
    for j, i in enumerate(idx):
        _show(axes[0, j], train_x[i])
        for r, (k, (x, _)) in enumerate(samples.items(), start=1):
            if i in best[k]:
                _show(axes[r, j], x[best[k][i][0]])
                axes[r, j].set_xlabel(f"{best[k][i][1]:.2f}", fontsize=6, labelpad=1)
            else:
                axes[r, j].axis("off")
    for r, label in enumerate(rows):
        axes[r, 0].set_ylabel(label, fontsize=7, rotation=0, ha="right", va="center")
    fig.subplots_adjust(left=0.12, right=0.99, top=0.99, bottom=0.04, wspace=0.05, hspace=0.3)
    return fig
