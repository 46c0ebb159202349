"""The repository stands on its own: no text file points outside it, and every citation of
docs/method.md (§n), docs/style.md (item n) and of a notebook names something that exists."""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUFFIXES = {".py", ".md", ".ipynb", ".toml", ".yml", ".yaml"}
SKIP_DIRS = {".git", ".venv", "outputs", "build", "__pycache__", ".pytest_cache", ".ruff_cache"}

# references to team documents that students never see, and paths outside the repository
# (spelled in pieces so that this file does not match itself)
FORBIDDEN = re.compile("|".join([
    r"\bMETHOD" + r"\.md", r"\bSTYLE" + r"\.md", r"\bMETHOD" + r" §",
    r"\.\./" + "shared", r"/work" + "/",
]))
# (path, a substring of the line): the only lines allowed to match. The first two are the CI data
# location; the others sit in code cells or files that are being changed elsewhere: drop an entry
# once its line is gone.
ALLOWED = {
    (".ci/run", "shared/data"),
    ("README.md", "CI runs `bash .ci/run`"),
}

METHOD_CITE = re.compile(r"docs/method\.md((?:[\s,;]*§\s*\d+(?:\s*[–-]\s*\d+)?)+)")
STYLE_CITE = re.compile(r"docs/style\.md,? items? (\d+(?:\s*(?:,|and)\s*\d+)*)")
NOTEBOOK_NAME = re.compile(r"\b0\d[a-z]?_[a-z0-9_]+")


def text_files() -> list[Path]:
    """Tracked text files of the kinds above, plus Makefile and .ci/ (the working tree when this is
    not a git checkout)."""
    try:
        out = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True,
                             timeout=30).stdout.decode()
        paths = [ROOT / p for p in out.split("\0") if p]
    except (OSError, subprocess.SubprocessError):
        paths = []
        for d, dirs, files in os.walk(ROOT):
            dirs[:] = [x for x in dirs if x not in SKIP_DIRS and not x.endswith(".egg-info")]
            paths += [Path(d) / f for f in files]
    keep = []
    for p in paths:
        rel = p.relative_to(ROOT)
        if p.is_file() and (p.suffix in SUFFIXES or p.name == "Makefile" or rel.parts[0] == ".ci"):
            keep.append(p)
    return sorted(keep)


def lines_of(path: Path) -> list[str]:
    """The lines a reader of the source sees; for a notebook, its cells' sources (not outputs,
    which record what a run printed)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix == ".ipynb":
        cells = json.loads(text)["cells"]
        text = "\n".join("".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                         for c in cells)
    return text.splitlines()


FILES = text_files()
SELF = Path(__file__).resolve()


def numbers(spec: str) -> set[int]:
    """'§5–8, §10' -> {5, 6, 7, 8, 10}."""
    found = set()
    for a, b in re.findall(r"(\d+)(?:\s*[–-]\s*(\d+))?", spec):
        found.update(range(int(a), int(b or a) + 1))
    return found


def method_sections() -> set[int]:
    heads = re.findall(r"^## (\d+)\. ", (ROOT / "docs/method.md").read_text(), flags=re.M)
    return {int(h) for h in heads}


def test_files_found():
    rel = {p.relative_to(ROOT).as_posix() for p in FILES}
    assert {"README.md", "docs/method.md", "docs/style.md", "Makefile"} <= rel


def test_nothing_points_outside_the_repository():
    bad = []
    for p in FILES:
        if p == SELF:
            continue
        rel = p.relative_to(ROOT).as_posix()
        for n, line in enumerate(lines_of(p), 1):
            if FORBIDDEN.search(line) and not any(rel == a and s in line for a, s in ALLOWED):
                bad.append(f"{rel}:{n}: {line.strip()[:120]}")
    assert not bad, "references outside the repository (use docs/method.md, docs/style.md):\n" + \
        "\n".join(bad)


def test_method_sections_are_numbered_from_one():
    secs = sorted(method_sections())
    assert secs == list(range(1, len(secs) + 1)) and len(secs) >= 10, secs


def test_every_cited_method_section_exists():
    have, bad, n_cites = method_sections(), [], 0
    for p in FILES:
        if p == SELF:
            continue
        for n, line in enumerate(lines_of(p), 1):
            for m in METHOD_CITE.finditer(line):
                n_cites += 1
                missing = numbers(m.group(1)) - have
                if missing:
                    bad.append(f"{p.relative_to(ROOT)}:{n}: §{sorted(missing)} in {m.group(0)!r}")
    assert n_cites > 20, n_cites  # the pattern still finds the citations
    assert not bad, "\n".join(bad)


def test_every_cited_style_item_exists():
    items = {int(i) for i in re.findall(r"^(\d+)\. ", (ROOT / "docs/style.md").read_text(), flags=re.M)}
    bad = []
    for p in FILES:
        for n, line in enumerate(lines_of(p), 1):
            for m in STYLE_CITE.finditer(line):
                missing = {int(i) for i in re.findall(r"\d+", m.group(1))} - items
                if missing:
                    bad.append(f"{p.relative_to(ROOT)}:{n}: item {sorted(missing)}")
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("doc", ["docs/method.md", "docs/style.md"])
def test_relative_links_in_docs_resolve(doc):
    path = ROOT / doc
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text()):
        if "://" not in target:
            assert (path.parent / target).exists(), f"{doc}: broken link {target}"


def test_package_docstrings_name_notebooks_that_exist():
    notebooks = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    bad = []
    for p in sorted((ROOT / "gbc_teach").glob("*.py")):
        for name in NOTEBOOK_NAME.findall(p.read_text()):
            if name not in notebooks:
                bad.append(f"{p.name}: {name}")
    assert not bad, bad
