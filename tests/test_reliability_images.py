"""Reading and writing images when things go wrong: bad files, odd modes, huge pictures, bad paths.

Every test builds its own files with Pillow in tmp_path; the expected pixels come from Pillow's own
arrays or from arithmetic (composite on white, 16-bit scaling), never from nstlib.
"""

from __future__ import annotations

import errno
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import nstlib as nst
from nstlib import images


def _pixels(t: torch.Tensor) -> np.ndarray:
    """(1, 3, H, W) tensor -> (H, W, 3) array in [0, 1]."""
    return t[0].permute(1, 2, 0).numpy()


def _noise(h: int, w: int, seed: int = 0) -> np.ndarray:
    return (np.random.default_rng(seed).random((h, w, 3)) * 255).astype(np.uint8)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _handmade_png(path: Path, width: int, height: int, bit_depth: int, colour_type: int, raw: bytes | None) -> Path:
    """A PNG written byte by byte; raw=None gives a header with no pixel data at all."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    body = _png_chunk(b"IHDR", ihdr)
    if raw is not None:
        body += _png_chunk(b"IDAT", zlib.compress(raw))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body + _png_chunk(b"IEND", b""))
    return path


# --------------------------------------------------------------------------- files that are not images


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(nst.ImageError, match="does not exist") as info:
        nst.load_image(tmp_path / "nope.jpg")
    assert "Check the path" in str(info.value)


def test_zero_byte_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(nst.ImageError, match=r"is empty \(0 bytes\)"):
        nst.load_image(path)


@pytest.mark.parametrize("suffix", ["png", "jpg"])
@pytest.mark.parametrize("keep", [0.6, 0.2])
def test_truncated_png_and_jpeg(tmp_path: Path, suffix: str, keep: float) -> None:
    whole = tmp_path / f"whole.{suffix}"
    Image.fromarray(_noise(60, 80)).save(whole)
    nst.load_image(whole)  # the complete file is fine
    cut = tmp_path / f"cut.{suffix}"
    data = whole.read_bytes()
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(nst.ImageError, match="truncated or corrupt") as info:
        nst.load_image(cut)
    assert "re-download" in str(info.value)


def test_png_cut_inside_its_header_is_called_truncated_not_unknown(tmp_path: Path) -> None:
    whole = tmp_path / "whole.png"
    Image.fromarray(_noise(20, 20)).save(whole)
    cut = tmp_path / "cut.png"
    cut.write_bytes(whole.read_bytes()[:30])  # signature and half the IHDR chunk
    with pytest.raises(nst.ImageError, match="starts like a PNG file .* truncated or corrupt"):
        nst.load_image(cut)


def test_text_file_named_jpg(tmp_path: Path) -> None:
    path = tmp_path / "photo.jpg"
    path.write_text("<html><body>404 Not Found</body></html>\n")
    with pytest.raises(nst.ImageError, match="look like text, whatever its name says"):
        nst.load_image(path)


def test_random_bytes_named_png(tmp_path: Path) -> None:
    path = tmp_path / "noise.png"
    path.write_bytes(bytes(np.random.default_rng(1).integers(0, 256, 500, dtype=np.uint8)))
    with pytest.raises(nst.ImageError, match="look like data"):
        nst.load_image(path)


def test_folder_passed_as_image(tmp_path: Path) -> None:
    with pytest.raises(nst.ImageError, match="is a folder, not an image file"):
        nst.load_image(tmp_path)


def test_wrong_argument_types_are_input_errors(tmp_path: Path) -> None:
    path = tmp_path / "ok.png"
    Image.fromarray(_noise(10, 10)).save(path)
    with pytest.raises(nst.InputError, match="expects a file path"):
        nst.load_image(123)  # type: ignore[arg-type]
    with pytest.raises(nst.InputError, match="size must be"):
        nst.load_image(path, size=0)
    with pytest.raises(nst.InputError, match="size must be"):
        nst.load_image(path, size=(10, "a"))  # type: ignore[arg-type]


# --------------------------------------------------------------------------- image bombs and huge images


@pytest.mark.parametrize("pixels", [50 * 50, 40 * 40])  # beyond 2x the limit: Pillow errors; 1x-2x: it only warns
def test_image_bomb_over_pillows_limit(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, pixels: int) -> None:
    side = int(pixels**0.5)
    path = tmp_path / "bomb.png"
    Image.fromarray(_noise(side, side)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 1000)
    with pytest.raises(nst.ImageError, match="decompression bomb") as info:
        nst.load_image(path)
    assert "1,000" in str(info.value) and "MAX_IMAGE_PIXELS" in str(info.value)


def test_header_only_gigapixel_png_is_refused_without_decoding(tmp_path: Path) -> None:
    path = _handmade_png(tmp_path / "giga.png", 100_000, 100_000, 8, 2, raw=None)  # 10^10 px claimed, 70 bytes
    assert path.stat().st_size < 100
    with pytest.raises(nst.ImageError, match="decompression bomb"):
        nst.load_image(path)


def test_huge_header_with_pillows_limit_switched_off_is_refused_by_the_memory_check(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = _handmade_png(tmp_path / "giga.png", 100_000, 100_000, 8, 2, raw=None)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", None)
    monkeypatch.setattr(images, "available_memory", lambda device: 2**30)
    with pytest.raises(nst.ImageError, match=r"100000x100000 px; decoding it needs about .* only 1\.0 GB is free"):
        nst.load_image(path)


@pytest.fixture
def big_photo(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    """A 2400x1800 picture (4.3 MP, above the draft threshold) as JPEG and PNG."""
    y, x = np.mgrid[0:1800, 0:2400]
    array = np.stack([x * 255 // 2399, y * 255 // 1799, (x + y) * 255 // 4198], axis=-1).astype(np.uint8)
    jpg, png = tmp_path / "big.jpg", tmp_path / "big.png"
    Image.fromarray(array).save(jpg, quality=90)
    Image.fromarray(array).save(png, compress_level=1)
    return jpg, png, array


def test_huge_jpeg_is_shrunk_while_decoding(
    big_photo: tuple[Path, Path, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    jpg, _, array = big_photo
    # 4 MB free: the full 2400x1800 decode (~35 MB) could not happen, a 1/8-scale decode can.
    monkeypatch.setattr(images, "available_memory", lambda device: 4 * 2**20)
    small = nst.load_image(jpg, size=64)
    assert small.shape == (1, 3, 48, 64)
    reference = np.asarray(Image.fromarray(array).resize((64, 48), Image.Resampling.LANCZOS), dtype=np.float32) / 255
    assert np.abs(_pixels(small) - reference).mean() < 0.02
    with pytest.raises(nst.ImageError, match=r"2400x1800 px; decoding it needs about .* Shrink it"):
        nst.load_image(jpg)  # no size: the whole picture would have to be decoded


def test_huge_png_refused_clearly_when_it_cannot_fit(
    big_photo: tuple[Path, Path, np.ndarray], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, png, _ = big_photo
    monkeypatch.setattr(images, "available_memory", lambda device: 4 * 2**20)
    with pytest.raises(nst.ImageError, match="Shrink it with an image editor"):
        nst.load_image(png, size=64)  # PNG cannot be decoded at reduced scale
    # Enough for the decode but not for a full-size float tensor: asked to load it smaller.
    monkeypatch.setattr(images, "available_memory", lambda device: 60 * 2**20)
    with pytest.raises(nst.ImageError, match=r"Load it smaller, e\.g\. load_image\(path, size=1024\)"):
        nst.load_image(png)
    assert nst.load_image(png, size=64).shape == (1, 3, 48, 64)


# --------------------------------------------------------------------------- colour modes


def test_grayscale_becomes_three_equal_channels(tmp_path: Path) -> None:
    gray = np.arange(48, dtype=np.uint8).reshape(6, 8) * 5
    Image.fromarray(gray).save(tmp_path / "g.png")
    out = _pixels(nst.load_image(tmp_path / "g.png"))
    # exact: 8-bit values divided by 255 once, a correctly rounded IEEE operation on every CPU
    assert np.array_equal(out, np.repeat(gray[..., None], 3, axis=-1) / np.float32(255))


def test_palette_image(tmp_path: Path) -> None:
    colours = np.array([[255, 0, 0], [0, 128, 0], [10, 20, 250], [200, 200, 30]], dtype=np.uint8)
    array = colours[np.random.default_rng(2).integers(0, 4, (12, 16))]
    Image.fromarray(array).convert("P", palette=Image.Palette.ADAPTIVE, colors=4).save(tmp_path / "p.png")
    assert Image.open(tmp_path / "p.png").mode == "P"
    assert np.array_equal(_pixels(nst.load_image(tmp_path / "p.png")), array / np.float32(255))


def test_palette_with_transparency_is_composited_on_white(tmp_path: Path) -> None:
    image = Image.new("P", (4, 2))
    image.putpalette([0, 0, 255, 255, 0, 0] + [0] * 762)
    image.putdata([0, 1, 0, 1, 1, 0, 1, 0])
    image.save(tmp_path / "pt.png", transparency=0)  # index 0 (blue) is fully transparent
    out = _pixels(nst.load_image(tmp_path / "pt.png"))
    assert np.array_equal(out[0, 0], [1, 1, 1]) and np.array_equal(out[0, 1], [1, 0, 0])


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_alpha_is_composited_on_white(tmp_path: Path, mode: str) -> None:
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (10, 12, 3)).astype(np.float64)
    if mode == "LA":
        rgb[..., 1] = rgb[..., 2] = rgb[..., 0]
    alpha = rng.integers(0, 256, (10, 12, 1)).astype(np.float64)
    channels = [rgb, alpha] if mode == "RGBA" else [rgb[..., :1], alpha]
    Image.fromarray(np.concatenate(channels, axis=-1).astype(np.uint8), mode=mode).save(tmp_path / "a.png")
    expected = (rgb * alpha + 255 * (255 - alpha)) / 255 / 255  # over a white background
    assert np.abs(_pixels(nst.load_image(tmp_path / "a.png")) - expected).max() <= 1.01 / 255


def test_cmyk_tiff_and_jpeg(tmp_path: Path) -> None:
    rgb = _noise(16, 20, seed=4)
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "c.tif")
    Image.fromarray(rgb).convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    assert Image.open(tmp_path / "c.jpg").mode == "CMYK"
    assert np.array_equal(_pixels(nst.load_image(tmp_path / "c.tif")), rgb / np.float32(255))  # lossless
    smooth = np.abs(_pixels(nst.load_image(tmp_path / "c.jpg")) - rgb / 255)
    assert smooth.shape == (16, 20, 3) and smooth.mean() < 0.15  # JPEG of noise is lossy, but the colours hold


def test_16_bit_grayscale_png(tmp_path: Path) -> None:
    values = np.linspace(0, 65535, 6 * 7).astype(np.uint16).reshape(6, 7)
    Image.fromarray(values).save(tmp_path / "g16.png")
    assert Image.open(tmp_path / "g16.png").mode.startswith("I")
    out = _pixels(nst.load_image(tmp_path / "g16.png"))
    assert np.abs(out - (values / 65535.0)[..., None]).max() <= 0.51 / 255


def test_16_bit_rgb_png(tmp_path: Path) -> None:
    values = np.random.default_rng(5).integers(0, 65536, (5, 6, 3)).astype(">u2")
    raw = b"".join(b"\x00" + row.tobytes() for row in values)  # filter type 0 per scanline
    path = _handmade_png(tmp_path / "rgb16.png", 6, 5, 16, 2, raw)
    out = _pixels(nst.load_image(path))
    assert np.abs(out - values.astype(np.float64) / 65535).max() <= 1.01 / 255


@pytest.mark.parametrize("orientation, top", [(6, "red"), (8, "blue"), (3, "blue-left")])
def test_exif_rotation_is_applied(tmp_path: Path, orientation: int, top: str) -> None:
    array = np.zeros((20, 40, 3), dtype=np.uint8)  # stored: red left half, blue right half
    array[:, :20, 0] = 255
    array[:, 20:, 2] = 255
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(array).save(tmp_path / "r.jpg", exif=exif, quality=95)
    out = _pixels(nst.load_image(tmp_path / "r.jpg"))
    red, blue = np.array([1, 0, 0]), np.array([0, 0, 1])
    if orientation == 3:  # rotated by 180°: still 20x40, blue now on the left
        assert out.shape == (20, 40, 3)
        assert np.abs(out[10, 5] - blue).max() < 0.1 and np.abs(out[10, 35] - red).max() < 0.1
        return
    assert out.shape == (40, 20, 3)  # 6: 90° clockwise (left edge on top); 8: counter-clockwise
    first, second = (red, blue) if top == "red" else (blue, red)
    assert np.abs(out[5, 10] - first).max() < 0.1 and np.abs(out[35, 10] - second).max() < 0.1


def test_exif_rotation_with_a_size_keeps_the_long_side(tmp_path: Path) -> None:
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(_noise(30, 60)).save(tmp_path / "r.jpg", exif=exif)
    assert nst.load_image(tmp_path / "r.jpg", size=32).shape == (1, 3, 32, 16)


# --------------------------------------------------------------------------- tensors handed to the API


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), float("-inf")])
def test_non_finite_tensor_is_refused(bad: float, tmp_path: Path) -> None:
    image = torch.rand(1, 3, 8, 8)
    image[0, 1, 2, 3] = bad
    with pytest.raises(nst.InputError, match="contains 1 NaN or infinite values"):
        nst.check_image(image)
    with pytest.raises(nst.InputError, match="NaN or infinite"):
        nst.save_image(image, tmp_path / "x.png")
    assert list(tmp_path.iterdir()) == []


def test_wrong_tensors_are_input_errors() -> None:
    with pytest.raises(nst.InputError, match=r"shape \(B, 3, H, W\)"):
        nst.check_image(torch.rand(1, 4, 8, 8))
    with pytest.raises(nst.InputError, match="Divide by 255"):
        nst.check_image(torch.zeros(1, 3, 8, 8, dtype=torch.uint8))
    with pytest.raises(nst.InputError, match="load_image"):
        nst.check_image(np.zeros((1, 3, 8, 8)))


# --------------------------------------------------------------------------- writing results


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def test_existing_output_is_not_overwritten(tmp_path: Path) -> None:
    target = tmp_path / "out.png"
    target.write_bytes(b"precious")
    with pytest.raises(nst.OutputError, match="already exists; nothing was written.*overwrite=True"):
        nst.save_image(torch.rand(1, 3, 8, 8), target)
    assert target.read_bytes() == b"precious" and _files(tmp_path) == ["out.png"]
    nst.save_image(torch.rand(1, 3, 8, 8), target, overwrite=True)
    assert Image.open(target).size == (8, 8) and _files(tmp_path) == ["out.png"]


def test_missing_output_folder_is_created(tmp_path: Path) -> None:
    image = torch.rand(1, 3, 6, 9)
    path = nst.save_image(image, tmp_path / "a" / "b" / "out.png")
    saved = np.asarray(Image.open(path), dtype=np.float32) / 255
    assert np.abs(saved - _pixels(image)).max() <= 0.5 / 255 + 1e-6


def test_output_under_a_file_cannot_be_written(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(nst.OutputError, match="is a file, not a folder"):
        nst.save_image(torch.rand(1, 3, 8, 8), tmp_path / "notes.txt" / "out.png")
    assert _files(tmp_path) == ["notes.txt"]


def test_output_folder_without_permission(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests may run as root, for whom chmod does not bite: ask os.access to say "no", as it would.
    monkeypatch.setattr(images.os, "access", lambda path, mode: False)
    with pytest.raises(nst.OutputError, match="permission denied. Choose a folder you can write to"):
        nst.save_image(torch.rand(1, 3, 8, 8), tmp_path / "out.png")
    assert _files(tmp_path) == []


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0, reason="root ignores folder permissions")
def test_read_only_folder(tmp_path: Path) -> None:
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(nst.OutputError, match="permission denied"):
            nst.save_image(torch.rand(1, 3, 8, 8), folder / "out.png")
    finally:
        folder.chmod(0o700)


@pytest.mark.parametrize("name, message", [("out.gif", r"use a \.png, \.jpg or \.jpeg"), ("", "it is a folder")])
def test_output_name_mistakes(tmp_path: Path, name: str, message: str) -> None:
    with pytest.raises(nst.OutputError, match=message):
        nst.save_image(torch.rand(1, 3, 8, 8), tmp_path / name if name else tmp_path)


@pytest.mark.parametrize("failure", [OSError(errno.ENOSPC, "No space left on device"), KeyboardInterrupt()])
def test_failed_write_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failure: BaseException
) -> None:
    def broken_save(self: Image.Image, fp: object, *args: object, **kwargs: object) -> None:
        fp.write(b"\x89PNG half a file")  # type: ignore[attr-defined]
        raise failure

    monkeypatch.setattr(Image.Image, "save", broken_save)
    expected = nst.OutputError if isinstance(failure, OSError) else KeyboardInterrupt
    with pytest.raises(expected) as info:
        nst.save_image(torch.rand(1, 3, 8, 8), tmp_path / "out.jpg")
    if isinstance(failure, OSError):
        assert "No space left on device" in str(info.value) and "Nothing was written" in str(info.value)
    assert _files(tmp_path) == []  # neither out.jpg nor .out.jpg.*.part


@pytest.mark.parametrize("umask", [0o022, 0o027, 0o077])
def test_saved_files_get_normal_permissions(tmp_path: Path, umask: int) -> None:
    previous = os.umask(umask)
    try:
        path = nst.save_image(torch.rand(1, 3, 8, 8), tmp_path / f"u{umask:o}.png")
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == 0o666 & ~umask


def test_check_output_path_before_any_work(tmp_path: Path) -> None:
    assert images.check_output_path(tmp_path / "new" / "x.jpg") == tmp_path / "new" / "x.jpg"
    assert not (tmp_path / "new").exists()  # checking creates nothing
    (tmp_path / "x.png").write_bytes(b"")
    with pytest.raises(nst.OutputError, match="already exists"):
        images.check_output_path(tmp_path / "x.png")
    assert images.check_output_path(tmp_path / "x.png", overwrite=True)
