"""The style explorer and the feature browser, driven headless: set widget values, run, look at the outcome."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import nstlib as nst

widgets = pytest.importorskip("nstlib.course.widgets", reason="ipywidgets is not installed")

ROOT = Path(__file__).resolve().parents[1]


def _wait_until(condition, timeout: float = 120.0) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError("the condition did not come true in time")
        time.sleep(0.02)


@pytest.fixture
def explorer(images_dir: Path):
    ex = widgets.style_explorer(images_dir=images_dir, size=32, steps=3, weights="random")
    ex.content_layers.value = ("relu2_1",)  # shallow layers keep the tests fast
    ex.style_layers.value = ("relu1_1", "relu2_1")
    yield ex
    ex.stop()
    ex.wait(60)


def test_import_nstlib_does_not_import_ipywidgets():
    code = "import sys, nstlib; sys.exit('ipywidgets' in sys.modules)"
    done = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert done.returncode == 0, done.stderr


def test_explorer_offers_the_image_folder_and_every_layer(explorer, images_dir):
    files = sorted(p.name for p in images_dir.iterdir() if p.suffix in (".jpg", ".png"))
    assert list(explorer.content_choice.options) == files == list(explorer.style_choice.options)
    assert (explorer.content_choice.value, explorer.style_choice.value) == ("chelsea.jpg", "style_waves.jpg")
    assert list(explorer.style_layers.options) == nst.layer_names("vgg19")
    assert explorer.image("content").shape == (1, 3, 21, 32)  # chelsea is 300 x 451: long side 32


def test_run_uses_the_widget_values(explorer):
    explorer.content_choice.value = "astronaut.jpg"
    explorer.style_choice.value = "style_mosaic.jpg"
    explorer.style_weight.value = 1e3
    explorer.tv_weight.value = 1.0
    explorer.steps.value = 4
    explorer.size.value = 40
    result = explorer.run()
    assert result is explorer.result and result.steps_done == 4
    assert result.image.shape == (1, 3, 40, 40) and 0 <= result.image.min() and result.image.max() <= 1
    assert set(result.history) == {
        "total",
        "content",
        "style",
        "tv",
        "content:relu2_1",
        "style:relu1_1",
        "style:relu2_1",
    }
    assert all(len(v) == 4 for v in result.history.values())
    assert result.settings["style_weight"] == 1e3 and result.settings["tv_weight"] == 1.0
    assert result.settings["content_image"] == "astronaut.jpg" and result.settings["style_image"] == "style_mosaic.jpg"
    assert explorer.progress.value == 4 and "done" in explorer.status.value
    assert Image.open(io.BytesIO(explorer.preview.value)).format == "PNG"
    assert not explorer.run_button.disabled and explorer.stop_button.disabled
    # oracle: the same call made directly
    direct = nst.stylize(
        nst.load_image(explorer.images_dir / "astronaut.jpg", size=40),
        nst.load_image(explorer.images_dir / "style_mosaic.jpg", size=40),
        content_layers=("relu2_1",),
        style_layers=("relu1_1", "relu2_1"),
        style_weight=1e3,
        tv_weight=1.0,
        steps=4,
        weights="random",
        progress=False,
    )
    assert result.history["total"] == pytest.approx(direct.history["total"], rel=1e-5)
    torch.testing.assert_close(result.image, direct.image, atol=1e-5, rtol=0)  # like with like: the same call


def test_stop_button_halts_a_background_run_and_keeps_the_result(explorer):
    explorer.steps.value = 400
    thread = explorer.start()
    assert thread is not None and explorer.running and explorer.run_button.disabled
    _wait_until(lambda: explorer.progress.value >= 2)
    explorer.stop_button.click()
    result = explorer.wait(120)
    assert not explorer.running
    assert result is not None and 2 <= result.steps_done < 400
    assert len(result.history["total"]) == result.steps_done
    assert result.image.shape == (1, 3, 21, 32)
    assert "stopped" in explorer.status.value and explorer.error is None
    assert not explorer.run_button.disabled and explorer.stop_button.disabled


def test_no_layers_is_refused_with_a_message(explorer):
    explorer.style_layers.value = ()
    with pytest.raises(nst.InputError, match="at least one"):
        explorer.run()
    assert explorer.start() is None  # the Run button path: nothing starts, the status says why
    assert "at least one content layer" in explorer.status.value and explorer.error
    assert not explorer.run_button.disabled


def test_upload_becomes_the_chosen_image(explorer, tmp_path):
    rng = np.random.default_rng(0)
    picture = Image.fromarray(rng.integers(0, 256, (20, 40, 3), dtype=np.uint8))
    buffer = io.BytesIO()
    picture.save(buffer, format="png")
    explorer.style_upload.value = (
        {
            "name": "mine.png",
            "type": "image/png",
            "size": len(buffer.getvalue()),
            "content": memoryview(buffer.getvalue()),
            "last_modified": datetime.now(timezone.utc),
        },
    )
    assert explorer.style_choice.value == "⬆ mine.png" and "⬆ mine.png" in explorer.content_choice.options
    picture.save(tmp_path / "mine.png")
    torch.testing.assert_close(explorer.image("style"), nst.load_image(tmp_path / "mine.png", size=32))


def test_given_tensors_and_missing_folders(images_dir, content_image, tmp_path):
    ex = widgets.style_explorer(
        content=content_image, style=images_dir / "style_dots.jpg", images_dir=tmp_path, size=32, weights="random"
    )
    assert ex.content_choice.value == "(given content)" and ex.style_choice.value == "style_dots.jpg"
    torch.testing.assert_close(ex.image("content"), nst.resize_image(content_image, 32))
    with pytest.raises(nst.InputError, match="No images"):
        widgets.style_explorer(images_dir=tmp_path / "nowhere")
    with pytest.raises(nst.InputError, match="No content image"):
        widgets.style_explorer(content=tmp_path / "nope.jpg", images_dir=images_dir)


def _normalised(maps: torch.Tensor) -> torch.Tensor:
    low = maps.amin(dim=(1, 2), keepdim=True)
    high = maps.amax(dim=(1, 2), keepdim=True)
    return torch.nan_to_num((maps - low) / (high - low), nan=0.0)  # a dead (constant) map is shown as 0


def test_feature_browser_shows_the_layers_maps(content_image):
    browser = widgets.feature_browser(content_image, weights="random", channels=16, ncols=8, tile=24)
    vgg = nst.VGGFeatures("vgg19", ("relu1_1", "relu3_1"), weights="random", device="cpu")
    with torch.no_grad():
        reference = vgg(content_image)
    assert browser.layer.value == "relu1_1" and list(browser.layer.options) == nst.layer_names("vgg19")
    torch.testing.assert_close(browser.maps, _normalised(reference["relu1_1"][0, :16]))
    first_grid, first_png = browser.mosaic.copy(), browser.grid.value
    assert first_grid.shape == (2 * 16 + 2, 8 * 24 + 7 * 2, 3)  # 2 x 8 tiles of 16 x 24 px (43 x 64 scaled), 2 px gaps
    assert browser.first.max == 64 - 16

    browser.layer.value = "relu3_1"  # the slider moves: the grid follows
    assert browser.mosaic.shape == (2 * 15 + 2, 206, 3)  # relu3_1 is 10 x 16 px: tiles of 15 x 24 px
    assert browser.grid.value != first_png
    assert "relu3_1" in browser.info.value and "256 channels of 10×16 px" in browser.info.value
    assert browser.first.max == 256 - 16
    torch.testing.assert_close(browser.maps, _normalised(reference["relu3_1"][0, :16]))

    browser.first.value = 32  # page through the channels
    torch.testing.assert_close(browser.maps, _normalised(reference["relu3_1"][0, 32:48]))
    assert "showing 32–47" in browser.info.value
    browser.first.value = 240
    browser.layer.value = "relu1_1"  # 64 channels: the page is clamped to the last one
    assert browser.first.value == 48 and "showing 48–63" in browser.info.value
    torch.testing.assert_close(browser.maps, _normalised(reference["relu1_1"][0, 48:64]))


def test_feature_browser_from_a_path_and_bad_options(images_dir):
    browser = widgets.feature_browser(
        images_dir / "coffee.jpg", weights="random", size=(32, 32), layer="pool5", channels=4, ncols=2, tile=10
    )
    assert browser.image.shape[-2:] == (32, 32) and browser.maps.shape == (4, 1, 1)
    assert (browser.maps == 0).all()  # a 1x1 map is constant: shown as 0, not NaN
    assert browser.mosaic.shape == (2 * 10 + 2, 2 * 10 + 2, 3)
    with pytest.raises(nst.InputError, match="Unknown layer"):
        widgets.feature_browser(images_dir / "coffee.jpg", weights="random", layer="relu9_9")


def test_explorer_starts_at_the_weights_own_defaults(images_dir):
    """HED's Caffe-scale weights get their own α, β, γ and VGG-16's layers; the grid keeps each default exactly."""
    from nstlib.weights.sources import SOURCES

    ex = widgets.style_explorer(images_dir=images_dir, size=32, steps=3, weights="hed")
    d = SOURCES["hed"].defaults
    assert (ex.content_weight.value, ex.style_weight.value, ex.tv_weight.value) == (
        d.content_weight,
        d.style_weight,
        d.tv_weight,
    )
    assert ex.arch == "vgg16" and list(ex.style_layers.options) == nst.layer_names("vgg16")
    for slider in (ex.content_weight, ex.style_weight, ex.tv_weight):  # value = base^(min + k·step) for an integer k
        k = (np.log10(slider.value) - slider.min) / slider.step
        assert abs(k - round(k)) < 1e-9
