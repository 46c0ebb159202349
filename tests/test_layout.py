"""The package's architecture, read off its import graph (README, "Layout").

Imports run one way — cli → experiments → {baselines, evaluation, datasets, viz} → lesson
modules → {utils, parallel} — with no cycle, no function-local import of the package's own
modules, and every module under ~350 lines.
"""

import ast
from pathlib import Path

import pytest

PKG = Path(__file__).resolve().parents[1] / "gbc_teach"
LESSONS = {"margins", "homogeneity", "kkt", "losses", "training", "gbc", "models"}
# plumbing under the lessons: seeds and files (utils); process groups and all-reduces (parallel)
BASE = {"utils", "parallel"}
LAYER = {**{m: 0 for m in BASE}, **{m: 1 for m in LESSONS}, "datasets": 2, "baselines": 2,
         "evaluation": 2, "viz": 2, "experiments": 3, "cli": 4, "__init__": 0}
# imported inside functions on purpose: optional or heavy, and only where they are needed
LAZY_OK = {"matplotlib", "ipywidgets", "IPython", "PIL", "sklearn", "io"}
MAX_LINES = 350


def top_level(tree: ast.Module) -> set[int]:
    """ids of the statements run at import: the module body, and inside its try/if blocks
    (a `try: import fcntl` for an optional dependency is a top-level import)."""
    out, todo = set(), list(tree.body)
    while todo:
        node = todo.pop()
        out.add(id(node))
        if isinstance(node, (ast.Try, ast.If)):
            todo += node.body + node.orelse + getattr(node, "finalbody", [])
            todo += [s for h in getattr(node, "handlers", []) for s in h.body]
    return out


def module_name(path: Path) -> str:
    rel = path.relative_to(PKG).with_suffix("")
    return ".".join(rel.parts)


def group(mod: str) -> str:
    return mod.split(".")[0]


def package_imports(path: Path) -> list[tuple[str, bool]]:
    """(imported gbc_teach module, at top level?) for each import of the package's own code."""
    mod = module_name(path)
    pkg = mod.split(".")[:-1]
    tree = ast.parse(path.read_text())
    top = top_level(tree)
    out = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against this module's package
                base = pkg[:len(pkg) - node.level + 1] if node.level > 1 else pkg
                target = ".".join([*base, node.module] if node.module else base)
            elif (node.module or "").startswith("gbc_teach"):
                target = node.module[len("gbc_teach."):] if node.module != "gbc_teach" else ""
            else:
                continue
            names = [target]
            if not target or target in ("datasets", "baselines", "evaluation", "viz",
                                        "experiments"):  # `from . import x`: x may be a module
                names = [".".join(filter(None, [target, a.name])) for a in node.names]
                names = [n if (PKG / n.replace(".", "/")).with_suffix(".py").exists() else
                         target or "__init__" for n in names]
            out += [(n or "__init__", id(node) in top) for n in names]
    return out


def all_modules() -> list[Path]:
    return sorted(p for p in PKG.rglob("*.py") if "__pycache__" not in p.parts)


def graph() -> dict[str, set[str]]:
    g = {}
    for p in all_modules():
        g[module_name(p)] = {t for t, _ in package_imports(p)}
    return g


def test_every_module_has_a_layer():
    for p in all_modules():
        assert group(module_name(p)) in LAYER, f"{p}: put it in a sub-package or add its layer"


@pytest.mark.parametrize("path", all_modules(), ids=lambda p: module_name(p))
def test_imports_run_one_way(path):
    mod = module_name(path)
    for target, _ in package_imports(path):
        if target == "__init__":  # the version string
            continue
        assert LAYER[group(target)] <= LAYER[group(mod)], f"{mod} imports {target}: upward"
        if group(mod) in LESSONS:
            assert group(target) in LESSONS | BASE, f"lesson module {mod} imports {target}"


def test_no_import_cycle():
    g = graph()
    state: dict[str, int] = {}

    def visit(m, stack):
        state[m] = 1
        for t in g.get(m, ()):
            if state.get(t) == 1:
                raise AssertionError("import cycle: " + " → ".join([*stack, m, t]))
            if state.get(t) is None and t in g:
                visit(t, [*stack, m])
        state[m] = 2

    for m in g:
        if state.get(m) is None:
            visit(m, [])


@pytest.mark.parametrize("path", all_modules(), ids=lambda p: module_name(p))
def test_no_function_local_imports(path):
    tree = ast.parse(path.read_text())
    top = top_level(tree)
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)) and id(node) not in top:
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "__future__":
                continue
            roots = ([a.name.split(".")[0] for a in node.names] if isinstance(node, ast.Import)
                     else [(node.module or "").split(".")[0]] if not node.level else ["gbc_teach"])
            assert all(r in LAZY_OK for r in roots), (
                f"{module_name(path)}:{node.lineno} imports {roots} inside a function or block")


@pytest.mark.parametrize("path", all_modules(), ids=lambda p: module_name(p))
def test_modules_stay_small(path):
    n = len(path.read_text().splitlines())
    assert n <= MAX_LINES, f"{module_name(path)} has {n} lines (split it by role)"


def test_the_checks_catch_bad_imports(tmp_path, monkeypatch):
    # a lesson module that imports an experiment, and one that imports inside a function
    fake = tmp_path / "gbc_teach" / "margins.py"
    fake.parent.mkdir()
    monkeypatch.setitem(globals(), "PKG", tmp_path / "gbc_teach")
    fake.write_text("from .experiments import toy2d\n")
    with pytest.raises(AssertionError, match="upward"):
        test_imports_run_one_way(fake)
    fake.write_text("def f():\n    from .kkt import kkt_fit\n")
    with pytest.raises(AssertionError, match="inside a function"):
        test_no_function_local_imports(fake)
