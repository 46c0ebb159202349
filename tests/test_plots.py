"""Plot helpers under the Agg backend: each returns a Figure with the expected axes and artists."""

import matplotlib
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from matplotlib.figure import Figure

from gbc_teach.datasets.toy2d import make_toy2d
from gbc_teach.models import MLP
from gbc_teach.viz import plots

matplotlib.use("Agg")  # headless; pyplot has not drawn anything yet, so switching is safe


@pytest.fixture(scope="module")
def toy():
    return make_toy2d(0, n_per_class=4)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return MLP(2, [8], 3, bias=False, const_feature=True)


def test_class_colors_are_tab10():
    assert plots.class_color(1) == plt.get_cmap("tab10")(1)
    assert plots.class_color(11) == plots.class_color(1)


def test_plot_toy(toy):
    fig = plots.plot_toy(toy.X, toy.y)
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    assert len(fig.axes[0].collections) == 3  # one scatter per class
    support = torch.zeros(12, dtype=torch.bool)
    support[[0, 5]] = True
    mu = torch.linspace(0, 1, 12)
    fig = plots.plot_toy(toy.X, toy.y, support=support, mu=mu)
    ax = fig.axes[0]
    assert len(ax.collections) == 4  # classes + the support-vector rings
    assert len(ax.collections[-1].get_offsets()) == 2
    sizes = np.concatenate([c.get_sizes() for c in ax.collections[:3]])
    assert sizes.max() > 5 * sizes.min()  # area grows with μ


def test_plot_toy_on_given_axes(toy):
    fig, ax = plt.subplots(1, 2)
    n_figs = len(plt.get_fignums())
    assert plots.plot_toy(toy.X, toy.y, ax=ax[1]) is fig
    assert len(plt.get_fignums()) == n_figs and len(ax[1].collections) == 3


def test_plot_landscape_leaves_classifier_alone(model):
    before = [p.detach().clone() for p in model.parameters()]
    fig = plots.plot_landscape(model, 2.0, resolution=30)
    ax = fig.axes[0]
    assert len(fig.axes) == 1 and len(ax.collections) >= 2  # regions + level lines
    assert ax.get_xlim() == (-2.0, 2.0)
    assert all(p.grad is None for p in model.parameters())
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters()))
    fig = plots.plot_landscape(model, 2.0, resolution=30, q_min=1e-3)
    assert len(fig.axes[0].collections) >= 2


def test_plot_landscape_batchnorm_stats_untouched():
    model = MLP(2, [4], 2, bn=True).train()
    plots.plot_landscape(model, 1.0, resolution=10)
    assert torch.equal(model.net[1].running_mean, torch.zeros(4))


def test_plot_landscape_binary():
    model = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    fig = plots.plot_landscape(model, 1.0, resolution=20)
    assert len(fig.axes) == 1


def test_plot_samples(toy):
    S, ls = torch.randn(50, 2), torch.arange(50) % 3
    fig = plots.plot_samples(S, ls, toy.X, toy.y)
    ax = fig.axes[0]
    assert len(ax.collections) == 6 and len(ax.patches) == 0  # samples + points, per class
    assert ax.collections[0].get_alpha() < 1
    # samples above the training points: a sample sitting on a point stays visible
    assert min(c.get_zorder() for c in ax.collections[:3]) > max(c.get_zorder() for c in ax.collections[3:])
    fig = plots.plot_samples(S, ls, toy.X, toy.y, r=0.1)
    assert len(fig.axes[0].patches) == len(toy.X)  # one circle per training point
    assert fig.axes[0].patches[0].get_radius() == 0.1
    support = torch.zeros(len(toy.X), dtype=torch.bool)
    support[[1, 5]] = True
    fig = plots.plot_samples(S, ls, toy.X, toy.y, support=support, style=plots.PILED_SAMPLE_STYLE)
    ax = fig.axes[0]
    assert len(ax.collections) == 7 and len(ax.collections[-1].get_offsets()) == 2  # SV rings
    assert ax.collections[0].get_edgecolor()[0][:3].tolist() == [0, 0, 0]  # black-edged crosses


def test_plot_toy_panel(model, toy):
    support = torch.zeros(12, dtype=torch.bool)
    support[[0, 4, 8]] = True
    gbc = (toy.X[support] + 0.01, toy.y[support])  # right next to every support vector
    naive = (torch.full((6, 2), 5.0), torch.arange(6) % 3)  # far from everything
    fig = plots.plot_toy_panel(model, toy.X, toy.y, support, gbc, naive)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    titles = [ax.get_title() for ax in fig.axes]
    assert "3 support vectors" in titles[0]
    assert "recall 1.00" in titles[1] and "precision 1.00" in titles[1]
    assert "recall 0.00" in titles[2] and "precision 0.00" in titles[2]
    assert all(len(ax.patches) == 12 for ax in fig.axes[1:])
    assert fig.axes[0].get_xlim()[1] >= 5.0  # the box holds every sample
    # the legend names every mark; r and the classes are the figure's own
    labels = [t.get_text() for t in fig.legends[0].get_texts()]
    r = plots._metrics.radius(toy.X)
    for want in ("training point, class 0", "training point, class 2", "support vector",
                 "GBC sample", "naive sample", f"radius r = {r:.2f}", "decision boundary",
                 "q = q_min"):
        assert any(want in t for t in labels), (want, labels)
    # the naive samples pile up on one spot a class (here at (5, 5)): each pile is labelled
    piles = sorted(t.get_text() for t in fig.axes[2].texts)
    assert piles == [f"all 2 of class {c}" for c in range(3)]
    assert not fig.axes[1].texts  # the GBC samples of a class are spread over its SVs
    fig = plots.plot_toy_panel(model, toy.X, toy.y, support, gbc, naive,
                               metrics={"gbc": {"recall": 0.5}, "naive": {"precision": 0.25}})
    assert "recall 0.50" in fig.axes[1].get_title()
    assert "precision 0.25" in fig.axes[2].get_title()


def test_plot_history():
    hist = {"step": [0, 10, 20], "loss": [1.0, 0.1, 0.01], "q": [-1.0, 0.0, 2.0]}
    fig = plots.plot_history(hist, ["loss"])
    ax = fig.axes[0]
    assert len(ax.lines) == 1 and ax.get_yscale() == "log"
    assert list(ax.lines[0].get_xdata()) == [0, 10, 20]
    fig = plots.plot_history(hist, ["loss", "q"])
    assert len(fig.axes[0].lines) == 2 and fig.axes[0].get_yscale() == "symlog"
    assert plots.plot_history(hist, "q", logy=False).axes[0].get_yscale() == "linear"
    with pytest.raises(KeyError, match="L_stat"):
        plots.plot_history(hist, ["L_stat"])


def test_image_grid():
    imgs = torch.rand(10, 1, 6, 5)
    fig = plots.image_grid(imgs)
    ax = fig.axes[0]
    assert len(fig.axes) == 1 and len(ax.images) == 1
    # √10 → 4 per row, 3 rows, 1 pixel of padding around each image
    assert ax.images[0].get_array().shape == (3 * 7 + 1, 4 * 6 + 1)
    labels = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2, 2])
    fig = plots.image_grid(imgs[:, 0], labels=labels)  # (N, H, W) works too
    arr = fig.axes[0].images[0].get_array()
    assert arr.shape == (3 * 7 + 1, 5 * 6 + 1)  # one row per class, 5 = the largest class
    np.testing.assert_allclose(arr[1:7, 1:6], imgs[0, 0].numpy())  # class 0's first image
    np.testing.assert_allclose(arr[8:14, 1:6], imgs[3, 0].numpy())  # class 1's first image
    assert [t.get_text() for t in fig.axes[0].get_yticklabels()] == ["0", "1", "2"]
    assert plots.image_grid(imgs, labels=labels, nrow=2).axes[0].images[0].get_array().shape \
        == (3 * 7 + 1, 2 * 6 + 1)
    with pytest.raises(ValueError, match="channel"):
        plots.image_grid(torch.rand(2, 3, 4, 4))
