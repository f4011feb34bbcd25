"""Reading, checking, resizing and writing images.

At every public boundary an image is a float32 tensor of shape (B, 3, H, W) with values in [0, 1].
"""
from __future__ import annotations

import os
import tempfile
import warnings
from pathlib import Path
from typing import Union

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from nstlib.errors import ImageError, InputError, OutputError

__all__ = ["load_image", "save_image", "check_image", "resize_image", "to_pil", "ImageSize"]

ImageSize = Union[int, tuple[int, int]]  # long side, or (H, W)
PathLike = Union[str, os.PathLike]

_SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}


def _open(path: Path) -> Image.Image:
    """Open and fully decode an image file, turning every failure into an ImageError."""
    if not path.exists():
        raise ImageError(f"No image at '{path}': the file does not exist. Check the path and its spelling.")
    if path.is_dir():
        raise ImageError(f"'{path}' is a folder, not an image file. Pass the path of one image inside it.")
    if path.stat().st_size == 0:
        raise ImageError(f"'{path}' is empty (0 bytes): it was probably not saved or downloaded completely.")
    try:
        with warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that; treat both as a bomb.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(
            f"'{path}' declares more pixels than Pillow allows ({Image.MAX_IMAGE_PIXELS:,}); it may be a "
            "decompression bomb. Shrink it with an image editor first, or raise PIL.Image.MAX_IMAGE_PIXELS "
            "if you trust the file."
        ) from None
    except UnidentifiedImageError:
        head = path.read_bytes()[:64]
        kind = "text" if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head) else "data"
        raise ImageError(
            f"'{path}' is not an image Pillow can read (its first bytes look like {kind}, whatever its "
            "name says). Use a PNG or JPEG file."
        ) from None
    except OSError as exc:
        raise ImageError(
            f"'{path}' is truncated or corrupt ({exc}). Re-save or re-download the image."
        ) from None
    return image


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB; transparency is composited on white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I;16") or array.max() > 255 else 255.0
        array = np.clip(array / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        image = Image.fromarray(array, mode="L")
    if image.mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    if image.mode in ("LA", "La", "RGBa", "PA"):
        image = image.convert("RGBA")
    if image.mode == "RGBA":
        background = Image.new("RGBA", image.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, image)
    return image.convert("RGB")


def _target_size(width: int, height: int, size: ImageSize) -> tuple[int, int]:
    """(H, W) for a long side or an explicit (H, W)."""
    if isinstance(size, int) and not isinstance(size, bool):
        if size < 1:
            raise InputError(f"size must be a positive number of pixels, got {size}.")
        scale = size / max(width, height)
        return max(1, round(height * scale)), max(1, round(width * scale))
    if isinstance(size, (tuple, list)) and len(size) == 2 and all(isinstance(s, int) and s > 0 for s in size):
        return int(size[0]), int(size[1])
    raise InputError(f"size must be an int (the long side) or a pair (H, W) of positive ints, got {size!r}.")


def load_image(path: PathLike, size: ImageSize | None = None, device: torch.device | str | None = None) -> torch.Tensor:
    """Read an image file as a (1, 3, H, W) float32 tensor in [0, 1].

    ``size`` is the long side in pixels (aspect ratio kept) or an explicit ``(H, W)``. EXIF
    orientation is applied; grayscale, palette, RGBA/LA (composited on white), CMYK and 16-bit
    images become RGB. Anything unreadable raises :class:`ImageError` saying what is wrong.

    >>> img = load_image("images/chelsea.jpg", size=128)   # doctest: +SKIP
    >>> img.shape                                           # doctest: +SKIP
    torch.Size([1, 3, 85, 128])
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InputError(f"load_image expects a file path, got {type(path).__name__}.")
    path = Path(path).expanduser()
    image = _open(path)
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block should not stop us from using the pixels
        pass
    image = _to_rgb(image)
    if size is not None:
        h, w = _target_size(image.width, image.height, size)
        if (w, h) != image.size:
            image = image.resize((w, h), Image.Resampling.LANCZOS, reducing_gap=3.0)
    array = np.asarray(image, dtype=np.float32) / 255.0  # (H, W, 3)
    tensor = torch.from_numpy(array.copy()).permute(2, 0, 1).unsqueeze(0).contiguous()
    return tensor.to(device) if device is not None else tensor


def check_image(image: object, name: str = "image") -> torch.Tensor:
    """Validate an image tensor and return it as (B, 3, H, W) float.

    Accepts (3, H, W) and adds the batch dimension. Raises :class:`InputError` for a wrong type,
    shape or channel count, and for NaN or infinite values.
    """
    if not isinstance(image, torch.Tensor):
        raise InputError(
            f"{name} must be a torch.Tensor of shape (B, 3, H, W) with values in [0, 1], got "
            f"{type(image).__name__}. Use nst.load_image(path) to read a file."
        )
    if image.dim() == 3:
        image = image.unsqueeze(0)
    if image.dim() != 4 or image.shape[1] != 3:
        raise InputError(f"{name} must have shape (B, 3, H, W), got {tuple(image.shape)}.")
    if not image.is_floating_point():
        raise InputError(f"{name} must be a float tensor in [0, 1], got dtype {image.dtype}. Divide by 255.")
    if not torch.isfinite(image).all():
        bad = int((~torch.isfinite(image)).sum())
        raise InputError(f"{name} contains {bad} NaN or infinite values; every pixel must be a finite number.")
    return image


def resize_image(image: torch.Tensor, size: ImageSize) -> torch.Tensor:
    """Resize a (B, 3, H, W) tensor to a long side or an (H, W), with antialiasing."""
    h, w = _target_size(image.shape[-1], image.shape[-2], size)
    if (h, w) == tuple(image.shape[-2:]):
        return image
    out = F.interpolate(image, size=(h, w), mode="bicubic", align_corners=False, antialias=True)
    return out.clamp(0.0, 1.0)


def to_pil(image: torch.Tensor) -> Image.Image:
    """The first image of a batch as an 8-bit RGB PIL image."""
    image = check_image(image)[0].detach().float().clamp(0, 1).cpu()
    array = (image.permute(1, 2, 0).numpy() * 255.0 + 0.5).astype(np.uint8)
    return Image.fromarray(array, mode="RGB")


def _place_without_overwrite(tmp: str, path: Path) -> None:
    """Rename ``tmp`` to ``path`` unless ``path`` exists (atomic where hard links work)."""
    try:
        os.link(tmp, path)  # fails with FileExistsError if a file appeared meanwhile
    except FileExistsError:
        raise
    except OSError:  # file systems without hard links (FAT, some network drives)
        if path.exists():
            raise FileExistsError(path) from None
        os.replace(tmp, path)
        return
    os.unlink(tmp)


def save_image(image: torch.Tensor, path: PathLike, overwrite: bool = False) -> Path:
    """Write the first image of a batch as PNG or JPEG (chosen by the suffix) and return the path.

    The file is written to a temporary name in the same folder and then renamed, so a crash never
    leaves half a file. An existing file is kept unless ``overwrite=True``. Missing folders are
    created.

    >>> save_image(torch.rand(1, 3, 8, 8), "outputs/noise.png")   # doctest: +SKIP
    """
    path = Path(path).expanduser()
    fmt = _SAVE_FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise OutputError(f"Cannot save '{path}': use a .png, .jpg or .jpeg file name.")
    if path.is_dir():
        raise OutputError(f"Cannot save to '{path}': it is a folder. Give a file name such as '{path / 'result.png'}'.")
    if path.exists() and not overwrite:
        raise OutputError(f"'{path}' already exists; nothing was written. Choose another name or pass overwrite=True.")
    picture = to_pil(image)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise OutputError(f"Cannot write into '{path.parent}': {exc.strerror or exc}. Choose a folder you can write to.") from None
    try:
        with os.fdopen(fd, "wb") as handle:
            picture.save(handle, format=fmt, **({"quality": 95} if fmt == "JPEG" else {}))
        if overwrite:
            os.replace(tmp, path)
        else:
            _place_without_overwrite(tmp, path)
    except FileExistsError:
        os.unlink(tmp)
        raise OutputError(f"'{path}' already exists; nothing was written. Choose another name or pass overwrite=True.") from None
    except OSError as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise OutputError(f"Could not write '{path}': {exc.strerror or exc}.") from None
    return path
