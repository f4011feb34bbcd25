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
