"""Regenerate images/: photos copied from scikit-image's bundled data, the paper's paintings and photo
from ../shared/images (resized), styles drawn by this script.

Run once by the maintainers (needs scikit-image, which is not a dependency of the kit):
    python tools/make_images.py
Everything it draws is seeded, so the output is the same on every run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

OUT = Path(__file__).resolve().parent.parent / "images"
LONG_SIDE = 512


def _save(array_or_image, name: str, quality: int = 90) -> None:
    image = array_or_image if isinstance(array_or_image, Image.Image) else Image.fromarray(array_or_image)
    image = image.convert("RGB")
    scale = LONG_SIDE / max(image.size)
    if scale < 1:
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.LANCZOS)
    image.save(OUT / name, quality=quality, optimize=True)


def photos() -> None:
    from skimage import data

    for name in ("chelsea", "astronaut", "coffee", "rocket"):
        _save(getattr(data, name)(), f"{name}.jpg")
    for name in ("brick", "grass", "gravel"):
        _save(getattr(data, name)(), f"texture_{name}.jpg")


# The paintings of Gatys et al. 2016, Fig. 2, and its content photo (provenance: ../shared/images/PROVENANCE.md).
PAINTINGS = ("starry_night", "the_scream", "shipwreck", "woman-with-hat-matisse", "tubingen")


def paintings(source: Path = OUT.parent.parent / "shared" / "images") -> None:
    for name in PAINTINGS:
        with Image.open(source / f"{name}.jpg") as image:
            _save(image, f"{name}.jpg", quality=90)


def waves(size: int = 384, seed: int = 1) -> Image.Image:
    """Layered sine bands in a sea palette: long, flowing horizontal strokes."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:size, 0:size] / size
    field = sum(
        np.sin(2 * np.pi * (f * y + 0.15 * np.sin(2 * np.pi * (g * x + p))))
        for f, g, p in rng.uniform([3, 1, 0], [9, 4, 1], size=(4, 3))
    )
    palette = np.array([[16, 42, 94], [38, 98, 160], [120, 170, 210], [236, 232, 214], [24, 66, 120]], float)
    t = (field - field.min()) / (field.max() - field.min()) * (len(palette) - 1)
    lo = np.floor(t).astype(int).clip(0, len(palette) - 2)
    frac = (t - lo)[..., None]
    rgb = palette[lo] * (1 - frac) + palette[lo + 1] * frac
    return Image.fromarray(rgb.astype(np.uint8))


def mosaic(size: int = 384, cells: int = 90, seed: int = 2) -> Image.Image:
    """Stained glass: Voronoi cells in saturated colours with dark lead lines."""
    rng = np.random.default_rng(seed)
    points = rng.uniform(0, size, size=(cells, 2))
    colours = rng.choice(
        np.array([[200, 40, 40], [240, 180, 30], [30, 90, 180], [40, 150, 80], [120, 50, 150], [230, 120, 30]]),
        size=cells,
    )
    yy, xx = np.mgrid[0:size, 0:size]
    d = (xx[..., None] - points[:, 0]) ** 2 + (yy[..., None] - points[:, 1]) ** 2
    order = np.argsort(d, axis=-1)
    nearest, second = order[..., 0], order[..., 1]
    gap = np.sqrt(np.take_along_axis(d, second[..., None], -1)[..., 0]) - np.sqrt(
        np.take_along_axis(d, nearest[..., None], -1)[..., 0]
    )
    rgb = colours[nearest].astype(float) * (0.85 + 0.15 * rng.uniform(size=(size, size, 1)))
    rgb[gap < 2.5] = [25, 20, 20]
    return Image.fromarray(rgb.clip(0, 255).astype(np.uint8))


def strokes(size: int = 384, count: int = 2500, seed: int = 3) -> Image.Image:
    """Short, thick, curved-looking brush strokes in a night-sky palette, swirling around centres."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (size, size), (20, 30, 70))
    draw = ImageDraw.Draw(image)
    centres = rng.uniform(0, size, size=(4, 2))
    palette = [(30, 60, 140), (60, 110, 190), (230, 200, 60), (250, 240, 170), (20, 40, 90), (90, 140, 200)]
    for _ in range(count):
        px, py = rng.uniform(0, size, 2)
        cx, cy = centres[np.argmin(((centres - [px, py]) ** 2).sum(1))]
        angle = np.arctan2(py - cy, px - cx) + np.pi / 2 + rng.normal(0, 0.2)
        length = rng.uniform(6, 16)
        dx, dy = np.cos(angle) * length, np.sin(angle) * length
        colour = palette[rng.integers(len(palette))]
        draw.line([(px - dx, py - dy), (px + dx, py + dy)], fill=colour, width=int(rng.integers(3, 6)))
    return image.filter(ImageFilter.SMOOTH)


def dots(size: int = 384, count: int = 5000, seed: int = 4) -> Image.Image:
    """Pointillism: small round dots of warm and cool colours on a light ground."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (size, size), (245, 238, 220))
    draw = ImageDraw.Draw(image)
    palette = [(220, 80, 60), (250, 170, 50), (60, 130, 90), (50, 90, 170), (150, 60, 120), (240, 220, 90)]
    for _ in range(count):
        x, y = rng.uniform(0, size, 2)
        r = rng.uniform(2, 4.5)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=palette[rng.integers(len(palette))])
    return image


if __name__ == "__main__":
    OUT.mkdir(exist_ok=True)
    photos()
    paintings()
    for name, maker in (("waves", waves), ("mosaic", mosaic), ("strokes", strokes), ("dots", dots)):
        _save(maker(), f"style_{name}.jpg", quality=92)
    print("\n".join(sorted(f"{p.name}: {p.stat().st_size // 1024} KiB" for p in OUT.glob("*.jpg"))))
