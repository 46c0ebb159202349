"""Execute a notebook from its py:percent source and store the outputs in the paired .ipynb.

    python notebooks/run.py notebooks/02_max_margin_and_kkt.py          # full mode: the stored outputs
    python notebooks/run.py notebooks/02_max_margin_and_kkt.py --fast   # GBC_FAST=1, a quick check

The cells come from the .py; the .ipynb keeps its cell ids, so a re-run changes only outputs. A fast
run is written to outputs/notebooks/ (never over the stored full run) unless --out says where. The
run is recorded in the notebook's metadata (`gbc_teach_run`: mode, minutes; `gbc_teach` in the
.py header declares the expected minutes and whether a GPU is needed). Stored notebooks are read
where no widget frontend exists (GitHub, nbviewer), so the kernel runs with GBC_WIDGETS=0 and every
widget cell stores its static figure; in JupyterLab the same cells show the sliders.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import jupytext
import nbformat
from jupytext.combine import combine_inputs_with_outputs
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]


def run(source: Path, fast: bool = False, out: Path | None = None) -> Path:
    source = source.resolve().with_suffix(".py")
    paired = source.with_suffix(".ipynb")
    out = out or (ROOT / "outputs" / "notebooks" / paired.name if fast else paired)
    nb = jupytext.read(source)
    if paired.exists():  # keep the stored cell ids and the metadata the .py header leaves out
        nb = combine_inputs_with_outputs(nb, nbformat.read(paired, as_version=4), fmt="py:percent")
    os.environ["GBC_FAST"] = "1" if fast else "0"  # both inherited by the kernel
    os.environ["GBC_WIDGETS"] = "0"
    os.environ["MPLBACKEND"] = "module://matplotlib_inline.backend_inline"  # figures into the outputs
    os.environ.setdefault("GBC_CACHE_DIR", str(ROOT / "outputs" / "cache"))  # the kernel runs in notebooks/
    t0 = time.perf_counter()
    NotebookClient(nb, timeout=None, kernel_name="python3",
                   resources={"metadata": {"path": str(source.parent)}}).execute()
    minutes = (time.perf_counter() - t0) / 60
    nb.metadata["gbc_teach_run"] = {"mode": "fast" if fast else "full", "minutes": round(minutes, 1)}
    out.parent.mkdir(parents=True, exist_ok=True)
    jupytext.write(nb, out)  # as `jupytext --sync` writes it
    print(f"{source.name}: {'fast' if fast else 'full'} mode in {minutes:.1f} min, outputs stored in {out}")
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("notebook", type=Path, help="notebooks/NN_name.py (or its .ipynb)")
    ap.add_argument("--fast", action="store_true", help="GBC_FAST=1: smaller sizes, the same cells")
    ap.add_argument("--out", type=Path, help="where to store the executed notebook (default: the paired .ipynb; "
                    "with --fast, outputs/notebooks/)")
    args = ap.parse_args(argv)
    run(args.notebook, fast=args.fast, out=args.out)


if __name__ == "__main__":
    main()
