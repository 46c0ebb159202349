"""`gbc-teach faces` end to end on its fast profile (synthetic faces) and on a tiny CelebA
fixture in the official layout; the metrics contract of the run folder."""

import json

import numpy as np
import pytest
import torch

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
    fl = m["classifier"]["first_layer"]  # the first conv as a matrix: 8 filters × 16×16 positions
    assert len(fl["filters"]) == 8 and fl["filters"][0] == 1.0
    assert 1 <= fl["rank"] <= 8 * 16 * 16 and len(fl["outside"]) == m["data"]["sizes"]["train"]


def test_faces_recovery_profile_judges_what_the_first_layer_sees(tmp_path, monkeypatch):
    """`--profile recovery`: an MLP on 4 faces; GBC and the particles are judged twice, as drawn
    and as seen by W₁ (their projection on its row space), with the same metrics."""
    from gbc_teach.experiments import faces

    monkeypatch.setenv("GBC_CACHE_DIR", str(tmp_path / "cache"))
    starts = []  # the seed of each noise start: the restarts', not the first run's

    def noise_start(*args):
        starts.append(args[-1])
        return real_noise_start(*args)

    real_noise_start = faces.noise_start
    monkeypatch.setattr(faces, "noise_start", noise_start)
    out = tmp_path / "run"
    assert main(["faces", "--fast", "--profile", "recovery", "--quiet", "--out", str(out),
                 "--set", "gen_restarts=2"]) == 0
    m = check_run(out)
    assert m["config"]["arch"] == "mlp" and m["data"]["sizes"]["train"] == 4
    fl = m["classifier"]["first_layer"]  # r_j for each direction up to the gap (or rtol)
    r = fl["stationarity_by_direction"]
    assert len(r) == min(fl["gap_rank"] or fl["rank"], 4) and all(np.isfinite(v) for v in r)
    for row in ("gbc_seen", "particles_seen", "gbc_warm_seen"):
        assert all(k in m[row] for k in ROW_KEYS) and 0 <= m[row]["L_stat"] <= 2, row
    # GBC from the particles' answer ends on its lowest logged loss: no logged loss below it
    warm = m["gbc_warm"]
    assert all(k in warm for k in ROW_KEYS) and 0 <= warm["kept_step"] <= m["config"]["warm_steps"]
    # GBC with L_scale starts again (from noise images) while its α ends far from 1/wd (20
    # steps: always), at most gen_restarts times, and keeps the run with the lowest final loss
    g, cfg = m["gbc"], m["config"]
    assert cfg["gbc_start"] == "random" and cfg["restart_start"] == "noise"
    assert starts == [m["seed"] + 97 * k for k in range(1, len(g["restarts"]))]
    tries = g["restarts"]
    assert all(t["L_scale"] > cfg["scale_tol"] for t in tries[:-1])
    assert len(tries) == 1 + cfg["gen_restarts"] or tries[-1]["L_scale"] <= cfg["scale_tol"]
    assert g["final_losses"]["loss"] == pytest.approx(min(t["loss"] for t in tries))
    assert g["final_losses"]["L_scale"] == pytest.approx(
        min(tries, key=lambda t: t["loss"])["L_scale"])
    npz = np.load(out / "samples.npz")
    seen = npz["particles_seen_images"]
    assert seen.shape == npz["train_images"].shape  # one seen image a particle, uint8 like them


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


def test_plain_rule_from_a_small_first_layer_holds_every_training_face():
    """Haim et al.'s rule on faces: plain GD from a first layer 10⁴× small leaves W₁'s row space
    spanned by the training faces alone (one direction each, nothing outside); from the usual
    init the random first layer dominates and most of each face lies outside what it sees."""
    import torch

    from gbc_teach.datasets.faces import draw_faces
    from gbc_teach.experiments.faces import first_layer, train_attribute_classifier
    from gbc_teach.experiments.faces_config import FaceConfig
    from gbc_teach.experiments.faces_data import split_combinations
    from gbc_teach.kkt import first_layer_view

    combos, _ = split_combinations(0, 24)
    d = draw_faces(len(combos), 0, attrs=combos.numpy(), size=32)
    views = {}
    for scale in (1e-4, 1.0):
        torch.manual_seed(0)
        cfg = FaceConfig(arch="mlp", mlp_width=64, act="relu", clf_rule="plain",
                         init_scale=scale, clf_steps=1500)
        model, _, hist = train_attribute_classifier(d.images, d.attrs, cfg)
        assert hist["train_acc"][-1] == 1.0
        views[scale] = first_layer_view(first_layer(model).weight, d.images)
    assert views[1e-4]["rank"] == len(combos) and views[1e-4]["outside_max"] < 1e-2
    assert views[1.0]["rank"] == 64 and views[1.0]["outside_mean"] > 0.5


def test_fit_generator_puts_each_combination_on_its_face():
    """fit_generator: G(z, a_i, 0) ≈ x_i for every z — two flat faces of different grey."""
    from gbc_teach.experiments.faces_nets import FaceGenerator, fit_generator

    torch.manual_seed(0)
    a = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    x = torch.stack([torch.full((3, 8, 8), 0.2), torch.full((3, 8, 8), 0.8)])
    G = FaceGenerator(a, z_dim=4, ch=16, size=8)
    rms = fit_generator(G, x, a, steps=300, lr=1e-2)
    out = G(torch.randn(6, 4), a.repeat(3, 1), torch.zeros(6, dtype=torch.long))
    assert rms < 0.03 and (out - x.repeat(3, 1, 1, 1)).abs().max() < 0.1, rms
    with pytest.raises(ValueError, match="2 faces of one combination for 1 codes"):
        fit_generator(G, x, a[[0, 0]], steps=1)


def test_noise_start_puts_gbc_on_the_particles_noise():
    """gbc_start='noise': G starts fitted to noise images uniform in [0, particle_init] (the
    particles' start) — their mean brightness, and closer to them than G's own grey init."""
    from gbc_teach.baselines.particles import Particles
    from gbc_teach.experiments.faces import noise_start
    from gbc_teach.experiments.faces_config import FaceConfig
    from gbc_teach.experiments.faces_nets import FaceGenerator

    cfg = FaceConfig.recovery(fast=True, size=8, warm_fit_steps=300)
    a = torch.tensor([[0.0, 1.0], [1.0, 0.0]])
    X = torch.zeros(2, 3, 8, 8)
    noise = Particles(1, 2, (3, 8, 8), init=cfg.particle_init, seed=5, labels=a).sample()[0]

    def rms(G):  # to the noise images, over draws of z
        out = G(torch.randn(6, 4), a.repeat(3, 1), torch.zeros(6, dtype=torch.long))
        return float((out - noise.repeat(3, 1, 1, 1)).pow(2).mean().sqrt()), out

    torch.manual_seed(0)
    G = FaceGenerator(a, z_dim=4, ch=16, size=8)
    own, _ = rms(G)
    noise_start(G, X, a, cfg, seed=5)
    fitted, out = rms(G)
    assert fitted < 0.75 * own, (fitted, own)
    assert abs(float(out.mean()) - cfg.particle_init / 2) < 0.05
