"""A JupyterLab server and a headless Chromium for the widget tests of this folder.

The server runs on 127.0.0.1 at a free port with a random token, from a temporary root laid out
like the repository (pyproject.toml, which the notebooks look for, and notebooks/ with copies of the
widget notebooks, cut after their last widget cell, outputs cleared), with its own settings,
workspace, runtime and IPython folders; everything is removed at the end, pass or fail (the
server's log is kept as outputs/browser/server.log).
Chromium is the system one (/usr/bin/chromium): Playwright only drives it, it never downloads one.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import lab_server as ls
import pytest


def pytest_configure(config):
    config.addinivalue_line("markers", "browser: drives JupyterLab in a headless Chromium "
                                       "(needs /usr/bin/chromium and the playwright package)")


@pytest.fixture(scope="session")
def lab():
    """A running JupyterLab: yields a dict with url, token, root, fast (the kernels' GBC_FAST), cells
    ({notebook path under root: its widget cell indices}) and log (the server's output file)."""
    reason = ls.missing_requirements()
    if reason:
        pytest.skip(reason)
    tmp = Path(tempfile.mkdtemp(prefix="gbc-lab-"))
    proc = None
    try:
        root = tmp / "root"
        root.mkdir()
        shutil.copy(ls.ROOT / "pyproject.toml", root / "pyproject.toml")
        for rel, value in ls.LAB_SETTINGS.items():
            path = tmp / "settings" / rel
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(value))
        cells = {}
        for name in ls.widget_notebooks():
            path = f"notebooks/{name}"
            cells[path] = ls.copy_until_last_widget(ls.NOTEBOOKS / name, root / path)

        forced = os.environ.get("GBC_BROWSER_FAST")  # "1" / "0": force fast / full sizes
        probe_env = ls.server_env(tmp, fast=False)
        fast = forced == "1" if forced in ("0", "1") else ls.fast_mode_keeps_widgets(probe_env)
        env = ls.server_env(tmp, fast)

        port, token = ls.free_port(), secrets.token_hex(24)
        cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
               f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}",
               "--LabApp.news_url=None",
               "--LabApp.check_for_updates_class=jupyterlab.handlers.announcements.NeverCheckForUpdate"]
        if hasattr(os, "geteuid") and os.geteuid() == 0:
            cmd.append("--allow-root")
        log = tmp / "server.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        url = f"http://127.0.0.1:{port}"
        ls.wait_for_server(f"{url}/api/status?token={token}", proc, log)
        yield {"url": url, "token": token, "root": root, "fast": fast, "cells": cells, "log": log}
    finally:
        if proc is not None:
            ls.stop_server(proc, f"http://127.0.0.1:{port}", token)
            ls.SHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(tmp / "server.log", ls.SHOTS / "server.log")  # kept for the record
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="session")
def browser_context(lab):
    """A Chromium context with a fresh user-data folder, removed at the end."""
    from playwright.sync_api import sync_playwright

    profile = Path(tempfile.mkdtemp(prefix="gbc-chromium-"))
    try:
        with sync_playwright() as pw:
            ctx = pw.chromium.launch_persistent_context(
                str(profile), executable_path=str(ls.CHROMIUM), headless=True, args=ls.CHROMIUM_ARGS,
                viewport={"width": 1400, "height": 1000}, device_scale_factor=1)
            try:
                yield ctx
            finally:
                ctx.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="session")
def shots():
    ls.SHOTS.mkdir(parents=True, exist_ok=True)
    return ls.SHOTS
