"""Sliders where a notebook frontend can show them, one static figure everywhere else (docs/style.md item 10).

Widgets only wrap pure, tested plot functions: `interactive_or_static(fn, static_kwargs,
**widget_specs)` returns `ipywidgets.interactive(fn, ...)` in an IPython kernel (where a frontend
shows the sliders) and otherwise calls fn(**static_kwargs) once, so a notebook runs the same
headless (scripts, CI). GBC_WIDGETS=0 forces the static figure (stored notebooks are executed that
way, so GitHub shows a figure where it cannot show a slider); GBC_FAST=1 changes sizes only, never
interactivity. Either way a pyplot figure is shown once, by the plotting backend, and is not
returned as well. ipywidgets is imported lazily.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import sys


def widgets_available() -> bool:
    """True inside an IPython kernel that can talk to a widget frontend, unless GBC_WIDGETS=0."""
    if os.environ.get("GBC_WIDGETS", "1") == "0":
        return False
    if "IPython" not in sys.modules:  # not running under IPython at all (script, pytest)
        return False
    shell = sys.modules["IPython"].get_ipython()
    # a terminal IPython has no kernel and no comms: widgets would print as text
    if shell is None or getattr(shell, "kernel", None) is None:
        return False
    try:
        return importlib.util.find_spec("ipywidgets") is not None
    except (ImportError, ValueError):  # ValueError: a module stubbed out as None
        return False


def _is_pyplot_figure(obj) -> bool:
    try:
        import matplotlib.pyplot as plt
        from matplotlib.figure import Figure
    except ImportError:
        return False
    # a Figure made without pyplot has no manager (and no .number): nothing would show it
    manager = obj.canvas.manager if isinstance(obj, Figure) else None
    return manager is not None and manager.num in plt.get_fignums()


def _shown(fn):
    """fn, except that a pyplot figure it returns is left to the backend to show (inline in a
    notebook, plt.show() in a script): returned as well, Jupyter would display it a second time."""
    @functools.wraps(fn)
    def call(**kwargs):
        out = fn(**kwargs)
        return None if _is_pyplot_figure(out) else out
    return call


def interactive_or_static(fn, static_kwargs: dict, **widget_specs):
    """ipywidgets.interactive(fn, **widget_specs) in an IPython kernel, else fn(**static_kwargs).

    widget_specs are ipywidgets abbreviations ((0, 1, 0.1) for a slider, a list for a
    dropdown, a widget); each starts at its static value. Arguments of static_kwargs without a
    widget stay fixed at their static value. Headless, fn is called once and its pyplot figure is
    left open for the backend to show (the call returns None; other return values pass through).
    """
    call = _shown(fn)
    if not widgets_available():
        return call(**static_kwargs)
    import ipywidgets

    controls = {}
    for k, spec in widget_specs.items():
        if k in static_kwargs and not isinstance(spec, ipywidgets.Widget):
            # start each control at the static value, so both versions open on the same figure
            spec = ipywidgets.interactive.widget_from_abbrev(spec, static_kwargs[k])
        controls[k] = spec
    fixed = {k: ipywidgets.fixed(v) for k, v in static_kwargs.items() if k not in widget_specs}
    return ipywidgets.interactive(call, **fixed, **controls)
