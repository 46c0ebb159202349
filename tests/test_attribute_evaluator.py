"""The independent judge of generated faces must itself read the attributes of real faces."""

import pytest

from gbc_teach.datasets.faces import draw_faces
from gbc_teach.evaluation.attributes import AttributeEvaluator, attribute_accuracy, fit_attributes


def test_attribute_evaluator_reads_every_attribute():
    # 4,000 fresh faces, 3 epochs (seconds): every attribute well above its majority rate (≤ 0.65);
    # a global-average-pooled version of this net stayed at chance on four of the five
    train, test = draw_faces(4000, seed=21, size=32), draw_faces(500, seed=22, size=32)
    model = fit_attributes(AttributeEvaluator(5, size=32), train.images, train.attrs, epochs=3, seed=0)
    acc = attribute_accuracy(model, test.images, test.attrs)
    assert acc.min() >= 0.8, acc
    assert acc.mean() >= 0.9, acc


def test_attribute_evaluator_checks_its_size():
    with pytest.raises(ValueError, match="divisible by 8"):
        AttributeEvaluator(5, size=30)
