"""The `--device cuda` paths give the CPU's answers. Skipped without a GPU (CI has none): run on a
GPU machine with `pytest tests/test_cuda.py`. Each test computes the same thing on both devices.

TF32 is switched off for the comparisons: it rounds float32 matmuls and convs to a 10-bit
mantissa, which would hide a real mismatch behind 1e-3 noise.
"""

import pytest
import torch

from gbc_teach.experiments import image_nets, mnist, mnist_config, mnist_multi, reports
from gbc_teach.gbc import train_generator
from gbc_teach.homogeneity import solve_lambda
from gbc_teach.kkt import kkt_fit

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.fixture(autouse=True)
def no_tf32():
    old = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    yield
    torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = old


def _classifier(seed=0, bn=True):
    torch.manual_seed(seed)
    return image_nets.make_classifier(mnist_config.MnistConfig(width=32, bn=bn, bias=bn))


@pytest.mark.parametrize("choice", ["min_norm", "last_layer", "uniform"])
def test_solve_lambda_same_on_gpu(choice):
    clf = _classifier(bn=choice != "uniform")
    x = torch.rand(16, 1, 28, 28)
    cpu = solve_lambda(clf, x, choice)
    gpu = solve_lambda(clf.cuda(), x.cuda(), choice)  # x on the GPU too
    assert gpu.lam.device.type == "cpu"  # Λ is metadata: always on the CPU
    torch.testing.assert_close(gpu.lam, cpu.lam, atol=1e-6, rtol=1e-6)
    assert torch.equal(gpu.Pi, cpu.Pi)


@pytest.mark.parametrize("pairs", [False, True])
def test_kkt_fit_same_on_gpu(pairs):
    clf = image_nets.frozen_copy(_classifier(1), "train")
    X, y = torch.rand(40, 1, 28, 28), torch.arange(40) % 10
    lam = solve_lambda(clf, X[:16], "last_layer")
    cpu = kkt_fit(clf, X, y, lam.Pi, pairs=pairs, chunk=8)
    gpu = kkt_fit(clf.cuda(), X.cuda(), y.cuda(), lam.Pi.cuda(), pairs=pairs, chunk=8)
    assert gpu.residual == pytest.approx(cpu.residual, rel=1e-3, abs=1e-6)
    assert gpu.mu.device.type == "cpu" and gpu.q.device.type == "cpu"
    torch.testing.assert_close(gpu.q, cpu.q, atol=1e-4, rtol=1e-4)


def test_gbc_generator_steps_same_on_gpu():
    """Ten GBC steps (double backward through a training-mode BN classifier, Adam, α, q_min)
    from the same start give the same losses on both devices."""
    cfg = mnist_config.MnistConfig.fast(gen_steps=10, batch=40, n_codes=2)
    clf = _classifier(2)
    lam = solve_lambda(clf, torch.rand(16, 1, 28, 28), cfg.lam_choice)
    hists = {}
    for dev in ("cpu", "cuda"):
        torch.manual_seed(5)
        G = image_nets.make_generator(cfg).to(dev)
        obj = image_nets.gbc_objective(clf.to(dev), lam, cfg, 10).to(dev)
        hists[dev] = train_generator(G, obj, steps=10, batch=cfg.batch, lr=cfg.gen_lr, seed=0,
                                     progress=False, log_every=1)
    for k in ("loss", "L_stat", "L_dual"):
        torch.testing.assert_close(torch.tensor(hists["cuda"][k]), torch.tensor(hists["cpu"][k]),
                                   rtol=2e-3, atol=1e-6, msg=k)


@pytest.mark.parametrize("multi", [False, True])
def test_run_mnist_fast_on_gpu(multi, tmp_path, monkeypatch):
    """The whole pipeline (classifier, KKT, generators, metrics, artifacts) runs on cuda."""
    monkeypatch.setenv("GBC_CACHE_DIR", str(tmp_path / "cache"))
    cfg = mnist_config.MnistConfig.fast(device="cuda", gen_steps=20, naive_steps=10, bnstat_steps=10)
    res = (mnist_multi.run_mnist_multi if multi else mnist.run_mnist)(0, cfg)
    m = res["metrics"]
    reports.write_artifacts(res, tmp_path / "out")
    assert (tmp_path / "out" / "metrics.json").is_file()
    clfs = m["classifiers"] if multi else [m["classifier"]]
    assert all(0 < c["kkt_residual"] <= 1.0 + 1e-6 for c in clfs)
    assert 0 <= m["gbc"]["evaluator_accuracy"] <= 1 and m["gbc"]["frechet"] == m["gbc"]["frechet"]
    x, _ = res["samples"]["gbc"]
    assert x.device.type == "cpu" and torch.isfinite(x).all()


def test_generator_parameters_stay_on_gpu():
    cfg = mnist_config.MnistConfig.fast()
    G = image_nets.make_generator(cfg).cuda()
    x, y, _ = G.training_batch(20, torch.Generator().manual_seed(0))
    assert x.is_cuda and y.is_cuda
    assert all(p.is_cuda for p in G.parameters())
