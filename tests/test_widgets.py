"""interactive_or_static: one static figure headless, an ipywidgets.interactive in a kernel; the
figure is shown once (by the backend), never also returned; GBC_FAST changes no interactivity."""

import sys
import types

import matplotlib
import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure

from gbc_teach.viz import widgets

matplotlib.use("Agg")


def make_fn(calls):
    def fn(n=3, scale=1.0, title="t"):
        calls.append((n, scale, title))
        fig, ax = plt.subplots()
        ax.plot(range(n), [scale * i for i in range(n)])
        ax.set_title(title)
        return fig
    return fn


def static_figure(out, calls, expected_call):
    """The static path called fn once and left its figure open for the backend, returning None."""
    assert out is None  # a returned Figure would be displayed a second time by Jupyter
    assert calls == [expected_call]
    (num,) = plt.get_fignums()
    return plt.figure(num)


def test_headless_static_figure(monkeypatch):
    monkeypatch.setenv("GBC_FAST", "1")  # fast mode changes sizes, not what is shown
    calls = []
    out = widgets.interactive_or_static(make_fn(calls), {"n": 5, "title": "static"},
                                        n=(1, 10), scale=(0.0, 2.0, 0.1))
    fig = static_figure(out, calls, (5, 1.0, "static"))  # called once, with the static arguments only
    assert fig.axes[0].get_title() == "static" and len(fig.axes[0].lines[0].get_xdata()) == 5


def test_headless_outside_a_kernel(monkeypatch):
    monkeypatch.delenv("GBC_WIDGETS", raising=False)
    assert not widgets.widgets_available()  # pytest is no IPython kernel
    calls = []
    out = widgets.interactive_or_static(make_fn(calls), {"scale": 2.0}, scale=(0.0, 2.0))
    static_figure(out, calls, (3, 2.0, "t"))


def test_other_return_values_pass_through():
    fig = Figure()  # not a pyplot figure: nothing would show it, so it is returned
    assert widgets.interactive_or_static(lambda n=1: fig, {"n": 2}, n=(1, 3)) is fig
    assert widgets.interactive_or_static(lambda n=1: n * 10, {"n": 2}, n=(1, 3)) == 20


def fake_kernel(monkeypatch):
    shell = types.SimpleNamespace(kernel=object())
    fake = types.ModuleType("IPython")
    fake.get_ipython = lambda: shell
    monkeypatch.setitem(sys.modules, "IPython", fake)


def test_kernel_detection(monkeypatch):
    monkeypatch.delenv("GBC_FAST", raising=False)
    monkeypatch.delenv("GBC_WIDGETS", raising=False)
    fake_kernel(monkeypatch)
    assert widgets.widgets_available() is True
    monkeypatch.setitem(sys.modules, "ipywidgets", None)  # ipywidgets missing
    assert widgets.widgets_available() is False
    monkeypatch.delitem(sys.modules, "ipywidgets")
    assert widgets.widgets_available() is True
    monkeypatch.setenv("GBC_FAST", "1")  # fast mode keeps the sliders
    assert widgets.widgets_available() is True


def test_gbc_widgets_0_forces_the_static_figure(monkeypatch):
    monkeypatch.delenv("GBC_FAST", raising=False)
    fake_kernel(monkeypatch)
    monkeypatch.setenv("GBC_WIDGETS", "1")
    assert widgets.widgets_available() is True
    monkeypatch.setenv("GBC_WIDGETS", "0")
    assert widgets.widgets_available() is False
    calls = []
    out = widgets.interactive_or_static(make_fn(calls), {"n": 4}, n=(1, 10))
    static_figure(out, calls, (4, 1.0, "t"))


def test_without_ipywidgets_static(monkeypatch):
    monkeypatch.delenv("GBC_FAST", raising=False)
    fake_kernel(monkeypatch)
    monkeypatch.setitem(sys.modules, "ipywidgets", None)
    calls = []
    out = widgets.interactive_or_static(make_fn(calls), {"n": 4}, n=(1, 10))
    static_figure(out, calls, (4, 1.0, "t"))


def test_interactive_path(monkeypatch):
    ipywidgets = pytest.importorskip("ipywidgets")
    monkeypatch.setattr(widgets, "widgets_available", lambda: True)
    calls = []
    w = widgets.interactive_or_static(make_fn(calls), {"n": 4, "title": "fixed"},
                                      n=(1, 10), scale=(0.0, 2.0, 0.5))
    assert isinstance(w, ipywidgets.interactive)
    controls = {c.description: c for c in w.children if hasattr(c, "value")}
    assert set(controls) == {"n", "scale"}  # title stays fixed at its static value
    assert controls["n"].value == 4  # sliders open at the static values
    assert controls["scale"].value == 1.0 and controls["scale"].max == 2.0  # fn's default
    assert calls[-1][2] == "fixed"
    assert w.result is None  # the pyplot figure is shown by ipywidgets, not returned twice
    controls["n"].value = 7
    assert calls[-1][0] == 7
