"""CelebA in its official aligned layout (docs/method.md §9): faces and attributes.

img_align_celeba/*.jpg, list_attr_celeba.txt, list_eval_partition.txt; each face centre-cropped to
178×178 and resized. The data cannot be committed: point `root` at your own copy.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

CELEBA_PARTITIONS = {"train": 0, "valid": 1, "test": 2}


@dataclass
class CelebAData:
    """Faces (N, 3, size, size) float in [0, 1], 0/1 attribute labels, their names, file names."""

    images: torch.Tensor
    labels: torch.Tensor  # (N,) for one attribute name, else (N, len(attr_names))
    attr_names: list[str]
    files: list[str]


def _require(path: Path) -> Path:
    if not path.exists():
        raise FileNotFoundError(f"CelebA: {path} not found (expected the official layout: "
                                "img_align_celeba/*.jpg, list_attr_celeba.txt, "
                                "list_eval_partition.txt)")
    return path


def _read_celeba_attrs(path: Path) -> tuple[list[str], dict[str, np.ndarray]]:
    lines = path.read_text().splitlines()
    names = lines[1].split()
    rows = {}
    for line in lines[2:]:
        parts = line.split()
        if not parts:
            continue
        if len(parts) != len(names) + 1:
            raise ValueError(f"{path}: line for {parts[0]} has {len(parts) - 1} values, "
                             f"header names {len(names)} attributes")
        rows[parts[0]] = (np.array(parts[1:], dtype=np.int64) > 0).astype(np.int64)  # -1/1 -> 0/1
    if int(lines[0].split()[0]) != len(rows):
        raise ValueError(f"{path}: header says {lines[0].split()[0]} images, found {len(rows)}")
    return names, rows


def load_celeba(root: str | os.PathLike, split: str = "train", attr=None, size: int = 64,
                limit: int | None = None) -> CelebAData:
    """Aligned CelebA faces of one partition, centre-cropped to 178x178 and resized to `size`."""
    from PIL import Image

    root = Path(root)
    img_dir = _require(root / "img_align_celeba")
    names, attrs = _read_celeba_attrs(_require(root / "list_attr_celeba.txt"))
    partition = dict(line.split() for line in
                     _require(root / "list_eval_partition.txt").read_text().splitlines()
                     if line.strip())
    if split != "all" and split not in CELEBA_PARTITIONS:
        raise ValueError(f"split must be one of {list(CELEBA_PARTITIONS)} or 'all', got {split!r}")
    files = sorted(f for f, p in partition.items()
                   if split == "all" or int(p) == CELEBA_PARTITIONS[split])
    files = files[:limit] if limit is not None else files
    wanted = names if attr is None else [attr] if isinstance(attr, str) else list(attr)
    unknown = [a for a in wanted if a not in names]
    if unknown:
        raise KeyError(f"unknown CelebA attribute(s) {unknown}; available: {names}")
    cols = [names.index(a) for a in wanted]

    images, labels = [], []
    for f in files:
        if f not in attrs:
            raise ValueError(f"{f} is in list_eval_partition.txt but not in list_attr_celeba.txt")
        with Image.open(_require(img_dir / f)) as im:
            im = im.convert("RGB")
            w, h = im.size
            s = min(178, w, h)  # the usual 178x178 face crop of the 178x218 aligned images
            left, top = (w - s) // 2, (h - s) // 2
            im = im.crop((left, top, left + s, top + s)).resize((size, size), Image.BILINEAR)
            images.append(np.asarray(im, dtype=np.uint8))
        labels.append(attrs[f][cols])
    x = torch.from_numpy(np.stack(images) if images else np.zeros((0, size, size, 3), np.uint8))
    x = x.permute(0, 3, 1, 2).float() / 255.0  # (N, H, W, 3) -> (N, 3, H, W)
    y = torch.from_numpy(np.stack(labels) if labels else np.zeros((0, len(cols)), np.int64))
    if isinstance(attr, str):
        y = y[:, 0]
    return CelebAData(x, y, wanted, files)
