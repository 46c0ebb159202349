"""Every widget cell works in JupyterLab.

In a headless Chromium, each widget notebook is opened and run (Run > Run All Cells) up to its
last widget cell; then, for each widget cell, one control is moved (the first slider, by focusing
its handle and pressing arrow keys; in a cell with dropdowns only, the next option of the first
dropdown) and the figure under the controls must be drawn again, differently: screenshots of it
before and after are compared pixel by pixel and kept in outputs/browser/.

The notebooks are opened and started together (one tab and one kernel each), so that their kernels
share the CPU, then checked one by one. Skipped, with the reason, without /usr/bin/chromium or the
playwright package. The kernels run this checkout's package at the notebooks' fast sizes
(GBC_FAST=1) when fast mode keeps the widgets, else at full size (much slower);
GBC_BROWSER_FAST=1 / 0 forces one or the other.
"""

from __future__ import annotations

import io
import time
from datetime import datetime
from pathlib import Path

import pytest
from lab_server import kernel, kernel_state, missing_requirements, widget_notebooks

MISSING = missing_requirements()
needs_browser = pytest.mark.skipif(MISSING is not None, reason=str(MISSING))

NOTEBOOKS = widget_notebooks()
PRESSES = 3  # arrow-key presses on a slider handle
RUN_TIMEOUT = {True: 400, False: 1500}  # s from the start to the last widget cell: fast / full sizes
REDRAW_TIMEOUT = {True: 60, False: 120}  # s for a figure to be drawn again after a control moved

PANEL = ".jp-NotebookPanel:not(.lm-mod-hidden)"  # the notebook on show
PROMPTS_JS = f"""() => Array.from(document.querySelectorAll('{PANEL} .jp-CodeCell .jp-InputArea-prompt'))
    .map(e => e.textContent.trim())"""
STATUS_JS = f"""() => {{ const e = document.querySelector('{PANEL} .jp-Notebook-ExecutionIndicator');
    return e ? e.dataset.status : null; }}"""


def goto_notebook(page, lab, path):
    """Start loading JupyterLab with the notebook alone, in a workspace of its own (no tabs restored
    from another notebook's page)."""
    page.goto(f"{lab['url']}/lab/workspaces/{Path(path).stem}/tree/{path}?reset&token={lab['token']}",
              wait_until="commit")


def wait_for_kernel(page, lab, path):
    page.wait_for_selector(f"{PANEL} .jp-Notebook .jp-CodeCell", timeout=120_000)
    deadline = time.monotonic() + 120
    while kernel_state(lab["url"], lab["token"], path) != "idle" or page.evaluate(STATUS_JS) != "idle":
        if time.monotonic() > deadline:
            raise RuntimeError(f"{path}: no idle kernel after 120 s")
        time.sleep(0.5)


def start_run_all(page, path):
    """Run > Run All Cells; returns once the cells are queued."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(3):
        page.locator(f"{PANEL} .jp-CodeCell .jp-InputPrompt").first.click()  # the notebook has the focus
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator('.lm-Menu-item[data-command="runmenu:run-all"]').click()
        try:
            page.wait_for_function(f"() => ({PROMPTS_JS})().some(p => p.includes('*'))", timeout=15_000)
            return
        except PlaywrightTimeout:
            page.keyboard.press("Escape")
    raise RuntimeError(f"{path}: Run > Run All Cells started nothing (three tries)")


def wait_for_run(page, lab, path, deadline):
    """Wait until every code cell has run; fail with the error output when one did not. Returns
    when (time.time()) the kernel finished."""
    idle_polls = 0
    while time.monotonic() < deadline:
        prompts, state = page.evaluate(PROMPTS_JS), kernel_state(lab["url"], lab["token"], path)
        idle_polls = idle_polls + 1 if state == "idle" and not any("*" in p for p in prompts) else 0
        if idle_polls >= 2:
            break
        time.sleep(1)
    else:
        pytest.fail(f"{path}: cells still running at the time limit: {page.evaluate(PROMPTS_JS)}")
    not_run = [i for i, p in enumerate(page.evaluate(PROMPTS_JS)) if not p.strip("[]: ").isdigit()]
    if not_run:  # run-all stops at the first error; show it
        errors = page.locator(".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']")
        text = "\n".join(errors.all_inner_texts())[-3000:]
        pytest.fail(f"{path}: code cells {not_run} (counting code cells only) did not run:\n{text}")
    last = kernel(lab["url"], lab["token"], path).get("last_activity")
    return datetime.fromisoformat(last.replace("Z", "+00:00")).timestamp() if last else time.time()


@pytest.fixture(scope="module")
def started(request, lab, browser_context):
    """{notebook path: (page, times, error or None)}: every notebook of the selected tests open in
    its own tab (the tabs load together), its cells running; times: (monotonic time of the start,
    seconds to open it and start its kernel, time.time() of Run All)."""
    names = {item.callspec.params["name"] for item in request.session.items
             if getattr(item, "originalname", "") == "test_widgets_redraw_in_jupyterlab"}
    pages, runs, t0 = {}, {}, time.monotonic()
    for path in [p for p in lab["cells"] if Path(p).name in names]:
        pages[path] = browser_context.new_page()
        goto_notebook(pages[path], lab, path)
    for path, page in pages.items():
        try:
            wait_for_kernel(page, lab, path)
            times = (t0, time.monotonic() - t0, time.time())
            start_run_all(page, path)
            runs[path] = (page, times, None)
        except Exception as e:  # reported by this notebook's test; the others go on
            runs[path] = (page, (t0, time.monotonic() - t0, time.time()), f"{type(e).__name__}: {e}")
    yield runs
    for page in pages.values():
        page.close()  # the kernels stop with the server


def figure_png(output):
    output.locator("img").first.wait_for(state="visible", timeout=60_000)
    return output.screenshot(animations="disabled")


def changed_pixels(a: bytes, b: bytes) -> float:
    """Share of pixels that differ between two screenshots (1.0 when their sizes differ)."""
    from PIL import Image, ImageChops

    ia, ib = (Image.open(io.BytesIO(x)).convert("RGB") for x in (a, b))
    if ia.size != ib.size:
        return 1.0
    diff = ImageChops.difference(ia, ib).convert("L").point(lambda v: 255 if v else 0)
    return diff.histogram()[255] / (ia.size[0] * ia.size[1])


def move_control(widget):
    """Move the first slider by arrow keys (towards its far side), else pick the next option of the
    first dropdown. Returns (control, value before, a function reading its value)."""
    handles = widget.locator(".widget-slider .noUi-handle")
    if handles.count():
        handle = handles.first
        read = lambda: handle.get_attribute("aria-valuenow")  # noqa: E731
        before = read()
        at_max = float(before) >= float(handle.get_attribute("aria-valuemax"))
        handle.focus()
        for _ in range(PRESSES):
            handle.press("ArrowLeft" if at_max else "ArrowRight")
        return "slider " + widget.locator(".widget-slider .widget-label").first.inner_text(), before, read
    select = widget.locator(".widget-dropdown select").first
    read = lambda: select.input_value()  # noqa: E731
    before = read()
    options = select.locator("option").evaluate_all("os => os.map(o => o.value)")
    select.select_option(options[(options.index(before) + 1) % len(options)])
    return "dropdown " + widget.locator(".widget-dropdown .widget-label").first.inner_text(), before, read


def wait_for_redraw(page, output, before, timeout):
    """The figure's screenshot once it differs from before and holds still (two equal shots in a
    row, kernel idle); the last shot when that does not happen within timeout seconds."""
    deadline, last, after = time.monotonic() + timeout, None, before
    while time.monotonic() < deadline:
        time.sleep(0.5)
        after = figure_png(output)
        if after != before and after == last and page.evaluate(STATUS_JS) == "idle":
            break
        last = after
    return after


def test_widget_notebooks_found():
    """The notebooks with widget cells: 02, 03 and 04 at least."""
    assert {"02", "03", "04"} <= {n[:2] for n in NOTEBOOKS}, NOTEBOOKS


@pytest.mark.browser
@needs_browser
@pytest.mark.parametrize("name", NOTEBOOKS)
def test_widgets_redraw_in_jupyterlab(name, lab, started, shots):
    fast, path, stem = lab["fast"], f"notebooks/{name}", name.removesuffix(".ipynb")
    for old in shots.glob(f"{stem}_*.png"):
        old.unlink()
    page, (t0, t_open, t_click), error = started[path]
    try:
        if error:
            pytest.fail(f"{path} could not be started: {error}")
        t_run = wait_for_run(page, lab, path, t0 + RUN_TIMEOUT[fast]) - t_click
        cells = page.locator(f"{PANEL} .jp-Notebook .jp-Cell")
        report = []
        for index in lab["cells"][path]:
            widget = cells.nth(index).locator(".widget-interact")
            if not widget.count():
                pytest.fail(f"{name}, cell {index}: no widget, only a static figure (is GBC_WIDGETS=0 or "
                            f"GBC_FAST=1 turning widgets off in the kernel? fast={fast})")
            output = widget.locator(".widget-output").first
            before = figure_png(output)
            (shots / f"{stem}_cell{index}_before.png").write_bytes(before)
            t1 = time.monotonic()
            control, value0, read = move_control(widget)
            after = wait_for_redraw(page, output, before, REDRAW_TIMEOUT[fast])
            (shots / f"{stem}_cell{index}_after.png").write_bytes(after)
            value1 = read()
            if value1 == value0:
                pytest.fail(f"{name}, cell {index}: the {control} did not move from {value0}")
            share = changed_pixels(before, after)
            if after == before or share == 0:
                pytest.fail(f"{name}, cell {index}: the figure did not change within "
                            f"{REDRAW_TIMEOUT[fast]} s after the {control} moved {value0} -> {value1} "
                            f"(outputs/browser/{stem}_cell{index}_before.png and _after.png are the same)")
            report.append(f"cell {index}: {control} {value0} -> {value1}, {share:.1%} of the pixels "
                          f"changed in {time.monotonic() - t1:.1f} s")
        print(f"\n{name} ({'fast' if fast else 'full'} sizes): opened with its kernel after {t_open:.0f} s, "
              f"its cells ran in {t_run:.0f} s (beside the other notebooks'); " + "; ".join(report))
    except BaseException:
        page.screenshot(path=str(shots / f"{stem}_failure.png"), full_page=True)
        raise
