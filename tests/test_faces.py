"""`gbc-teach faces` end to end on its fast profile (synthetic faces) and on a tiny CelebA
fixture in the official layout; the metrics contract of the run folder."""

import json

import numpy as np

from gbc_teach.cli import main
from gbc_teach.datasets.faces import ATTRIBUTES

ROW_KEYS = ("evaluator_accuracy", "evaluator_accuracy_per_attribute", "tstr_accuracy",
            "ssim_recovery_share", "l2_recovery_share", "frechet", "diversity")


def check_run(out):
    m = json.loads((out / "metrics.json").read_text())
    for row in ("gbc", "naive", "particles", "real", "train_images"):
        assert all(k in m[row] for k in ROW_KEYS), row
        assert set(m[row]["evaluator_accuracy_per_attribute"]) == set(ATTRIBUTES)
    assert m["train_images"]["ssim_recovery_share"] == 1.0  # the ceiling: the faces themselves
    assert "held_out_evaluator_accuracy" in m["gbc"] and "bnstat_skipped" in m
    assert m["classifier"]["lambda_relu_twin"]["euler_residual"] < 1e-6
    for f in ("samples.png", "nearest.png", "recovery.png", "samples.npz", "run.json"):
        assert (out / f).is_file(), f
    return m


def test_faces_fast_synthetic(tmp_path, monkeypatch):
    monkeypatch.setenv("GBC_CACHE_DIR", str(tmp_path / "cache"))
    out = tmp_path / "run"
    assert main(["faces", "--fast", "--quiet", "--out", str(out)]) == 0
    m = check_run(out)
    assert m["data"]["split"] == "synthetic" and len(m["data"]["held_out_combinations"]) == 8
    assert m["seconds"] < 60


def write_celeba_faces(root, n=120, size=(218, 178)):
    """A CelebA fixture in the official layout with the five attributes (plus one more)."""
    from PIL import Image

    names = [*ATTRIBUTES, "Young"]
    (root / "img_align_celeba").mkdir(parents=True)
    rng = np.random.default_rng(0)
    attr_lines, part_lines = [str(n), " ".join(names)], []
    for i in range(n):
        f = f"{i + 1:06d}.jpg"
        im = rng.integers(0, 255, (*size, 3), dtype=np.uint8)
        Image.fromarray(im).save(root / "img_align_celeba" / f, quality=90)
        a = rng.choice([-1, 1], size=len(names))
        attr_lines.append(f + "  " + " ".join(f"{v:2d}" for v in a))
        part_lines.append(f"{f} {i % 3}")
    (root / "list_attr_celeba.txt").write_text("\n".join(attr_lines) + "\n")
    (root / "list_eval_partition.txt").write_text("\n".join(part_lines) + "\n")


def test_faces_fast_celeba_fixture(tmp_path, monkeypatch):
    monkeypatch.setenv("GBC_CACHE_DIR", str(tmp_path / "cache"))
    root = tmp_path / "celeba"
    write_celeba_faces(root)
    out = tmp_path / "run"
    argv = ["faces", "--fast", "--quiet", "--out", str(out), "--data", "celeba",
            "--celeba-root", str(root), "--set", "n_eval_images=40", "--set", "n_test=20",
            "--set", "samples_per_combination=1"]
    assert main(argv) == 0
    m = check_run(out)
    assert m["data"]["split"].startswith("celeba") and m["data"]["source"] == str(root)


def test_celeba_needs_a_root(tmp_path):
    assert main(["faces", "--fast", "--quiet", "--out", str(tmp_path / "r"), "--data",
                 "celeba"]) == 1
