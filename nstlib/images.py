"""Reading, checking, resizing and writing images.

At every public boundary an image is a float32 tensor of shape (B, 3, H, W) with values in [0, 1].
"""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps, UnidentifiedImageError

from nstlib.device import available_memory
from nstlib.errors import ImageError, InputError, OutputError

__all__ = [
    "load_image",
    "save_image",
    "check_image",
    "resize_image",
    "to_pil",
    "ImageSize",
    "check_output_path",
    "write_atomically",
]

ImageSize = int | tuple[int, int]  # long side, or (H, W)
PathLike = str | os.PathLike

_SAVE_FORMATS = {".png": "PNG", ".jpg": "JPEG", ".jpeg": "JPEG"}
# Photos above this many pixels are decoded at 1/2, 1/4 or 1/8 scale when a smaller size is asked for
# (JPEG's DCT scaling, as Image.thumbnail does); smaller files are always decoded in full.
_DRAFT_MIN_PIXELS = 4_000_000
# First bytes of the formats people actually hand us, to tell "truncated PNG" from "not an image".
_SIGNATURES = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF8", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
    (b"RIFF", "WEBP"),
)


def _sniff(head: bytes) -> str | None:
    """The format a file's first bytes announce, or None."""
    return next((name for magic, name in _SIGNATURES if head.startswith(magic)), None)


def _size_text(n: float) -> str:
    return f"{n / 2**30:.1f} GB" if n >= 2**30 else f"{n / 2**20:.0f} MB"


def _draft(image: Image.Image, size: ImageSize) -> None:
    """Ask Pillow to decode a large JPEG at a reduced scale that is still at least twice ``size``."""
    width, height = image.size
    if image.format != "JPEG" or width * height < _DRAFT_MIN_PIXELS:
        return
    try:
        turned = image.getexif().get(0x0112, 1) in (5, 6, 7, 8)  # EXIF says: show it rotated by 90°
    except Exception:
        turned = False
    shown_w, shown_h = (height, width) if turned else (width, height)
    target_h, target_w = _target_size(shown_w, shown_h, size)
    want_w, want_h = (target_h, target_w) if turned else (target_w, target_h)  # back to stored orientation
    image.draft(None, (2 * want_w, 2 * want_h))


def _check_decode_memory(path: Path, image: Image.Image, resized: bool) -> None:
    """Refuse before decoding when the pixels (and the float tensor made from them) cannot fit in RAM."""
    free = available_memory("cpu")
    if free is None:
        return
    width, height = image.size
    decode = 8 * width * height  # Pillow's 4 bytes per pixel, plus one converted copy
    tensor = 0 if resized else 12 * width * height  # float32 RGB at full size
    if decode > free:
        raise ImageError(
            f"'{path}' is {width}x{height} px; decoding it needs about {_size_text(decode)} of memory but only "
            f"{_size_text(free)} is free. Shrink it with an image editor first (a few thousand pixels on the long "
            "side is plenty), or free some memory."
        )
    if decode + tensor > free:
        raise ImageError(
            f"'{path}' is {width}x{height} px; as a full-size tensor it needs about {_size_text(decode + tensor)} of "
            f"memory but only {_size_text(free)} is free. Load it smaller, e.g. load_image(path, size=1024)."
        )


def _open(path: Path, size: ImageSize | None = None) -> Image.Image:
    """Open and fully decode an image file, turning every failure into an ImageError that says what to do."""
    if not path.exists():
        raise ImageError(f"No image at '{path}': the file does not exist. Check the path and its spelling.")
    if path.is_dir():
        raise ImageError(f"'{path}' is a folder, not an image file. Pass the path of one image inside it.")
    if not path.is_file():
        raise ImageError(f"'{path}' is not a regular file (a device or a pipe?). Pass the path of a PNG or JPEG file.")
    if path.stat().st_size == 0:
        raise ImageError(
            f"'{path}' is empty (0 bytes): it was probably not saved or downloaded completely. "
            "Save or download it again."
        )
    try:
        with open(path, "rb") as handle, warnings.catch_warnings():
            # Pillow only warns between MAX_IMAGE_PIXELS and twice that; treat both as a bomb.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(handle)  # reads the header only
            if size is not None:
                _draft(image, size)
            _check_decode_memory(path, image, resized=size is not None)
            image.load()
    except (ImageError, InputError):
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageError(
            f"'{path}' declares more pixels than Pillow allows ({Image.MAX_IMAGE_PIXELS:,}); it may be a "
            "decompression bomb. Shrink it with an image editor first, or raise PIL.Image.MAX_IMAGE_PIXELS "
            "if you trust the file."
        ) from None
    except PermissionError:
        raise ImageError(f"'{path}' cannot be read: permission denied. Check the file's permissions.") from None
    except MemoryError:
        raise ImageError(f"Not enough memory to decode '{path}'. Shrink it with an image editor first.") from None
    except UnidentifiedImageError:
        head = path.read_bytes()[:64]
        announced = _sniff(head)
        if announced:
            raise ImageError(
                f"'{path}' starts like a {announced} file but Pillow cannot read it: it is truncated or corrupt. "
                "Re-save or re-download the image."
            ) from None
        kind = "text" if head and all(32 <= b < 127 or b in (9, 10, 13) for b in head) else "data"
        raise ImageError(
            f"'{path}' is not an image Pillow can read (its first bytes look like {kind}, whatever its "
            "name says). Use a PNG or JPEG file."
        ) from None
    except Exception as exc:  # OSError "image file is truncated", broken data streams, bad chunks
        detail = " ".join(str(exc).split()) or type(exc).__name__
        raise ImageError(f"'{path}' is truncated or corrupt ({detail}). Re-save or re-download the image.") from None
    return image


def _to_rgb(image: Image.Image) -> Image.Image:
    """Convert any Pillow mode to 8-bit RGB; transparency is composited on white."""
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        array = np.asarray(image, dtype=np.float64)
        peak = float(array.max()) if array.size else 0.0
        if image.mode.startswith("I;16") or peak > 255:
            top = 65535.0  # 16-bit samples
        else:
            top = 1.0 if image.mode == "F" and peak <= 1.0 else 255.0  # float images are usually in [0, 1]
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

    ``size`` is the long side in pixels (aspect ratio kept) or an explicit ``(H, W)``; a large JPEG
    is then decoded at reduced scale, so a phone photo never sits in memory at full size. EXIF
    orientation is applied; grayscale, palette, RGBA/LA (composited on white), CMYK and 16-bit
    images become RGB. Anything unreadable raises :class:`ImageError` saying what is wrong and
    what to do; a file too large to decode in the free memory is refused before decoding.

    >>> img = load_image("images/chelsea.jpg", size=128)
    >>> img.shape
    torch.Size([1, 3, 85, 128])
    """
    if not isinstance(path, (str, os.PathLike)):
        raise InputError(f"load_image expects a file path, got {type(path).__name__}.")
    if size is not None:
        _target_size(1, 1, size)  # a bad size is the caller's mistake, not the file's: say so first
    path = Path(path).expanduser()
    image = _open(path, size)
    try:
        image = ImageOps.exif_transpose(image)
    except Exception:  # a broken EXIF block should not stop us from using the pixels
        pass
    try:
        image = _to_rgb(image)
    except (ValueError, OSError) as exc:  # a mode Pillow cannot convert
        raise ImageError(
            f"'{path}' uses the colour mode {image.mode!r}, which cannot be converted to RGB ({exc}). "
            "Re-save it as an RGB PNG or JPEG."
        ) from None
    if size is not None:
        h, w = _target_size(image.width, image.height, size)
        if (w, h) != image.size:
            image = image.resize((w, h), Image.Resampling.LANCZOS, reducing_gap=3.0)
    array = np.asarray(image, dtype=np.float32)  # (H, W, 3), a fresh writable array
    array /= 255.0
    tensor = torch.from_numpy(array).permute(2, 0, 1).unsqueeze(0).contiguous()
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


def _umask() -> int:
    """The process's umask, read without changing it where the system allows (Linux)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # elsewhere: the classic read-by-setting, restored at once
    os.umask(mask)
    return mask


def _exists_message(path: Path) -> str:
    return f"'{path}' already exists; nothing was written. Choose another name or pass overwrite=True (--overwrite)."


def check_output_path(path: PathLike, overwrite: bool = False) -> Path:
    """Check, before any work is done, that ``save_image`` could write ``path``; return it as a Path.

    Raises :class:`OutputError` for a suffix other than .png/.jpg/.jpeg, a folder, an existing file
    (unless ``overwrite``), or a location that cannot be created or written to. Missing folders are
    fine: :func:`save_image` creates them.
    """
    path = Path(path).expanduser()
    if path.is_dir():
        raise OutputError(f"Cannot save to '{path}': it is a folder. Give a file name such as '{path / 'result.png'}'.")
    if path.suffix.lower() not in _SAVE_FORMATS:
        raise OutputError(f"Cannot save '{path}': use a .png, .jpg or .jpeg file name.")
    if (path.exists() or path.is_symlink()) and not overwrite:
        raise OutputError(_exists_message(path))
    folder = path.parent if str(path.parent) else Path(".")
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise OutputError(
            f"Cannot create the folder '{folder}': '{existing}' is a file, not a folder. Choose another location."
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise OutputError(f"Cannot write into '{existing}': permission denied. Choose a folder you can write to.")
    return path


def write_atomically(path: Path, write: Callable[[BinaryIO], object], overwrite: bool = False) -> Path:
    """Call ``write(handle)`` on a temporary file next to ``path``, then rename it to ``path``.

    A failure (disk full, Ctrl-C, an exception in ``write``) removes the temporary file, so there is
    never half a file and never a stray ``.part`` file. The file gets the usual permissions
    (0666 minus the umask, as ``open()`` would give), not ``mkstemp``'s private 0600. An existing
    ``path`` is kept unless ``overwrite=True``. Missing folders are created.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise OutputError(
            f"Cannot write into '{path.parent}': {exc.strerror or exc}. Choose a folder you can write to."
        ) from None
    placed = False
    try:
        with os.fdopen(fd, "wb") as handle:
            os.chmod(tmp, 0o666 & ~_umask())
            write(handle)
        if overwrite:
            os.replace(tmp, path)
        else:
            _place_without_overwrite(tmp, path)
        placed = True
    except FileExistsError:
        raise OutputError(_exists_message(path)) from None
    except OSError as exc:
        raise OutputError(
            f"Could not write '{path}': {exc.strerror or exc}. Nothing was written; check the free "
            "disk space and the folder's permissions."
        ) from None
    finally:
        if not placed and os.path.lexists(tmp):
            os.unlink(tmp)
    return path


def save_image(image: torch.Tensor, path: PathLike, overwrite: bool = False) -> Path:
    """Write the first image of a batch as PNG or JPEG (chosen by the suffix) and return the path.

    The file is written to a temporary name in the same folder and then renamed, so a crash never
    leaves half a file. An existing file is kept unless ``overwrite=True``. Missing folders are
    created. Problems raise :class:`OutputError` (path) or :class:`InputError` (a non-finite image).

    >>> save_image(torch.rand(1, 3, 8, 8), "outputs/noise.png")   # the folder is made; returns the path
    PosixPath('outputs/noise.png')
    """
    path = check_output_path(path, overwrite)
    fmt = _SAVE_FORMATS[path.suffix.lower()]
    picture = to_pil(image)
    options = {"quality": 95} if fmt == "JPEG" else {}
    return write_atomically(path, lambda handle: picture.save(handle, format=fmt, **options), overwrite)
