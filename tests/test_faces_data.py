"""The procedural faces: deterministic, well-formed, each attribute drawn where it should be,
varied within an attribute combination, and learnable from pixels by a small model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gbc_teach.datasets import faces
from gbc_teach.datasets.faces import ATTRIBUTES, RATES, draw_faces


def test_same_seed_gives_identical_images_and_other_seeds_do_not():
    a, b, c = draw_faces(24, seed=3), draw_faces(24, seed=3), draw_faces(24, seed=4)
    assert torch.equal(a.images, b.images) and torch.equal(a.attrs, b.attrs)
    assert (a.images - c.images).abs().flatten(1).amax(1).min() > 0.1  # no image shared


def test_image_i_does_not_depend_on_n():
    # 10 and 37 images split into different render chunks; the first 10 must still agree
    assert torch.equal(draw_faces(10, seed=5).images, draw_faces(37, seed=5).images[:10])


@pytest.mark.parametrize("size", [32, 64])
def test_shapes_dtype_and_range(size):
    d = draw_faces(20, seed=0, size=size)
    assert d.images.shape == (20, 3, size, size) and d.images.dtype == torch.float32
    assert d.attrs.shape == (20, len(ATTRIBUTES)) and d.names == ATTRIBUTES and len(d) == 20
    assert d.images.min() >= 0 and d.images.max() <= 1
    assert d.images.std() > 0.1  # a picture, not a flat colour
    assert set(d.attrs.unique().tolist()) <= {0.0, 1.0}


def test_attribute_rates_and_fixed_attributes():
    freq = draw_faces(1500, seed=1, size=16).attrs.mean(0)
    assert torch.allclose(freq, torch.tensor(RATES), atol=0.05), freq
    row = [1, 0, 1, 0, 1]
    assert (draw_faces(6, seed=2, size=16, attrs=row).attrs == torch.tensor(row)).all()
    fixed = draw_faces(40, seed=2, size=16, attrs={"Bangs": 1, "Smiling": 0}).attrs
    assert (fixed[:, ATTRIBUTES.index("Bangs")] == 1).all() and (fixed[:, 0] == 0).all()
    assert 0 < fixed[:, ATTRIBUTES.index("Eyeglasses")].mean() < 1  # the rest still random
    per_image = draw_faces(4, seed=2, size=16, attrs={"Mustache": [0, 1, 1, 0]}).attrs
    assert per_image[:, ATTRIBUTES.index("Mustache")].tolist() == [0, 1, 1, 0]
    with pytest.raises(ValueError):
        draw_faces(4, attrs={"Wearing_Hat": 1})
    with pytest.raises(ValueError):
        draw_faces(4, attrs={"Bangs": 2})
    with pytest.raises(ValueError):
        draw_faces(4, attrs=[1, 0])


def test_fixing_an_attribute_keeps_every_nuisance():
    free = draw_faces(30, seed=7)
    smiling = draw_faces(30, seed=7, attrs={"Smiling": 1})
    same = free.attrs[:, 0] == 1  # these were smiling anyway: nothing may change
    assert same.any() and (~same).any()
    assert torch.equal(free.images[same], smiling.images[same])
    assert ((free.images[~same] - smiling.images[~same]).abs().flatten(1).amax(1) > 0.3).all()


# where, on the 64×64 image (rows, columns), flipping an attribute must change the pixels
REGIONS = {
    "Smiling": ((32, 56), (16, 48)),     # the mouth
    "Mustache": ((32, 52), (16, 48)),    # the upper lip
    "Eyeglasses": ((16, 42), (4, 60)),   # the eye band, temples included
    "Bangs": ((8, 38), (8, 56)),         # the forehead
}


@pytest.mark.parametrize("name", list(REGIONS))
def test_attribute_changes_pixels_in_its_region(name):
    off = draw_faces(64, seed=11, attrs={name: 0}).images
    on = draw_faces(64, seed=11, attrs={name: 1}).images
    diff = (on - off).abs().mean((0, 1))  # (64, 64): where the flip acts, averaged over faces
    (r0, r1), (c0, c1) = REGIONS[name]
    inside = diff[r0:r1, c0:c1].sum() / diff.sum()
    assert inside > 0.9, f"{name}: only {inside:.2f} of the change lies in its region"
    assert diff[r0:r1, c0:c1].max() > 0.12  # and where it acts most it is not faint


def test_blond_hair_lightens_the_hair_and_leaves_the_mouth():
    off = draw_faces(64, seed=12, attrs={"Blond_Hair": 0}).images
    on = draw_faces(64, seed=12, attrs={"Blond_Hair": 1}).images
    signed = (on - off).mean((0, 1))
    diff = (on - off).abs().mean((0, 1))
    assert diff[:32].sum() / diff.sum() > 0.6  # mostly the top of the head
    assert diff[44:58, 24:40].sum() / diff.sum() < 0.02  # the mouth stays as it was
    assert signed[4:20, 20:44].mean() > 0.3  # the crown turns light


def test_faces_vary_within_one_attribute_combination():
    combo = draw_faces(200, seed=21, attrs=[1, 0, 0, 1, 0], size=32).images.flatten(1)
    mixed = draw_faces(400, seed=22, size=32)
    d_within = torch.pdist(combo)
    d_all = torch.cdist(mixed.images.flatten(1), mixed.images.flatten(1))
    other = torch.cdist(mixed.attrs, mixed.attrs) > 0  # pairs with different attributes
    ratio = d_within.mean() / d_all[other].mean()
    assert ratio > 0.7, f"within-combination distance only {ratio:.2f} of the across-combination one"
    # no two faces of one combination are near-copies: nearest neighbours stay far apart
    nearest = (torch.cdist(combo, combo) + 1e9 * torch.eye(len(combo))).min(1).values
    assert nearest.min() > 0.3 * d_within.mean()


def test_attributes_are_learnable_from_pixels():
    """A one-hidden-layer MLP on 2,000 faces at 32×32 predicts every attribute of 1,000 new ones."""
    torch.manual_seed(0)
    train, test = draw_faces(2000, seed=31, size=32), draw_faces(1000, seed=32, size=32)
    X, Xt = train.images.flatten(1), test.images.flatten(1)
    mu, sd = X.mean(0), X.std(0) + 1e-3
    X, Xt = (X - mu) / sd, (Xt - mu) / sd
    net = torch.nn.Sequential(torch.nn.Linear(X.shape[1], 64), torch.nn.ReLU(),
                              torch.nn.Linear(64, len(ATTRIBUTES)))
    opt = torch.optim.Adam(net.parameters(), 1e-3, weight_decay=1e-3)
    for _ in range(30):
        for idx in torch.randperm(len(X)).split(100):
            opt.zero_grad()
            torch.nn.functional.binary_cross_entropy_with_logits(net(X[idx]), train.attrs[idx]).backward()
            opt.step()
    with torch.no_grad():
        acc = ((net(Xt) > 0).float() == test.attrs).float().mean(0)
    assert (acc >= 0.9).all(), dict(zip(ATTRIBUTES, np.round(acc.numpy(), 3)))


def test_preview_writes_a_png(tmp_path):
    path = tmp_path / "faces.png"
    faces.preview(str(path), rows=1, size=32)
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
