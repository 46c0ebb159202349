"""One row of the image metrics table (docs/method.md §8): everything a set of images is judged by.

Evaluator accuracy, calibrated recovery share (SSIM and L2) of the training images, Fréchet
distance in the evaluator's feature space, diversity; with judges, the second evaluator's
accuracy and train-on-synthetic/test-on-real accuracy.
"""

from __future__ import annotations

import numpy as np

from .evaluator import evaluator_accuracy, evaluator_features
from .images import diversity, frechet_distance, recovery
from .judges import tstr_accuracy


def image_metrics(x, y, train_x, train_y, ref, fref_feats, ev, judges=None) -> dict:
    """The docs/method.md §8 row of one image set: evaluator accuracy, recovery (SSIM, L2), Fréchet,
    diversity. ref = (images, labels) of the recovery reference pool; fref_feats: evaluator
    features of the Fréchet reference pool; judges = (second evaluator, real test images,
    their labels) adds the second evaluator's accuracy and train-on-synthetic/test-on-real."""
    rs = recovery(train_x, train_y, x, y, ref[0], ref[1], metric="ssim")
    rl = recovery(train_x, train_y, x, y, ref[0], ref[1], metric="l2")
    return {"n": int(len(x)),
            "evaluator_accuracy": evaluator_accuracy(ev, x, y),
            "ssim_recovery_share": rs["share"], "ssim_recovery_mean": rs["mean"],
            "ssim_reference_mean": rs["ref_mean"],
            "l2_recovery_share": rl["share"], "l2_recovery_mean": rl["mean"],
            # a set of one image (a row-space reconstruction that found one) has no covariance
            "frechet": (frechet_distance(evaluator_features(ev, x), fref_feats)
                        if len(x) > 1 else None),
            # a set with one image a class (particles at n = 10) has no within-class spread
            "diversity": diversity(x, y) if np.bincount(np.asarray(y)).max() > 1 else None,
            **({} if judges is None else judge_row(x, y, *judges))}


def judge_row(x, y, ev2, test_x, test_y) -> dict:
    return {"second_evaluator_accuracy": evaluator_accuracy(ev2, x, y),
            "tstr_accuracy": tstr_accuracy(x, y, test_x, test_y)}
