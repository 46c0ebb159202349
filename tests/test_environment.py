"""The build files agree with pyproject.toml: environment.yml lists every dependency; the
Makefile installs pinned torch first, then the runtime, then each target's extra."""

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


def pyproject_project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def pyproject_requirements() -> dict[str, str]:
    """{normalized name: requirement} of the runtime dependencies and of every extra."""
    project = pyproject_project()
    reqs = list(project["dependencies"])
    for extra in project["optional-dependencies"].values():
        reqs += extra
    return {requirement_name(r): r.replace(" ", "") for r in reqs}


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
    pyproject = pyproject_requirements()
    missing = set(pyproject) - set(env)
    assert not missing, f"environment.yml lacks {sorted(missing)} from pyproject.toml"
    # the same version bounds (torch is pinned in environment.yml, a range in pyproject.toml)
    differ = {n: (pyproject[n], env[n].replace(" ", "")) for n in pyproject
              if n != "torch" and pyproject[n] != env[n].replace(" ", "")}
    assert not differ, f"environment.yml and pyproject.toml disagree: {differ}"


def test_extras_for_each_make_target():
    """The demo installs the runtime only; JupyterLab and the test tools come with their targets."""
    project = pyproject_project()
    runtime = {requirement_name(r) for r in project["dependencies"]}
    extras = {k: {requirement_name(r) for r in v} for k, v in project["optional-dependencies"].items()}
    assert {"torch", "numpy", "scipy", "matplotlib", "pillow"} <= runtime
    assert not runtime & {"jupyterlab", "ipywidgets", "ipykernel", "pytest", "ruff", "scikit-image"}
    assert {"jupyterlab", "ipykernel", "ipywidgets"} <= extras["lab"]
    assert {"pytest", "nbval", "ipykernel", "ruff", "scikit-image"} <= extras["dev"]
    assert "jupyterlab" not in extras["dev"]  # nbval needs a kernel, not JupyterLab


def test_frontend_pins():
    """The widget frontend the browser tests check: JupyterLab 4 with ipywidgets 8."""
    reqs = pyproject_requirements()
    assert reqs["jupyterlab"].replace(" ", "") == "jupyterlab>=4,<5"
    assert reqs["ipywidgets"].replace(" ", "") == "ipywidgets>=8.0,<9"
    assert "playwright" in reqs


def test_environment_pins_torch_and_python():
    env = environment_pip_requirements()
    assert env["torch"] == "torch==2.13.0"
    text = (ROOT / "environment.yml").read_text()
    assert re.search(r"^\s*- python=3\.11\s*$", text, re.M)
    assert re.search(r"^\s*- -e \.\s*$", text, re.M)  # the package itself


def makefile_rules() -> dict[str, list[str]]:
    """{target: recipe lines} of the Makefile, with $(VAR) of the stamps left as written."""
    rules, current = {}, None
    for ln in (ROOT / "Makefile").read_text().splitlines():
        if ln.startswith("\t") and current is not None:
            rules[current].append(ln.strip())
        elif re.match(r"^[^\s#=]+:(?!=)", ln):
            current = ln.split(":")[0]
            rules[current] = [ln.split(":", 1)[1].strip()]  # first entry: the prerequisites
        else:
            current = None
    return rules


def test_makefile_installs_pinned_torch_first():
    rules = makefile_rules()
    runtime = rules["$(RUNTIME_STAMP)"]
    torch_line = next(i for i, ln in enumerate(runtime) if ln.startswith("$(PIP)") and "torch==" in ln)
    pkg_line = next(i for i, ln in enumerate(runtime) if ln == "$(PIP) -e .")
    assert torch_line < pkg_line
    assert "pyproject.toml" in runtime[0]  # redone when the dependencies change
    for target in ("venv", "demo", "test", "lab", "clean"):
        assert target in rules, target
    pip = next(ln for ln in (ROOT / "Makefile").read_text().splitlines() if ln.startswith("PIP :="))
    assert pip.split(":=")[1].split() == ["$(VENV)/bin/pip", "install", "--no-compile"]


def test_makefile_layers():
    """demo needs only the runtime; test and lab add their extra on top, each with its stamp."""
    rules = makefile_rules()
    assert rules["demo"][0] == "$(RUNTIME_STAMP)"
    # the browser tests of `make test` open the notebooks in JupyterLab: test needs the lab layer too
    assert rules["test"][0] == "$(DEV_STAMP) $(LAB_STAMP)" and rules["lab"][0] == "$(LAB_STAMP)"
    for stamp, extra in (("$(DEV_STAMP)", "dev"), ("$(LAB_STAMP)", "lab")):
        assert rules[stamp][0] == "$(RUNTIME_STAMP)"
        assert f"$(PIP) -e '.[{extra}]'" in rules[stamp]
        assert rules[stamp][-1] == "touch $@"
    stamps = {ln.split(":=")[0].strip(): ln.split(":=")[1].strip()
              for ln in (ROOT / "Makefile").read_text().splitlines() if "_STAMP :=" in ln}
    assert len(set(stamps.values())) == 3, stamps  # three different files


def test_makefile_lab_as_root_and_lab_args():
    lab = " ".join(makefile_rules()["lab"])
    assert "--allow-root" in lab and "id -u" in lab
    assert "$(LAB_ARGS)" in lab


def test_ci_script_is_executable():
    run = ROOT / ".ci" / "run"
    assert run.exists() and os.access(run, os.X_OK)
    text = run.read_text()
    assert text.startswith("#!/usr/bin/env bash") and "make test" in text
    assert "MPLBACKEND=Agg" in text and "GBC_DATA_DIR" in text
