"""What every notebook build script shares: collect cells, write the notebook, optionally run it.

A build script does

    from _nb import Notebook
    nb = Notebook("05_mnist")
    nb.md(r'''# title ...''')
    nb.code('''import torch ...''')
    nb.main(fast_minutes=1, full_minutes=4)

and is run as `python notebooks/build/NN_name.py [--execute | --keep-outputs]`:
no flag writes the cells only; --execute also runs the notebook (full mode unless GBC_FAST=1)
and stores its outputs; --keep-outputs keeps the stored outputs for markdown-only edits.
"""

from __future__ import annotations

import hashlib
import os
import sys
import time
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

NOTEBOOKS = Path(__file__).resolve().parents[1]


class Notebook:
    def __init__(self, name: str):
        self.path = NOTEBOOKS / f"{name}.ipynb"
        self.cells = []

    def md(self, text: str) -> None:
        self.cells.append(new_markdown_cell(text.strip("\n")))

    def code(self, text: str) -> None:
        self.cells.append(new_code_cell(text.strip("\n")))

    def build(self, **meta) -> nbformat.NotebookNode:
        for i, c in enumerate(self.cells):  # stable ids: a rebuild changes only what changed
            c.id = f"{i:03d}-{hashlib.sha1(c.source.encode()).hexdigest()[:8]}"
        return new_notebook(cells=self.cells, metadata={
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
            "gbc_teach": meta})

    def main(self, argv=None, *, needs_gpu: bool = False, fast_minutes: float = 1,
             full_minutes: float = 3) -> None:
        argv = sys.argv[1:] if argv is None else argv
        nb = self.build(needs_gpu=needs_gpu, fast_minutes=fast_minutes, full_minutes=full_minutes)
        if "--keep-outputs" in argv:
            keep_outputs(nb, self.path)
        nbformat.write(nb, self.path)
        print(f"wrote {self.path}")
        if "--execute" in argv:
            execute(nb, self.path)


def keep_outputs(nb, old_path: Path) -> None:
    """Copy the stored outputs of every code cell whose source is unchanged (text edits need no
    re-run); refuse when a code cell changed, since its outputs would then be stale."""
    old = nbformat.read(old_path, as_version=4)
    old_code = [c for c in old.cells if c.cell_type == "code"]
    new_code = [c for c in nb.cells if c.cell_type == "code"]
    if [c.source for c in old_code] != [c.source for c in new_code]:
        raise SystemExit(f"{old_path.name}: code cells changed, execute the notebook again (--execute)")
    for a, b in zip(old_code, new_code):
        b.outputs, b.execution_count, b.metadata = a.outputs, a.execution_count, a.metadata
    nb.metadata = {**old.metadata, **nb.metadata}


def execute(nb, path: Path) -> None:
    """Run the notebook in a fresh kernel and store its outputs in place.

    The stored file is read where no widget frontend exists (GitHub, nbviewer), so widget cells
    are run with GBC_WIDGETS=0 and store their static figure; in JupyterLab the same cells show
    the sliders.
    """
    from nbclient import NotebookClient

    os.environ["GBC_WIDGETS"] = "0"  # inherited by the kernel
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=3600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    nbformat.write(nb, path)
    print(f"executed in {time.perf_counter() - t0:.0f} s and stored the outputs in {path}")
