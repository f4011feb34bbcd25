"""End to end in a real browser: JupyterLab + headless Chromium run lesson 05's style explorer.

Starts JupyterLab on 127.0.0.1 (a token, a free port, a temporary copy of the notebooks and
images), opens lesson 05 in Debian's Chromium through playwright, runs the set-up cell and the
cell tagged ``explorer`` (quick mode, random weights), moves the steps slider, presses Run, and
checks that the widget, the live preview image and the "done" status appear in the page. A
screenshot goes to ``$NSTLIB_ARTIFACTS/browser_explorer.png`` (default ``test-artifacts/``).
Skips only when Chromium or playwright is missing (``make test`` installs Chromium first).
``NSTLIB_BROWSER_NOTEBOOK=path`` points it at another notebook with the same two cells.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSON = "05_style_transfer.ipynb"
ARTIFACTS = Path(os.environ.get("NSTLIB_ARTIFACTS", ROOT / "test-artifacts"))

pytestmark = pytest.mark.browser


def _lesson_path() -> Path:
    return Path(os.environ.get("NSTLIB_BROWSER_NOTEBOOK", ROOT / "notebooks" / LESSON))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _descendants(pid: int) -> list[int]:
    """Process ids whose parent chain leads to ``pid`` (read from /proc; empty where there is none)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").glob("[0-9]*"):
        try:
            stat = (entry / "stat").read_text()
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
    found, frontier = [], [pid]
    while frontier:
        parent = frontier.pop()
        children = [p for p, pp in parents.items() if pp == parent]
        found += children
        frontier += children
    return found


def _signal(pids: list[int], sig: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def _get(url: str, timeout: float = 5.0) -> int:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.status


@pytest.fixture
def lab(tmp_path: Path) -> Iterator[dict[str, str]]:
    """A JupyterLab server over a temporary copy of notebooks/ and images/; shut down afterwards."""
    lesson = _lesson_path()
    if not lesson.is_file():
        pytest.fail(f"{lesson} does not exist: the browser test drives lesson 05's explorer cell.")
    root = tmp_path / "kit"
    (root / "notebooks").mkdir(parents=True)
    shutil.copy(lesson, root / "notebooks" / LESSON)
    shutil.copytree(ROOT / "images", root / "images")
    settings = tmp_path / "lab-settings"
    for plugin, values in {
        "@jupyterlab/apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
        "@jupyterlab/notebook-extension/tracker": {"windowingMode": "none"},
    }.items():
        (settings / plugin).parent.mkdir(parents=True, exist_ok=True)
        (settings / f"{plugin}.jupyterlab-settings").write_text(json.dumps(values))
    port, token = _free_port(), secrets.token_hex(16)
    env = {k: v for k, v in os.environ.items() if k != "MPLBACKEND"}  # the kernel draws inline
    env.update(
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
        NSTLIB_QUICK="1",
        NSTLIB_WEIGHTS="random",
        NSTLIB_OFFLINE="1",
        JUPYTERLAB_SETTINGS_DIR=str(settings),
        JUPYTERLAB_WORKSPACES_DIR=str(tmp_path / "workspaces"),
        JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"),
    )
    jupyter = Path(sys.executable).with_name("jupyter")  # the test environment's own JupyterLab
    if not jupyter.exists():
        jupyter = Path(shutil.which("jupyter") or "jupyter")
    log = open(tmp_path / "lab.log", "w")
    server = subprocess.Popen(
        [
            str(jupyter),
            "lab",
            "--no-browser",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={token}",
            f"--ServerApp.root_dir={root}",
            "--LabApp.news_url=",
            "--LabApp.extension_manager=readonly",
            "--ServerApp.terminals_enabled=False",
            *(["--allow-root"] if os.geteuid() == 0 else []),
        ],
        cwd=root,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if _get(f"{base}/api/status?token={token}") == 200:
                    break
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not start:\n{(tmp_path / 'lab.log').read_text()[-3000:]}")
            time.sleep(0.5)
        yield {"url": f"{base}/lab/tree/notebooks/{LESSON}?token={token}", "log": str(tmp_path / "lab.log")}
    finally:
        family = _descendants(server.pid)  # the kernel runs in its own session: remember it before the server goes
        try:  # ask politely first: the server shuts its kernels down
            request = urllib.request.Request(f"{base}/api/shutdown?token={token}", method="POST")
            urllib.request.urlopen(request, timeout=5).close()
            server.wait(timeout=15)
        except Exception:
            pass
        if server.poll() is None:
            _signal([server.pid], signal.SIGTERM)
            try:
                server.wait(timeout=10)
            except subprocess.TimeoutExpired:
                _signal([server.pid], signal.SIGKILL)
                server.wait(timeout=10)
        _signal([p for p in family if Path(f"/proc/{p}").exists()], signal.SIGKILL)
        log.close()


def _tagged_cell_source(path: Path, tag: str) -> str:
    cells = json.loads(path.read_text())["cells"]
    for cell in cells:
        if tag in cell.get("metadata", {}).get("tags", []):
            return "".join(cell["source"])
    pytest.fail(f"{path.name} has no cell tagged {tag!r}")


def _run_cell(page, cell) -> None:
    """Select a cell, run it in place (Ctrl+Enter) and wait until its prompt shows an execution count."""
    cell.scroll_into_view_if_needed()
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Control+Enter")
    prompt = cell.locator(".jp-InputArea-prompt")
    deadline = time.monotonic() + 60
    while not re.fullmatch(r"\[\d+\]:", prompt.inner_text().strip()):
        if time.monotonic() > deadline:
            raise AssertionError(f"cell did not finish: prompt {prompt.inner_text()!r}")
        page.wait_for_timeout(250)
    assert cell.locator("[data-mime-type='application/vnd.jupyter.error']").count() == 0, cell.locator(
        ".jp-OutputArea"
    ).inner_text()


def _slider(page, output, label: str):
    """The slider whose description is exactly ``label``."""
    return output.locator(
        ".widget-slider", has=page.locator(".widget-label", has_text=re.compile(f"^{re.escape(label)}$"))
    )


def test_style_explorer_in_jupyterlab(chromium: dict[str, Any], lab: dict[str, str]) -> None:
    from playwright.sync_api import sync_playwright

    explorer_source = _tagged_cell_source(_lesson_path(), "explorer")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as pw:
        browser = pw.chromium.launch(**chromium)
        try:
            page = browser.new_page(viewport={"width": 1400, "height": 1500})
            page.set_default_timeout(60_000)
            page.goto(lab["url"])
            page.locator(".jp-Notebook .jp-Cell").first.wait_for()
            page.get_by_text(re.compile(r"\|\s*Idle")).first.wait_for()  # the kernel has started (status bar)
            code_cells = page.locator(".jp-Notebook .jp-CodeCell")
            _run_cell(page, code_cells.first)  # the set-up cell: import nstlib as nst; setup = nst.lesson_setup(...)
            call = next(line for line in explorer_source.splitlines() if "style_explorer(" in line).strip()
            explorer = code_cells.filter(has_text=call)
            assert explorer.count() == 1, f"expected one cell containing {call!r}"
            _run_cell(page, explorer)

            output = explorer.locator(".jp-OutputArea")
            run_button = output.locator("button", has_text="Run")
            run_button.wait_for()
            size = _slider(page, output, "size (px)")
            size.locator(".noUi-handle").focus()
            page.keyboard.press("Home")  # the smallest size, 32 px, keeps the run short
            steps = _slider(page, output, "steps")
            steps.locator(".noUi-handle").focus()
            page.keyboard.press("Home")  # to the minimum (1) ...
            for _ in range(3):
                page.keyboard.press("ArrowRight")  # ... and three steps up: 4
            for slider, value in ((size, "32"), (steps, "4")):
                page.wait_for_function(
                    "([el, v]) => el.textContent.trim() === v",
                    arg=[slider.locator(".widget-readout").element_handle(), value],
                )

            beta = _slider(page, output, "β (style)")
            assert (
                beta.locator(".widget-readout").inner_text().strip() == "5.00e+4"
            )  # the default survives the snap to the grid

            run_button.click()
            status = output.locator(".widget-html", has_text=re.compile(r"done|stopped|Could not run"))
            status.wait_for(timeout=60_000)
            assert "done: 4 of 4 steps" in status.inner_text(), status.inner_text()  # the kernel got the moved slider
            preview = output.locator(".widget-image").first
            preview.wait_for(state="visible")
            width = preview.evaluate("img => img.naturalWidth")
            assert width > 0, "the live preview image did not load"
            preview.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "browser_explorer.png"))
        finally:
            browser.close()
