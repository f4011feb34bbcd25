"""Reading, resizing and writing images (bad files and odd modes: tests/test_reliability*.py)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import nstlib as nst


def test_load_shape_range_and_sizes(images_dir: Path) -> None:
    full = nst.load_image(images_dir / "chelsea.jpg")
    assert full.dtype == torch.float32 and full.dim() == 4 and full.shape[:2] == (1, 3)
    assert 0.0 <= float(full.min()) and float(full.max()) <= 1.0
    with Image.open(images_dir / "chelsea.jpg") as pil:
        width, height = pil.size
    assert full.shape[-2:] == (height, width)
    long_side = nst.load_image(images_dir / "chelsea.jpg", size=100)
    assert max(long_side.shape[-2:]) == 100
    assert long_side.shape[-1] / long_side.shape[-2] == pytest.approx(width / height, rel=0.03)
    assert nst.load_image(str(images_dir / "chelsea.jpg"), size=(30, 50)).shape == (1, 3, 30, 50)


def test_png_round_trip_is_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, size=(20, 30, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(tmp_path / "in.png")
    image = nst.load_image(tmp_path / "in.png")
    assert torch.equal((image[0].permute(1, 2, 0) * 255).round().to(torch.uint8), torch.from_numpy(pixels))
    out = nst.save_image(image, tmp_path / "out.png")
    assert np.array_equal(np.asarray(Image.open(out)), pixels)


def test_save_is_safe(tmp_path: Path) -> None:
    image = torch.rand(1, 3, 8, 8)
    path = nst.save_image(image, tmp_path / "new" / "folder" / "a.jpg")
    assert path.is_file() and Image.open(path).format == "JPEG"
    before = path.read_bytes()
    with pytest.raises(nst.OutputError, match="already exists"):
        nst.save_image(torch.zeros(1, 3, 8, 8), path)
    assert path.read_bytes() == before
    nst.save_image(torch.zeros(1, 3, 8, 8), path, overwrite=True)
    assert path.read_bytes() != before
    assert sorted(os.listdir(path.parent)) == ["a.jpg"]  # no temporary files left behind
    with pytest.raises(nst.OutputError, match="suffix|\\.png"):
        nst.save_image(image, tmp_path / "a.gif")


def test_resize_and_to_pil() -> None:
    image = torch.rand(1, 3, 40, 80)
    assert nst.resize_image(image, 20).shape == (1, 3, 10, 20)
    assert nst.resize_image(image, (7, 9)).shape == (1, 3, 7, 9)
    pil = nst.to_pil(image)
    assert pil.size == (80, 40) and pil.mode == "RGB"


def test_show_images_returns_a_figure() -> None:
    fig = nst.show_images([torch.rand(1, 3, 8, 8), torch.rand(3, 8, 12)], titles=["a", "b"])
    assert [ax.get_title() for ax in fig.axes[:2]] == ["a", "b"]


@pytest.mark.parametrize("size", [(23, 37), (64, 96), (96, 131)])
def test_resize_image_equals_pillows_bicubic(size: tuple[int, int]) -> None:
    """Oracle: Pillow's antialiased bicubic resampling (a = -0.5) of each float channel, then [0, 1]."""
    image = torch.rand(1, 3, 48, 72, generator=torch.Generator().manual_seed(2))
    image = torch.nn.functional.avg_pool2d(image, 3, 1, 1)  # some smoothness, as in photos
    mine = nst.resize_image(image, size)
    channels = [np.asarray(Image.fromarray(c.numpy(), mode="F").resize(size[::-1], Image.BICUBIC)) for c in image[0]]
    theirs = torch.from_numpy(np.stack(channels))[None].clamp(0, 1)
    assert mine.shape == theirs.shape
    assert (mine - theirs).abs().max() < 1e-4


def test_resize_to_a_long_side_keeps_the_aspect_ratio() -> None:
    image = torch.rand(2, 3, 30, 45)
    assert nst.resize_image(image, 60).shape == (2, 3, 40, 60)
    assert nst.resize_image(image.transpose(-1, -2), 60).shape == (2, 3, 60, 40)
    assert nst.resize_image(image, (30, 45)) is image  # already that size: untouched


def test_to_pil_values_channel_order_and_batch() -> None:
    image = torch.rand(2, 3, 5, 6, generator=torch.Generator().manual_seed(3))
    array = np.asarray(nst.to_pil(image)).astype(np.float64) / 255.0  # (H, W, 3)
    assert np.abs(array - image[0].permute(1, 2, 0).numpy()).max() <= 0.5 / 255 + 1e-7  # nearest 8-bit value
    colours = torch.zeros(1, 3, 1, 3)
    colours[0, 0, 0, 0] = colours[0, 1, 0, 1] = colours[0, 2, 0, 2] = 1.0  # red, green, blue
    assert np.asarray(nst.to_pil(colours)).tolist() == [[[255, 0, 0], [0, 255, 0], [0, 0, 255]]]
    clipped = np.asarray(nst.to_pil(torch.tensor([-0.5, 0.5, 1.5]).view(1, 3, 1, 1)))
    assert clipped.tolist() == [[[0, 128, 255]]]
