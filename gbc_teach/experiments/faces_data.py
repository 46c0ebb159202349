"""The data of the faces experiment (docs/method.md §9, §11; notebook 07): training faces, one
(or a few) per attribute combination with some combinations held out, and fresh real faces for
the judges — drawn procedurally (`datasets.faces`) or read from CelebA (`datasets.celeba`).

Sets (disjoint, all recorded in metrics.json): train (the classifier's faces), pool_ref (the
recovery reference: fresh faces of the training combinations, `samples_per_combination` each),
pool_real (another such pool: the `real` row), evaluator (the attribute evaluator's faces) and
test (train-on-synthetic/test-on-real and the Fréchet reference).
"""

from __future__ import annotations

import numpy as np
import torch

from ..datasets.celeba import load_celeba
from ..datasets.faces import ATTRIBUTES, draw_faces
from .faces_config import FaceConfig
from .faces_nets import all_combinations, combination_index

EVALUATOR_SEED = 10_000  # the evaluator's faces do not depend on the run's seed: one cached model


def split_combinations(seed: int, held_out: int, n_attrs: int = len(ATTRIBUTES)):
    """(training combinations (M, A), held-out combinations (H, A)), drawn with the seed."""
    C = all_combinations(n_attrs)
    perm = torch.randperm(len(C), generator=torch.Generator().manual_seed(seed))
    return C[perm[held_out:].sort().values], C[perm[:held_out].sort().values]


def synthetic_data(seed: int, cfg: FaceConfig) -> dict:
    """Procedural faces: every set drawn with its own seed, the pools with the training
    combinations, the evaluator's and the test faces with random attributes."""
    combos, held = split_combinations(seed, cfg.held_out)
    reps = combos.repeat_interleave(cfg.samples_per_combination, 0)

    def draw(n_or_attrs, s):
        if isinstance(n_or_attrs, int):
            d = draw_faces(n_or_attrs, s, size=cfg.size)
        else:
            d = draw_faces(len(n_or_attrs), s, attrs=n_or_attrs.numpy(), size=cfg.size)
        return d.images, d.attrs

    sets = {"train": draw(combos.repeat_interleave(cfg.per_combination, 0), seed),
            "pool_ref": draw(reps, seed + 1), "pool_real": draw(reps, seed + 2),
            "test": draw(cfg.n_test, seed + 3),
            "evaluator": draw(cfg.n_eval_images, EVALUATOR_SEED)}
    info = {"source": "synthetic (gbc_teach.datasets.faces)", "fallback": False,
            "split": "synthetic", "seeds": {"train": seed, "pool_ref": seed + 1,
                                            "pool_real": seed + 2, "test": seed + 3,
                                            "evaluator": EVALUATOR_SEED}}
    return _finish(sets, combos, held, info)


def celeba_data(seed: int, cfg: FaceConfig, root) -> dict:
    """CelebA (all partitions): the training combinations as present, disjoint sets by a
    seeded permutation; pools hold up to `samples_per_combination` faces a combination."""
    d = load_celeba(root, split="all", attr=list(ATTRIBUTES), size=cfg.size)
    x, a = d.images, d.labels.float()
    idx = combination_index(a)
    rng = np.random.default_rng(seed)
    free = np.ones(len(x), dtype=bool)
    combos, held = split_combinations(seed, cfg.held_out)
    present = set(idx.tolist())
    keep = [m for m in range(len(combos)) if int(combination_index(combos[m:m + 1])) in present]
    combos = combos[keep]

    def take(per):
        out = []
        for k in combination_index(combos).tolist():
            cand = rng.permutation(np.flatnonzero(free & (idx.numpy() == k)))[:per]
            free[cand] = False
            out += cand.tolist()
        return np.array(out, dtype=np.int64)

    split = {"train": take(cfg.per_combination), "pool_ref": take(cfg.samples_per_combination),
             "pool_real": take(cfg.samples_per_combination)}
    rest = rng.permutation(np.flatnonzero(free))
    n_test = min(cfg.n_test, len(rest) // 2)
    split["test"], split["evaluator"] = rest[:n_test], rest[n_test:n_test + cfg.n_eval_images]
    if min(len(v) for v in split.values()) == 0:
        raise ValueError(f"CelebA at {root}: too few faces for every set "
                         f"({ {k: len(v) for k, v in split.items()} })")
    sets = {k: (x[v], a[v]) for k, v in split.items()}
    info = {"source": str(root), "fallback": False, "split": "celeba (all partitions)",
            "indices": {k: v.tolist() for k, v in split.items()}}
    return _finish(sets, combos, held, info)


def _finish(sets: dict, combos, held, info: dict) -> dict:
    info.update(sizes={k: int(len(v[0])) for k, v in sets.items()},
                attributes=list(ATTRIBUTES),
                training_combinations=combos.int().tolist(),
                held_out_combinations=held.int().tolist())
    return {"sets": sets, "combos": combos, "held": held, "info": info}


def face_data(seed: int, cfg: FaceConfig, data: str = "synthetic", celeba_root=None) -> dict:
    """The experiment's faces: 'synthetic' (drawn, offline) or 'celeba' (from celeba_root)."""
    if data == "synthetic":
        return synthetic_data(seed, cfg)
    if data == "celeba":
        if not celeba_root:
            raise ValueError("--data celeba needs --celeba-root DIR (the official CelebA layout)")
        return celeba_data(seed, cfg, celeba_root)
    raise ValueError(f"data must be 'synthetic' or 'celeba', got {data!r}")
