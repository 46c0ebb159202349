"""Every stored notebook agrees with its source, notebooks/NN_name.py (py:percent, paired by
jupytext), and stores what a full run of that source showed, each figure once."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import jupytext
import nbformat
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
HELPERS = {"run"}  # notebooks/run.py executes notebooks; it is not one
STORED = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
SOURCES = sorted(p.stem for p in NOTEBOOKS.glob("*.py") if p.stem not in HELPERS)
SYNC = "edit notebooks/{0}.py, then `jupytext --sync notebooks/{0}.py` (a code edit needs a re-run: " \
       "`python notebooks/run.py notebooks/{0}.py`)"


@functools.cache
def stored(name: str) -> nbformat.NotebookNode:
    return nbformat.read(NOTEBOOKS / f"{name}.ipynb", as_version=4)


@functools.cache
def source(name: str) -> nbformat.NotebookNode:
    return jupytext.read(NOTEBOOKS / f"{name}.py")


def test_notebooks_found():
    assert len(STORED) >= 7, STORED


def test_every_notebook_has_its_source_and_back():
    assert set(STORED) - set(SOURCES) == set(), "a notebook without its .py source (jupytext --sync it)"
    assert set(SOURCES) - set(STORED) == set(), "a .py source without its notebook (jupytext --sync it)"


@pytest.mark.parametrize("name", STORED)
def test_cells_match_the_source(name):
    if name not in SOURCES:
        pytest.fail(f"notebooks/{name}.ipynb has no source notebooks/{name}.py")
    have = [(c.cell_type, c.source) for c in stored(name).cells]
    want = [(c.cell_type, c.source) for c in source(name).cells]
    for i, (a, b) in enumerate(zip(have, want)):
        assert a == b, f"{name}: cell {i} differs from the source: {SYNC.format(name)}"
    assert len(have) == len(want), f"{name}: {len(have)} cells stored, {len(want)} in the source"
    assert stored(name).metadata.get("gbc_teach") == source(name).metadata.get("gbc_teach")


@pytest.mark.parametrize("name", STORED)
def test_first_cell_names_the_source(name):
    first = stored(name).cells[0]
    assert first.cell_type == "markdown" and f"[`{name}.py`]({name}.py)" in first.source, first.source


@pytest.mark.parametrize("name", STORED)
def test_one_parameters_cell(name):
    """papermill's convention: the cell tagged `parameters` holds FAST and SEED."""
    for nb in (stored(name), source(name)):
        tagged = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
        assert len(tagged) == 1 and tagged[0].cell_type == "code", name
        assert "FAST =" in tagged[0].source and "SEED =" in tagged[0].source, tagged[0].source


@pytest.mark.parametrize("name", STORED)
def test_outputs_come_from_one_full_run(name):
    """Code cells ran once each, in order (a cell changed and synced without a re-run has no
    execution count); the run helper records full mode."""
    counts = [c.execution_count for c in stored(name).cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1)), f"{name}: stale outputs, {SYNC.format(name)}"
    meta = stored(name).metadata
    assert isinstance(meta["gbc_teach"]["needs_gpu"], bool)
    assert meta["gbc_teach"]["fast_minutes"] > 0 and meta["gbc_teach"]["full_minutes"] > 0
    assert meta.get("gbc_teach_run", {}).get("mode", "full") == "full", meta["gbc_teach_run"]


@pytest.mark.parametrize("name", STORED)
def test_each_figure_is_stored_once(name):
    """A figure both returned (execute_result) and shown by the backend (display_data) is stored
    twice; so is the same image shown twice."""
    bad = []
    for i, cell in enumerate(stored(name).cells):
        if cell.cell_type != "code":
            continue
        pngs = [(o.output_type, o.data["image/png"]) for o in cell.outputs
                if "image/png" in o.get("data", {})]
        kinds = {kind for kind, _ in pngs}
        if {"execute_result", "display_data"} <= kinds or len({png for _, png in pngs}) < len(pngs):
            bad.append(f"cell {i}: {[kind for kind, _ in pngs]}")
    assert not bad, f"{name}: a figure stored twice: {bad}"


MACHINE_PATH = re.compile(r"(?<![\w.])/(?:work|home|root|tmp|usr|opt|private|Users)/")


def output_texts(nb) -> list[str]:
    out = []
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            out.append(o.get("text", "") if isinstance(o.get("text", ""), str) else "".join(o["text"]))
            for mime in ("text/plain", "text/markdown", "text/html"):
                v = o.get("data", {}).get(mime, "")
                out.append(v if isinstance(v, str) else "".join(v))
            out += o.get("traceback", [])
    return out


@pytest.mark.parametrize("name", STORED)
def test_no_machine_path_in_stored_outputs(name):
    """Stored outputs are read on other machines: no absolute path of the machine that ran them
    (a warning's file name, a data folder) and no warning with its source line."""
    texts = output_texts(stored(name))
    hits = [t[:120] for t in texts if MACHINE_PATH.search(t) or "Warning:" in t]
    assert not hits, f"{name}: {hits}"


def test_machine_path_check_catches_one():
    assert MACHINE_PATH.search("/home/someone/gbc_teach/images.py:128: LinAlgWarning: singular")
    assert not MACHINE_PATH.search("see docs/method.md and notebooks/05_mnist.py")
