"""Shared fixtures. Tests run on seeded random weights, chosen explicitly, never by fallback."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest
import torch

# Explicit choices for the whole test session (the Makefile sets the same; this covers a bare `pytest`).
os.environ.setdefault("NSTLIB_WEIGHTS", "random")
os.environ.setdefault("NSTLIB_OFFLINE", "1")  # never probe the network from a test
os.environ.setdefault("MPLBACKEND", "Agg")

ROOT = Path(__file__).resolve().parents[1]
IMAGES = ROOT / "images"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA GPU (none here)")
        for item in items:
            if "gpu" in item.keywords:
                item.add_marker(skip)


@pytest.fixture(scope="session")
def chromium() -> dict[str, Any]:
    """How the browser tests launch Chromium (``pw.chromium.launch(**chromium)``): Debian's chromium, as
    ``make test`` installs it, or else playwright's own download (``python -m playwright install chromium``, as on
    GitHub's runners). Skips with the reason when there is neither."""
    pytest.importorskip("playwright.sync_api", reason="the playwright Python package is not installed")
    from playwright.sync_api import sync_playwright

    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        with sync_playwright() as pw:
            bundled = pw.chromium.executable_path
        if not Path(bundled).exists():
            pytest.skip("no Chromium: make test installs Debian's chromium as root (.ci/browser-deps.sh)")
        path = bundled
    flags = [
        "--no-sandbox",
        "--disable-background-networking",
        "--disable-component-update",
        "--no-first-run",
        "--disable-dev-shm-usage",
        "--disable-gpu",
    ]
    return {"executable_path": path, "headless": True, "args": flags}


@pytest.fixture(autouse=True)
def _float32_default():
    """Every test starts and ends with torch's float32 default, whatever a test before it did."""
    torch.set_default_dtype(torch.float32)
    yield
    torch.set_default_dtype(torch.float32)


@pytest.fixture
def images_dir() -> Path:
    return IMAGES


@pytest.fixture
def content_image() -> torch.Tensor:
    import nstlib as nst

    return nst.load_image(IMAGES / "chelsea.jpg", size=64, device="cpu")


@pytest.fixture
def style_image() -> torch.Tensor:
    import nstlib as nst

    return nst.load_image(IMAGES / "style_waves.jpg", size=64, device="cpu")


@pytest.fixture
def torch_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty $TORCH_HOME: torchvision's cache lives at <it>/hub/checkpoints/."""
    home = tmp_path / "torch_home"
    (home / "hub" / "checkpoints").mkdir(parents=True)
    monkeypatch.setenv("TORCH_HOME", str(home))
    from nstlib.weights import cache

    cache.clear()
    return home
