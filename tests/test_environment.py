"""The build files agree with pyproject.toml: environment.yml lists every dependency."""

import os
import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python ≥ 3.11

ROOT = Path(__file__).resolve().parents[1]
NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)")


def normalize(name: str) -> str:
    """PEP 503 name normalization: case-insensitive, runs of '-', '_', '.' are one '-'."""
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(req: str) -> str:
    return normalize(NAME.match(req).group(1))


def pyproject_requirement_lines() -> dict[str, str]:
    """{normalized name: requirement} of [project].dependencies and the dev extra."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    reqs = list(project["dependencies"]) + list(project["optional-dependencies"]["dev"])
    return {requirement_name(r): r for r in reqs}


def pyproject_requirements() -> set[str]:
    return set(pyproject_requirement_lines())


def environment_pip_requirements() -> dict[str, str]:
    """{normalized name: line} of the pip section of environment.yml (options and comments out)."""
    lines = (ROOT / "environment.yml").read_text().splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.strip() == "- pip:")
    indent = len(lines[start]) - len(lines[start].lstrip())
    out = {}
    for ln in lines[start + 1:]:
        if not ln.strip() or ln.lstrip().startswith("#"):
            continue
        if len(ln) - len(ln.lstrip()) <= indent:  # left the pip block
            break
        item = ln.strip().removeprefix("- ").strip()
        if item.startswith("-"):  # -e ., --extra-index-url ...
            continue
        out[requirement_name(item)] = item
    return out


def test_normalize():
    assert normalize("Scikit_Learn") == normalize("scikit-learn") == "scikit-learn"
    assert requirement_name("torch>=2.1") == "torch"
    assert requirement_name("nbval[extra]>=0.10") == "nbval"


def test_environment_lists_every_dependency():
    env = environment_pip_requirements()
    missing = pyproject_requirements() - set(env)
    assert not missing, f"environment.yml lacks {sorted(missing)} from pyproject.toml"


def test_environment_has_the_same_version_ranges():
    """Same range in both files (torch aside: pinned in environment.yml, a range in pyproject)."""
    env = environment_pip_requirements()
    for name, req in pyproject_requirement_lines().items():
        if name != "torch" and name in env:
            assert env[name].replace(" ", "") == req.replace(" ", ""), (name, env[name], req)


def test_frontend_pins():
    """The widget frontend the browser tests check: JupyterLab 4 with ipywidgets 8."""
    reqs = pyproject_requirement_lines()
    assert reqs["jupyterlab"].replace(" ", "") == "jupyterlab>=4,<5"
    assert reqs["ipywidgets"].replace(" ", "") == "ipywidgets>=8.0,<9"
    assert "playwright" in reqs


def test_environment_pins_torch_and_python():
    env = environment_pip_requirements()
    assert env["torch"] == "torch==2.13.0"
    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"^\s*- python=3\.11\s*$", text, re.M)
    assert re.search(r"^\s*- -e \.\s*$", text, re.M)  # the package itself


def test_makefile_installs_pinned_torch_first():
    lines = (ROOT / "Makefile").read_text().splitlines()
    torch_line = next(i for i, ln in enumerate(lines) if "pip install" in ln and "torch==" in ln)
    dev_line = next(i for i, ln in enumerate(lines) if "pip install -e '.[dev]'" in ln)
    assert torch_line < dev_line
    for target in ("venv:", "demo:", "test:", "lab:", "clean:"):
        assert any(ln.startswith(target) for ln in lines), target


def test_ci_script_is_executable():
    run = ROOT / ".ci" / "run"
    assert run.exists() and os.access(run, os.X_OK)
    text = run.read_text()
    assert text.startswith("#!/usr/bin/env bash") and "make test" in text
    assert "MPLBACKEND=Agg" in text and "GBC_DATA_DIR" in text
