"""The widgets in a real browser: JupyterLab (started as `make lab` starts it) in Debian's Chromium via Playwright.

Notebook 01's latent explorer and notebook 02's label picker are run in ``COURSE_MODE=smoke``; moving
the slider (choosing another label) must redraw the decoded image, and no widget may be left at
"Loading widget…". Screenshots go to ``artifacts/browser/``. Every wait is bounded. Run it with
``make test-browser`` (it needs Chromium at ``/usr/bin/chromium`` or ``CHROMIUM``, and the datasets).
JupyterLab's autosave is switched off and the notebook files are checked to be unchanged afterwards.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts" / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
# The Makefile passes its `make lab` command line; outside make, the same command with this interpreter.
LAB_COMMAND = os.environ.get("LAB_COMMAND") or (
    f"{shlex.quote(sys.executable)} -m jupyterlab --ServerApp.ip=127.0.0.1 --ServerApp.root_dir=notebooks"
    + (" --ServerApp.allow_root=True" if os.geteuid() == 0 else ""))
SERVER_START_S = 90
RUN_ALL_S = 600  # smoke mode: well under a minute per notebook on two cores
REDRAW_S = 60
# Pixels of the output area that must change (by more than 16 grey levels) after a move. The figure is redrawn
# with the new value in its title; the smoke-mode models (one epoch on 2,048 digits) decode nearly the same blob
# everywhere, so the title's changed digits (a few hundred pixels) can be most of the difference.
MIN_CHANGED_PIXELS = 50
LAB_SETTINGS = {  # no autosave (the solutions keep their stored outputs), every cell in the DOM
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {"fetchNews": "false",
                                                                         "checkForUpdates": False},
}

playwright = pytest.importorskip("playwright.sync_api", reason="pip install playwright (make test-browser)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A JupyterLab server on 127.0.0.1 with a random token: yields its base URL with the token."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"Chromium not found at {CHROMIUM}: apt-get install -y chromium (or set CHROMIUM)")
    home = tmp_path_factory.mktemp("lab")
    settings = home / "settings"
    for name, values in LAB_SETTINGS.items():
        path = settings / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    port, token = _free_port(), hashlib.sha256(os.urandom(32)).hexdigest()[:32]
    command = [arg for arg in shlex.split(LAB_COMMAND) if not arg.startswith("--ServerApp.port=")] + ["--no-browser", f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
                                          f"--IdentityProvider.token={token}"]
    env = {**os.environ, "JUPYTERLAB_SETTINGS_DIR": str(settings), "JUPYTERLAB_WORKSPACES_DIR": str(home / "ws"),
           "COURSE_MODE": os.environ.get("COURSE_MODE", "smoke"), "COURSE_DEVICE": "cpu"}
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    log = open(ARTIFACTS / "jupyterlab.log", "w")
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                              start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + SERVER_START_S
    while True:
        try:
            urllib.request.urlopen(f"{base}/api/status?token={token}", timeout=5).close()
            break
        except OSError:
            if server.poll() is not None or time.monotonic() > deadline:
                os.killpg(server.pid, signal.SIGKILL) if server.poll() is None else None
                log.close()
                pytest.fail(f"JupyterLab did not start within {SERVER_START_S} s: {' '.join(command)} "
                            f"(log: {log.name})")
            time.sleep(0.5)
    yield base, token
    os.killpg(server.pid, signal.SIGTERM)  # the server and its kernels
    try:
        server.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(server.pid, signal.SIGKILL)
        server.wait(timeout=10)
    log.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")), executable_path=CHROMIUM, headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1400, "height": 1000})
        context.set_default_timeout(30_000)
        yield context
        context.close()


def _pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("L"), dtype=np.float32)


def _changed_pixels(before: bytes, after: bytes) -> int:
    a, b = _pixels(before), _pixels(after)
    if a.shape != b.shape:
        return a.size
    return int((np.abs(a - b) > 16).sum())


def _run_notebook(browser, lab, relative: str, name: str):
    """Open ``relative`` (under notebooks/) in JupyterLab, clear the stored outputs, run all cells and
    wait until every code cell has run (each prompt numbered, the first one ``[1]``)."""
    base, token = lab
    page = browser.new_page()
    page.goto(f"{base}/lab/tree/{relative}?token={token}&reset", timeout=120_000)  # reset: only this notebook open
    panel = page.locator(".jp-NotebookPanel:visible")
    panel.locator(".jp-Cell").first.wait_for(timeout=120_000)
    page.locator(".jp-StatusBar-Widget", has_text="| Idle").first.wait_for(timeout=120_000)  # kernel connected
    page.get_by_role("menuitem", name="Edit", exact=True).click()
    page.locator("li[data-command='editmenu:clear-all']").click()
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.locator("li[data-command='runmenu:run-all']").click()
    deadline = time.monotonic() + RUN_ALL_S
    while True:
        prompts = [p.strip() for p in panel.locator(".jp-CodeCell .jp-InputPrompt").all_inner_texts()]
        tracebacks = panel.locator(".jp-OutputArea-output", has_text="Traceback")
        if tracebacks.count():
            page.screenshot(path=ARTIFACTS / f"{name}_error.png", full_page=True)
            pytest.fail(f"{relative}: a cell raised (screenshot {ARTIFACTS / f'{name}_error.png'}):\n"
                        + tracebacks.first.inner_text()[-3000:])
        if prompts and prompts[0] == "[1]:" and all(p.startswith("[") and p[1:-2].isdigit() for p in prompts):
            break
        if time.monotonic() > deadline:
            page.screenshot(path=ARTIFACTS / f"{name}_timeout.png", full_page=True)
            pytest.fail(f"{relative} did not finish within {RUN_ALL_S} s; prompts: {prompts}")
        time.sleep(1)
    return page, panel


def _assert_no_loading_widget(page, name: str) -> None:
    loading = page.get_by_text("Loading widget")
    deadline = time.monotonic() + REDRAW_S
    while loading.count() and time.monotonic() < deadline:
        time.sleep(0.5)
    if loading.count() or page.get_by_text("Error displaying widget").count():
        page.screenshot(path=ARTIFACTS / f"{name}_loading.png", full_page=True)
        pytest.fail(f"{loading.count()} widget(s) still at 'Loading widget…' after {REDRAW_S} s "
                    f"(screenshot {ARTIFACTS / f'{name}_loading.png'})")


def _wait_for_redraw(output, before: bytes, name: str) -> bytes:
    """Screenshots of ``output`` until it differs from ``before`` and then stays the same (bounded)."""
    deadline = time.monotonic() + REDRAW_S
    last = before
    while time.monotonic() < deadline:
        time.sleep(1.0)
        shot = output.screenshot()
        if shot == last and _changed_pixels(before, shot) > 0:
            return shot
        last = shot
    output.screenshot(path=ARTIFACTS / f"{name}_after.png")
    return last


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_latent_slider_redraws_the_decoded_image(lab, browser):
    path = ROOT / "notebooks/solutions/01_vae_reparameterization.ipynb"
    stored = _sha(path)
    page, panel = _run_notebook(browser, lab, "solutions/01_vae_reparameterization.ipynb", "01")
    _assert_no_loading_widget(page, "01")
    explorer = panel.locator(".widget-interact").filter(has=page.locator(".widget-slider")).last
    explorer.scroll_into_view_if_needed()
    output = explorer.locator(".widget-output").first
    output.locator("img").first.wait_for(timeout=REDRAW_S * 1000)
    readout = explorer.locator(".widget-readout").first
    value_before = readout.inner_text()
    before = output.screenshot(path=ARTIFACTS / "01_before.png")
    track = explorer.locator(".widget-slider .noUi-target").first.bounding_box()
    page.mouse.click(track["x"] + 0.9 * track["width"], track["y"] + track["height"] / 2)  # z1 to 90 % of its range
    after = _wait_for_redraw(output, before, "01")
    output.screenshot(path=ARTIFACTS / "01_after.png")
    page.screenshot(path=ARTIFACTS / "01_page.png", full_page=False)
    assert readout.inner_text() != value_before, f"the slider did not move (z1 = {value_before})"
    changed = _changed_pixels(before, after)
    assert changed >= MIN_CHANGED_PIXELS, f"moving z1 from {value_before} to {readout.inner_text()} changed {changed} pixels"
    _assert_no_loading_widget(page, "01")
    page.close()
    assert _sha(path) == stored, f"{path} was modified by the browser session"


def test_label_picker_redraws_the_decoded_image(lab, browser):
    path = ROOT / "notebooks/solutions/02_cvae_latent_grids.ipynb"
    stored = _sha(path)
    page, panel = _run_notebook(browser, lab, "solutions/02_cvae_latent_grids.ipynb", "02")
    _assert_no_loading_widget(page, "02")
    explorer = panel.locator(".widget-interact").filter(has=page.locator(".widget-dropdown")).last
    explorer.scroll_into_view_if_needed()
    output = explorer.locator(".widget-output").first
    output.locator("img").first.wait_for(timeout=REDRAW_S * 1000)
    select = explorer.locator(".widget-dropdown select").first
    label_before = select.input_value()
    before = output.screenshot(path=ARTIFACTS / "02_before.png")
    select.select_option(label="8")
    after = _wait_for_redraw(output, before, "02")
    output.screenshot(path=ARTIFACTS / "02_after.png")
    page.screenshot(path=ARTIFACTS / "02_page.png", full_page=False)
    assert select.input_value() != label_before, "the label did not change"
    changed = _changed_pixels(before, after)
    assert changed >= MIN_CHANGED_PIXELS, f"choosing label 8 changed {changed} pixels of the output"
    _assert_no_loading_widget(page, "02")
    page.close()
    assert _sha(path) == stored, f"{path} was modified by the browser session"
