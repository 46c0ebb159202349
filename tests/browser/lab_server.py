"""The pieces of the browser tests' JupyterLab server: which notebooks have widgets, their copies,
the server's environment and its start and stop (fixtures in conftest.py)."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOKS = ROOT / "notebooks"
SHOTS = ROOT / "outputs" / "browser"
CHROMIUM = Path(os.environ.get("GBC_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
WIDGET_MARK = "interactive_or_static("  # the one way the notebooks build a widget

# JupyterLab user settings: the notebook's kernel starts without asking, every cell is attached to the
# page (no windowing), no news or update checks
LAB_SETTINGS = {
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {
        "windowingMode": "none", "autoStartDefaultKernel": True},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False},
    "@jupyterlab/extensionmanager-extension/plugin.jupyterlab-settings": {"enabled": False},
}


def missing_requirements() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"no Chromium at {CHROMIUM} (Debian: apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is not installed (pip install -e '.[dev]')"
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        return "jupyterlab is not installed (pip install -e '.[dev]')"
    return None


def widget_cells(nb: dict) -> list[int]:
    """Indices of the code cells that build a widget."""
    return [i for i, c in enumerate(nb["cells"])
            if c["cell_type"] == "code" and WIDGET_MARK in "".join(c["source"])]


def widget_notebooks() -> list[str]:
    return sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")
                  if widget_cells(json.loads(p.read_text(encoding="utf-8"))))


def copy_until_last_widget(src: Path, dst: Path) -> list[int]:
    """Copy src without outputs and without the cells after its last widget cell; returns the
    indices of its widget cells."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    nb = json.loads(src.read_text(encoding="utf-8"))
    cells = widget_cells(nb)
    nb["cells"] = nb["cells"][: cells[-1] + 1]
    for c in nb["cells"]:
        if c["cell_type"] == "code":
            c["outputs"], c["execution_count"] = [], None
    dst.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    return cells


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_env(tmp: Path, fast: bool) -> dict:
    """The server's (and so its kernels') environment: this checkout's package first, inline
    matplotlib figures (no MPLBACKEND=Agg), widgets on, private Jupyter and IPython folders."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MPLBACKEND", "GBC_WIDGETS", "GBC_FAST", "JUPYTER_PATH", "JUPYTER_DATA_DIR")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])])
    env.update(JUPYTER_CONFIG_DIR=str(tmp / "config"), JUPYTER_RUNTIME_DIR=str(tmp / "runtime"),
               JUPYTERLAB_SETTINGS_DIR=str(tmp / "settings"),
               JUPYTERLAB_WORKSPACES_DIR=str(tmp / "workspaces"), IPYTHONDIR=str(tmp / "ipython"),
               OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "1"), PYTHONUNBUFFERED="1")
    if fast:
        env["GBC_FAST"] = "1"
    return env


def fast_mode_keeps_widgets(env: dict) -> bool:
    """Does a real kernel with GBC_FAST=1 still build widgets? Then the notebooks can run at fast
    sizes; otherwise they must run at full size (much slower) for their sliders to exist."""
    from jupyter_client.manager import start_new_kernel

    km, kc = start_new_kernel(kernel_name="python3", env={**env, "GBC_FAST": "1"}, startup_timeout=120)
    try:
        found, errors = [], []

        def hook(msg):
            if msg["msg_type"] == "error":  # a failed probe must not pass for "no widgets"
                errors.append(f"{msg['content']['ename']}: {msg['content']['evalue']}")
            found.append(msg["content"].get("text", ""))

        kc.execute_interactive("from gbc_teach.viz import widgets; print(widgets.widgets_available())",
                               timeout=120, output_hook=hook)
        if errors:
            raise RuntimeError(f"the widget probe failed in a kernel: {errors[0]}")
        return "True" in "".join(found)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def wait_for_server(url: str, proc: subprocess.Popen, log: Path, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.5)
    raise RuntimeError(f"jupyter lab did not answer within {timeout:.0f} s:\n{log.read_text()[-3000:]}")


def stop_server(proc: subprocess.Popen, api: str, token: str) -> None:
    """Ask the server to shut down (it stops its kernels), then end its process group."""
    if proc.poll() is None:
        try:
            req = urllib.request.Request(f"{api}/api/shutdown", method="POST",
                                         headers={"Authorization": f"token {token}"})
            urllib.request.urlopen(req, timeout=10).close()
            proc.wait(timeout=20)
        except (urllib.error.URLError, OSError, subprocess.TimeoutExpired):
            pass
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)  # the server's own group: it was started in a new session
        except ProcessLookupError:
            break
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            continue


def sessions(api: str, token: str, path: str) -> list[dict]:
    """The server's kernel sessions of the notebook at path."""
    req = urllib.request.Request(f"{api}/api/sessions", headers={"Authorization": f"token {token}"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return [s for s in json.load(r) if s.get("path") == path]


def kernel(api: str, token: str, path: str) -> dict:
    """The server's record of the notebook's kernel (execution_state: 'idle', 'busy', ...;
    last_activity: when it last sent a message); {} without one or without an answer."""
    try:
        found = sessions(api, token, path)
    except (urllib.error.URLError, OSError, ValueError):
        return {}
    return found[0]["kernel"] if found else {}


def kernel_state(api: str, token: str, path: str) -> str | None:
    return kernel(api, token, path).get("execution_state")

