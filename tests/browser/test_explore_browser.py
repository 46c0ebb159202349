"""`make explore` works: the Voilà app apps/explore.ipynb in a headless Chromium.

Voilà is started as the Makefile starts it (127.0.0.1, a free port, no browser), with this
checkout's package and a short training (GBC_EXPLORE_STEPS); the page must show no code, one
explorer whose figure changes when its first slider (the training point) is moved by arrow keys.
Screenshots before and after, and of the whole page, go to outputs/browser/explore_*.png; the
server's log to outputs/browser/voila.log. A page that stalls on its first kernel is loaded once
more; before that, the stacks of every thread of the server and its kernels go to
outputs/browser/explore_stalled_stacks/. Skipped without /usr/bin/chromium, playwright or voila.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from lab_server import (
    CHROMIUM,
    CHROMIUM_ARGS,
    ROOT,
    SHOTS,
    free_port,
    missing_requirements,
    server_env,
    stop_server,
)
from test_widgets_browser import changed_pixels, figure_png, move_control

APP = ROOT / "apps" / "explore.ipynb"
STEPS = 300  # classifier steps: enough for a trained toy; the page is ready in well under a minute
LOAD_TIMEOUT = 400  # s for the page to show the explorer (kernel start, training, KKT fits)
# a page whose kernel has not shown the explorer after this long is loaded once more (a new
# kernel): in about half of the fresh-clone CI runs the first page stays on "Executing 2 of 3"
# for good although its kernel ran every cell (Voilà's server misses the end of the last one:
# voila-dashboards/voila#1395, #1446), where the page is ready in 11–26 s; the second load then
# comes up in about 20 s. The test still needs a working explorer on the second load
RELOAD_AFTER = 60
REDRAW_TIMEOUT = 60  # s for the figure to change after the slider moved


def voila_missing() -> str | None:
    reason = missing_requirements()
    if reason:
        return reason
    try:
        import voila  # noqa: F401
    except ImportError:
        return "voila is not installed (pip install -e '.[lab]')"
    return None


MISSING = voila_missing()


STACKS_ON_USR1 = """import faulthandler, os, signal, sys
_stacks = open(os.path.join({folder!r}, "{name}-%d.txt" % os.getpid()), "w")
faulthandler.register(signal.SIGUSR1, file=_stacks, all_threads=True)
"""


# ... and each kernel logs when a cell starts and ends (which cells a stalled page's kernel ran)
CELL_LOG = """import time
_cells = open(os.path.join({folder!r}, "kernel-%d-cells.txt" % os.getpid()), "w", buffering=1)
get_ipython().events.register("pre_run_cell", lambda info: _cells.write(
    "%.3f start %r\\n" % (time.time(), info.raw_cell[:60])))
get_ipython().events.register("post_run_cell", lambda result: _cells.write(
    "%.3f end, error: %r\\n" % (time.time(), result.error_in_exec)))
"""


@dataclass
class VoilaApp:
    url: str
    pid: int  # the server's; its kernels are its children
    stacks: Path


def dump_stacks(app: VoilaApp, to: Path) -> list[str]:
    """Every thread's stack of the server and its descendants (SIGUSR1), copied into `to`."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:  # the process ended meanwhile
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    pids, todo = [], [app.pid]
    while todo:
        pids.append(todo.pop())
        todo += children.get(pids[-1], [])
    for pid in pids:
        try:
            os.kill(pid, signal.SIGUSR1)
        except ProcessLookupError:
            pass
    time.sleep(2)
    to.mkdir(parents=True, exist_ok=True)
    return [shutil.copy(f, to / f.name) for f in sorted(app.stacks.glob("*.txt"))]


@pytest.fixture(scope="module")
def voila_app():
    """A running `voila apps/explore.ipynb`: yields its URL, pid and stack folder (VoilaApp)."""
    if MISSING:
        pytest.skip(MISSING)
    tmp = Path(tempfile.mkdtemp(prefix="gbc-voila-"))
    port, proc = free_port(), None
    env = server_env(tmp, fast=True)
    env["GBC_EXPLORE_STEPS"] = str(STEPS)
    log = tmp / "voila.log"
    # SIGUSR1 makes the server and its kernels write every thread's Python stack to tmp/stacks/
    # (read when the page stalls: where does the first kernel hang?)
    stacks = tmp / "stacks"
    startup = tmp / "ipython" / "profile_default" / "startup"
    for folder in (stacks, startup):
        folder.mkdir(parents=True)
    (startup / "00-stacks.py").write_text(STACKS_ON_USR1.format(name="kernel", folder=str(stacks))
                                          + CELL_LOG.format(folder=str(stacks)))
    cmd = [sys.executable, "-c", STACKS_ON_USR1.format(name="server", folder=str(stacks))
           + "from voila.app import main\nsys.argv[0] = 'voila'\nmain()\n",
           str(APP), "--no-browser", f"--port={port}", "--Voila.ip=127.0.0.1"]
    try:
        with open(log, "wb") as out:
            proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        yield VoilaApp(f"http://127.0.0.1:{port}", proc.pid, stacks)
    finally:
        if proc is not None:
            stop_server(proc, f"http://127.0.0.1:{port}", "")
            SHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copy(log, SHOTS / "voila.log")
        shutil.rmtree(tmp, ignore_errors=True)


def open_page(pw, profile: Path, url: str):
    ctx = pw.chromium.launch_persistent_context(
        str(profile), executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
        viewport={"width": 1200, "height": 900}, device_scale_factor=1)
    page = ctx.new_page()
    deadline = time.monotonic() + 60
    while True:  # the server may still be starting
        try:
            page.goto(url, wait_until="commit", timeout=LOAD_TIMEOUT * 1000)
            return ctx, page
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


@pytest.mark.browser
@pytest.mark.skipif(MISSING is not None, reason=str(MISSING))
def test_explore_app_redraws_in_voila(voila_app):
    from playwright.sync_api import TimeoutError as PlaywrightTimeout
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    profile = Path(tempfile.mkdtemp(prefix="gbc-chromium-"))
    t0 = time.monotonic()
    try:
        with sync_playwright() as pw:
            ctx, page = open_page(pw, profile, voila_app.url)
            try:
                widget = page.locator(".widget-interact").first
                try:
                    widget.wait_for(state="visible", timeout=RELOAD_AFTER * 1000)
                except PlaywrightTimeout:
                    page.screenshot(path=str(SHOTS / "explore_stalled.png"), full_page=True)
                    dumped = dump_stacks(voila_app, SHOTS / "explore_stalled_stacks")
                    print(f"\nexplore: no explorer after {RELOAD_AFTER} s ({len(dumped)} stack "
                          f"dumps in {SHOTS / 'explore_stalled_stacks'}); loading the page again")
                    page.reload(wait_until="commit", timeout=LOAD_TIMEOUT * 1000)
                    widget.wait_for(state="visible", timeout=LOAD_TIMEOUT * 1000)
                output = widget.locator(".widget-output").first
                before = figure_png(output)
                t_load = time.monotonic() - t0
                text = page.locator("body").inner_text()
                assert "interactive_or_static" not in text and "import " not in text, "Voilà shows code"
                (SHOTS / "explore_before.png").write_bytes(before)
                control, value0, read = move_control(widget)
                deadline, after = time.monotonic() + REDRAW_TIMEOUT, before
                while time.monotonic() < deadline:
                    time.sleep(0.5)
                    shot = figure_png(output)
                    if shot != before and shot == after:  # changed, and held still for one poll
                        break
                    after = shot
                (SHOTS / "explore_after.png").write_bytes(after)
                page.screenshot(path=str(SHOTS / "explore_page.png"), full_page=True)
                value1 = read()
                assert value1 != value0, f"the {control} did not move from {value0}"
                share = changed_pixels(before, after)
                assert share > 0, (f"the figure did not change within {REDRAW_TIMEOUT} s after the "
                                   f"{control} moved {value0} -> {value1}")
                print(f"\nexplore: page ready in {t_load:.0f} s; {control} {value0} -> {value1}, "
                      f"{share:.1%} of the pixels changed")
            except BaseException:
                page.screenshot(path=str(SHOTS / "explore_failure.png"), full_page=True)
                raise
            finally:
                ctx.close()
    finally:
        shutil.rmtree(profile, ignore_errors=True)
