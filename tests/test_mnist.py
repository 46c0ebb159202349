"""The MNIST experiment end to end on a tiny profile: split, fallback flag, schema, artifacts."""

import json

import numpy as np
import pytest
import torch

from gbc_teach.cli import main
from gbc_teach.evaluation import images
from gbc_teach.experiments import image_nets, mnist, mnist_config, mnist_multi, reports

TINY = dict(n_per_class=5, n_pool=50, n_eval_images=300, eval_epochs=1, width=32, clf_steps=30,
            z_dim=8, n_codes=2, hidden=32, batch=40, gen_steps=6, naive_steps=4,
            bnstat_steps=4, threads=1)
ROWS = ("gbc", "naive", "bnstat", "real")
ROW_KEYS = ("evaluator_accuracy", "ssim_recovery_share", "ssim_recovery_mean", "frechet",
            "diversity", "l2_recovery_share")


def test_split_is_disjoint_balanced_and_shrinks_to_fit():
    labels = np.repeat(np.arange(10), 180)  # 1800 images, about the fallback's size
    split, cfg = mnist.mnist_split(labels, mnist_config.MnistConfig(), seed=0)
    sets = [set(v.tolist()) for v in split.values()]
    assert sum(map(len, sets)) == len(set().union(*sets))  # pairwise disjoint
    assert cfg.n_per_class < 50 and len(split["train"]) == 10 * cfg.n_per_class
    assert np.all(np.bincount(labels[split["train"]]) == cfg.n_per_class)
    for k in ("pool_a", "pool_b", "pool_c"):
        assert len(split[k]) == cfg.n_pool
    assert len(split["evaluator"]) == cfg.n_eval_images > 0
    # MNIST-sized data keeps the paper's sizes
    split, cfg = mnist.mnist_split(np.repeat(np.arange(10), 1000), mnist_config.MnistConfig(), seed=0)
    assert cfg.n_per_class == 50 and cfg.n_pool == 500 and cfg.n_eval_images == 6000


def test_frozen_copy_never_updates_running_stats():
    clf = image_nets.make_classifier(mnist_config.MnistConfig(width=16))
    before = {k: v.clone() for k, v in clf.state_dict().items()}
    m = image_nets.frozen_copy(clf, "train")
    m(torch.rand(8, 1, 28, 28))
    assert m.training and all(torch.equal(before[k], v) for k, v in m.state_dict().items()
                              if "running" in k)


def test_multi_generator_labels_and_objective_split():
    G = mnist_multi.MultiGenerator(image_nets.make_generator(mnist_config.MnistConfig.fast(), 5, 2), 5, 2)
    x, y, w = G.training_batch(40)
    assert x.shape == (40, 1, 28, 28) and sorted(set(y.tolist())) == list(range(10))
    assert 0 <= float(x.min()) and float(x.max()) <= 1

    class Rec(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.seen = None

        def forward(self, x, y, w=None):
            self.seen = y
            return {"loss": x.mean()}

    objs = [Rec(), Rec()]
    out = mnist_multi.MultiObjective(objs, 5)(x, y, w)
    assert "loss" in out
    for o in objs:  # each objective sees only its own digits, with local labels 0..4
        assert sorted(set(o.seen.tolist())) == list(range(5))


def test_cli_mnist_tiny_on_fallback(no_mnist, capsys):
    out = no_mnist / "run"
    args = ["mnist", "--profile", "paper", "--seed", "0", "--out", str(out), "--quiet"]
    for k, v in TINY.items():
        args += ["--set", f"{k}={v}"]
    assert main(args) == 0
    m = json.loads((out / "metrics.json").read_text())
    assert m["data"]["split"] == "sklearn-digits-fallback" and m["data"]["fallback"]
    assert "NOT MNIST" in m["data"]["warning"] and "NOT MNIST" in capsys.readouterr().err
    assert 0 <= m["classifier"]["test_accuracy"] <= 1 and m["classifier"]["kkt_residual"] >= 0
    for row in ROWS:
        for key in ROW_KEYS:
            assert np.isfinite(m[row][key]), (row, key)
        for key in ("evaluator_accuracy", "ssim_recovery_share", "l2_recovery_share"):
            assert 0 <= m[row][key] <= 1
        assert m[row]["frechet"] >= -1e-6 and m[row]["diversity"] > 0
    assert m["gbc"]["code_diversity"] >= 0 and "code_diversity" not in m["naive"]
    assert m["seconds"] > 0
    train = set(m["data"]["indices"]["train"])
    assert len(train) == 50 and not train & set(m["data"]["indices"]["evaluator"])
    s = np.load(out / "samples.npz")
    assert s["images"].shape == (50, 28, 28) and s["images"].dtype == np.uint8
    assert sorted(set(s["labels"].tolist())) == list(range(10))
    t = np.load(out / "train_subset.npz")
    assert t["images"].shape == (50, 28, 28) and sorted(t["indices"].tolist()) == sorted(train)
    for f in ("samples.png", "nearest.png"):
        assert (out / f).stat().st_size > 1000
    assert not list(out.glob(".*.tmp"))  # atomic writes left no temp files


def test_run_mnist_multi_tiny(no_mnist):
    cfg = mnist_config.MnistConfig(**TINY)
    res = mnist_multi.run_mnist_multi(0, cfg)
    m = res["metrics"]
    assert m["data"]["fallback"] and len(m["classifiers"]) == 2
    assert [c["digits"] for c in m["classifiers"]] == [[0, 1, 2, 3, 4], [5, 6, 7, 8, 9]]
    x, y = res["samples"]["gbc"]
    assert x.shape[1:] == (1, 28, 28) and sorted(set(y.tolist())) == list(range(10))
    assert 0 <= m["gbc"]["evaluator_accuracy"] <= 1
    assert len(m["gbc"]["evaluator_accuracy_per_classifier"]) == 2
    reports.write_artifacts(res, no_mnist / "multi")
    assert (no_mnist / "multi" / "samples.png").is_file()


def test_gauge_train_mode_bn_cannot_see_batch_affine_maps_and_stretch_removes_them():
    torch.manual_seed(0)
    clf = image_nets.frozen_copy(image_nets.make_classifier(mnist_config.MnistConfig(width=32)), "train")
    x = torch.rand(64, 1, 28, 28)
    with torch.no_grad():  # the first BN removes every per-feature shift and scale of W₁x
        assert torch.allclose(clf(x), clf(0.3 * x + 0.2), atol=1e-3)
    s1, s2 = image_nets.stretch(x), image_nets.stretch(0.3 * x + 0.2)
    assert torch.allclose(s1, s2, atol=1e-4)
    assert float(s1.min()) == 0.0 and float(s1.max()) == 1.0


def test_best_ssim_agrees_with_recovery():
    from gbc_teach.evaluation.images import recovery

    g = torch.Generator().manual_seed(0)
    tx, cx, rx = (torch.rand(n, 1, 28, 28, generator=g) for n in (12, 15, 9))
    ty, cy, ry = torch.arange(12) % 3, torch.arange(15) % 3, torch.arange(9) % 3
    cx[:3] = tx[:3] + 0.01  # near copies of three training images (same classes 0, 1, 2)
    b_c, b_r = images.best_ssim(tx, ty, cx, cy), images.best_ssim(tx, ty, rx, ry)
    rec = recovery(tx, ty, cx, cy, rx, ry, metric="ssim")
    assert rec["share"] == pytest.approx(float((b_c > b_r).mean()))
    assert rec["mean"] == pytest.approx(float(b_c.mean()), abs=1e-6)
    assert rec["ref_mean"] == pytest.approx(float(b_r.mean()), abs=1e-6)
    assert (b_c[:3] > 0.9).all()
    # a class with no candidates can never be recovered
    assert np.isneginf(images.best_ssim(tx, ty, cx[cy != 2], cy[cy != 2])[ty.numpy() == 2]).all()


def test_markdown_and_targets():
    row = dict(evaluator_accuracy=0.5, ssim_recovery_share=0.0, ssim_recovery_mean=0.3,
               l2_recovery_share=0.0, frechet=30.0, diversity=5.0)
    m = {"gbc": dict(row, evaluator_accuracy=0.95, frechet=9.0, ssim_recovery_share=0.6),
         "naive": row, "bnstat": dict(row, frechet=20.0),
         "real": dict(row, frechet=3.0, ssim_recovery_share=0.5)}
    table = reports.markdown_table(m)
    assert table.count("\n") == 5 and "| gbc | 0.950 |" in table
    rows = reports.target_rows(m)
    assert len(rows) == 5 and all(r["met"] for r in rows)
    m["gbc"]["frechet"] = 9.1  # just above 3 × real
    assert [r["met"] for r in reports.target_rows(m)] == [True, True, True, False, True]
    assert "**no**" in reports.targets_markdown(m)
    multi = {"gbc": dict(row, evaluator_accuracy=0.85), "real": row, "classifiers": [{}, {}]}
    assert [r["met"] for r in reports.target_rows(multi)] == [True]


def test_targets_without_bnstat_row():
    """A classifier without batch norm has no BN-stat baseline: targets compare against naive only."""
    row = dict(evaluator_accuracy=0.5, ssim_recovery_share=0.0, frechet=30.0)
    m = {"gbc": dict(row, evaluator_accuracy=0.6, frechet=40.0), "naive": row,
         "real": dict(row, frechet=3.0, ssim_recovery_share=0.5)}
    rows = reports.target_rows(m)
    assert rows[1]["target"] == "GBC evaluator accuracy above naive" and rows[1]["met"]
    assert rows[2]["target"] == "GBC Fréchet below naive" and not rows[2]["met"]


def test_run_mnist_without_bn_skips_bnstat(no_mnist):
    tmp_path = no_mnist
    cfg = mnist_config.MnistConfig.fast(bn=False, bias=False, lam_choice="uniform", n_eval_images=300,
                                 eval_epochs=1, clf_steps=20, gen_steps=5, naive_steps=5)
    res = mnist.run_mnist(0, cfg)  # no data configured: the flagged fallback
    m = res["metrics"]
    assert "bnstat" not in m and "bn=False" in m["bnstat_skipped"]
    assert m["classifier"]["architecture"] == "784-64-64-10, Linear-relu, no biases"
    assert set(res["samples"]) == {"gbc", "naive"}
    reports.write_artifacts(res, tmp_path / "out")
    assert (tmp_path / "out" / "metrics.json").exists()


def test_code_images_are_the_codes_at_z0_and_show_a_collapse():
    """code_images returns G(0, y, c) for every (class, code); codes that the trunk ignores give
    identical images a class, so their diversity is 0, while the trained-at-random codes differ."""
    cfg = mnist_config.MnistConfig(**{**TINY, "n_codes": 3, "gen_arch": "mlp"})
    torch.manual_seed(0)
    G = image_nets.make_generator(cfg, 4)
    x, y = image_nets.code_images(G)
    assert x.shape == (12, 1, 28, 28) and y.tolist() == [0] * 3 + [1] * 3 + [2] * 3 + [3] * 3
    with torch.no_grad():
        one = G(torch.zeros(1, cfg.z_dim), torch.tensor([2]), torch.tensor([1]))
    torch.testing.assert_close(x[7:8], one)
    assert images.diversity(x, y) > 0
    first = G.net[0]  # the one-hot code enters the first layer's last n_codes inputs: cut them
    with torch.no_grad():
        first.weight[:, -cfg.n_codes:] = 0
    x, y = image_nets.code_images(G)
    assert images.diversity(x, y) == pytest.approx(0, abs=1e-6)

