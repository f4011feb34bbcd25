"""The gallery: Gatys et al.'s figures, rendered on this machine with the best weights it has.

    python -m nstlib gallery --out gallery          # or: make gallery

Five pictures, each a JPEG whose caption says the network, the weights, the size, the steps and the
seconds it took: content reconstructions per layer (Gatys et al. 2016, Fig. 1, top), style
reconstructions from more and more layers (Fig. 1, bottom), the Tübingen photo in the style of four
paintings (Fig. 2), the balance α/β against how many layers carry the style (Fig. 3), and DeepDream
on three layers. ``gallery/README.md`` lists them with the command and the machine.
"""

from __future__ import annotations

import datetime as _dt
import io
import platform
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict

import torch
from PIL import Image, ImageDraw, ImageFont

from nstlib.algorithms.dream import deepdream
from nstlib.algorithms.reconstruct import reconstruct
from nstlib.algorithms.transfer import stylize
from nstlib.course.files import course_folder
from nstlib.course.lesson import LessonSetup, choose_weights
from nstlib.device import get_device
from nstlib.errors import OutputError
from nstlib.images import check_output_path, load_image, resize_image, to_pil, write_atomically
from nstlib.net.layers import layer_names
from nstlib.net.vgg import GATYS_CONTENT_LAYER, GATYS_STYLE_LAYERS
from nstlib.optim.schedule import auto_schedule
from nstlib.weights.sources import WeightsSource, weights_source

__all__ = ["render_gallery", "GalleryFigure"]

PHOTO_CREDIT = "Photo: Andreas Praefcke, CC BY 3.0"
PAINTINGS = (
    ("shipwreck.jpg", "Turner, The Shipwreck of the Minotaur"),
    ("starry_night.jpg", "van Gogh, The Starry Night"),
    ("the_scream.jpg", "Munch, The Scream"),
    ("woman-with-hat-matisse.jpg", "Matisse, Woman with a Hat"),
)


@dataclass
class GalleryFigure:
    """One picture of the gallery: a grid of tiles with labels, a title and a caption."""

    name: str  # file stem, e.g. "fig2_transfer"
    title: str
    rows: list[list[tuple[torch.Tensor, str]]]  # (image, label) per tile
    caption: str
    seconds: float = 0.0
    row_labels: list[str] = field(default_factory=list)
    tile: int | None = None  # the long side of a tile in the sheet (None: the gallery's size)


class _Run(TypedDict):
    """The keywords every figure passes on to reconstruct and stylize: the lesson's network, no progress bars."""

    weights: str
    arch: str
    device: torch.device
    progress: bool


_Font = ImageFont.FreeTypeFont | ImageFont.ImageFont  # a TrueType font, or PIL's own when there is none


def _font(size: int) -> _Font:
    try:
        from matplotlib import font_manager

        return ImageFont.truetype(font_manager.findfont("DejaVu Sans"), size)
    except Exception:  # no matplotlib font: PIL's own
        return ImageFont.load_default(size)


def _line_height(font: _Font) -> int:
    """The height of a line of ``font`` in px: the bottom of "Ag" (whole pixels, though PIL's stubs say float)."""
    return int(font.getbbox("Ag")[3])


def compose(figure: GalleryFigure, tile: int) -> Image.Image:
    """Lay the figure out on a white sheet: title, tiles (each ``tile`` px high) with labels, caption."""
    pad, label_font, title_font, caption_font = (
        8,
        _font(max(10, tile // 18)),
        _font(max(12, tile // 13)),
        _font(max(10, tile // 20)),
    )
    row_label_w = max((int(label_font.getlength(t)) for t in figure.row_labels), default=0) + (
        pad if figure.row_labels else 0
    )
    widths = [[max(1, round(img.shape[-1] * tile / img.shape[-2])) for img, _ in row] for row in figure.rows]
    sheet_w = max(sum(w) + pad * (len(w) + 1) for w in widths) + row_label_w
    line_h = _line_height(label_font) + 4
    chars = max(40, int(sheet_w / (caption_font.getlength("n") or 7)))
    caption = textwrap.wrap(figure.caption, chars)
    cap_h = (_line_height(caption_font) + 3) * len(caption)
    title_h = _line_height(title_font) + 2 * pad
    sheet_h = title_h + len(figure.rows) * (tile + line_h + pad) + cap_h + 2 * pad
    sheet = Image.new("RGB", (sheet_w, sheet_h), "white")
    draw = ImageDraw.Draw(sheet)
    draw.text((pad, pad), figure.title, fill="black", font=title_font)
    y = title_h
    for r, (row, row_w) in enumerate(zip(figure.rows, widths)):
        x = pad + row_label_w
        if figure.row_labels:
            draw.text((pad, y + tile // 2), figure.row_labels[r], fill="black", font=label_font, anchor="lm")
        for (image, label), w in zip(row, row_w):
            sheet.paste(to_pil(resize_image(image.detach().float().cpu().clamp(0, 1), (tile, w))), (x, y))
            draw.text((x + w // 2, y + tile + 2), label, fill="black", font=label_font, anchor="ma")
            x += w + pad
        y += tile + line_h + pad
    for line in caption:
        draw.text((pad, y), line, fill="#333333", font=caption_font)
        y += _line_height(caption_font) + 3
    return sheet


def _fit(image: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """``image`` scaled to fit inside ``like``'s size, centred on a white canvas of that size."""
    h, w = like.shape[-2:]
    scale = min(h / image.shape[-2], w / image.shape[-1])
    small = resize_image(image, (max(1, round(image.shape[-2] * scale)), max(1, round(image.shape[-1] * scale))))
    canvas = torch.ones_like(like)
    top, left = (h - small.shape[-2]) // 2, (w - small.shape[-1]) // 2
    canvas[..., top : top + small.shape[-2], left : left + small.shape[-1]] = small
    return canvas


def _timed(run: Callable[[], torch.Tensor]) -> tuple[torch.Tensor, float]:
    start = time.perf_counter()
    image = run()
    return image, time.perf_counter() - start


def _what(setup: LessonSetup, size: int, steps: str, seconds: float) -> str:
    return (
        f"Network: {setup.network}, weights={setup.weights!r}. Size {size} px, {steps}; "
        f"{seconds:.0f} s in all on {setup.device} ({platform.processor() or platform.machine()})."
    )


@dataclass(frozen=True)
class _Inputs:
    """What every figure of the gallery is made from: the lesson set-up, the size and steps, the photo and painting."""

    setup: LessonSetup
    size: int
    steps: int
    transfer_size: int  # Figure 2's long side: stylize's defaults make a larger picture affordable
    quick: bool
    images: Path
    run: _Run
    photo: torch.Tensor
    starry: torch.Tensor
    source: WeightsSource


def _fig1_content(g: _Inputs) -> GalleryFigure:
    """Gatys et al.'s Figure 1, top: content reconstructions from five layers."""
    setup, size, steps, run, photo = g.setup, g.size, g.steps, g.run, g.photo
    layers = ("relu1_2", "relu2_2", "relu3_2", "relu4_2", "relu5_2")
    tiles, total = [(photo, "photo")], 0.0
    for name in layers:
        image, sec = _timed(lambda: reconstruct(photo, name, steps=steps, pooling="avg", **run).image)
        tiles.append((image, f"{name} ({sec:.0f} s)"))
        total += sec
    return GalleryFigure(
        "fig1_content",
        "Content reconstructions: what one layer keeps of the photo (Gatys et al. 2016, Fig. 1)",
        [tiles],
        "From white noise, L-BFGS matches the photo's features at one layer. Low layers give the "
        "pixels back; high layers keep the arrangement, not the details. Average pooling, as in "
        "the paper; relu layers, which Caffe's in-place ReLU made the paper's 'conv' layers. "
        + _what(setup, size, f"{steps} steps each", total)
        + f" {PHOTO_CREDIT}.",
        total,
    )


def _fig1_style(g: _Inputs) -> GalleryFigure:
    """Figure 1, bottom: style reconstructions from relu1_1 up to each deeper layer."""
    setup, size, steps, run, starry, source = g.setup, g.size, g.steps, g.run, g.starry, g.source
    tiles, total = [(starry, "painting")], 0.0
    for k in range(1, len(GATYS_STYLE_LAYERS) + 1):
        subset = GATYS_STYLE_LAYERS[:k]
        weights_l = source.defaults.style_layer_weights(subset, setup.arch)
        image, sec = _timed(
            lambda: reconstruct(starry, weights_l, mode="style", steps=steps, pooling="avg", **run).image
        )
        tiles.append((image, f"to {subset[-1]} ({sec:.0f} s)"))
        total += sec
    return GalleryFigure(
        "fig1_style",
        "Style reconstructions: the Gram matrices of more and more layers (Fig. 1)",
        [tiles],
        "From white noise, L-BFGS matches only the Gram matrices of relu1_1 up to the layer named: "
        "a texture with the painting's statistics and none of its layout; with deeper layers the "
        "texture's elements grow. " + _what(setup, size, f"{steps} steps each", total),
        total,
    )


def _fig2_transfer(g: _Inputs) -> GalleryFigure:
    """Figure 2: the photo in the style of the four paintings, with stylize's defaults (schedule included)."""
    setup, size, images, run, source = g.setup, g.transfer_size, g.images, g.run, g.source
    photo = load_image(images / "tubingen.jpg", size=size)
    tiles, total = [(photo, "photo")], 0.0
    for file, label in PAINTINGS:
        style = load_image(images / file, size=size)
        image, sec = _timed(lambda: stylize(photo, style, **run).image)
        tiles.append((image, f"{label.split(',')[0]} ({sec:.0f} s)"))
        total += sec
    d = source.defaults
    scales, counts = auto_schedule(photo)
    plan = " then ".join(f"{n} steps at {side} px" for side, n in zip((*scales, size), counts))
    content = " + ".join(f"{w:g} × {n}" if w != 1 else n for n, w in d.content_layers)
    return GalleryFigure(
        "fig2_transfer",
        "The Neckarfront in Tübingen in the style of four paintings (Fig. 2)",
        [
            tiles,
            [(torch.ones_like(photo), "")]
            + [(_fit(load_image(images / f, size=size), photo), l.split(", ")[1]) for f, l in PAINTINGS],
        ],
        f"nst.stylize with all its defaults for these weights: content {content}, style relu1_1 … "
        f"relu5_1, α = {d.content_weight:g}, β = {d.style_weight:g}, γ = {d.tv_weight:g}, start "
        f"from the photo, L-BFGS with its step capped, coarse to fine ({plan}). Paintings: public domain. "
        + _what(setup, size, f"{sum(counts)} steps each", total)
        + f" {PHOTO_CREDIT}.",
        total,
        tile=size,
    )


def _fig3_balance(g: _Inputs) -> GalleryFigure:
    """Figure 3: α/β against the number of style layers."""
    setup, size, steps, quick, run = g.setup, g.size, g.steps, g.quick, g.run
    photo, starry, d = g.photo, g.starry, g.source.defaults
    factors = (10.0, 1.0, 0.1, 0.01) if not quick else (10.0, 0.1)
    depths = (1, 3, 5) if not quick else (1, 5)
    small = max(32, size * 3 // 4)
    photo_s, starry_s = resize_image(photo, small), resize_image(starry, small)
    rows, labels, total = [], [], 0.0
    for k in depths:
        subset = GATYS_STYLE_LAYERS[:k]
        row = []
        for f in factors:
            image, sec = _timed(
                lambda: (
                    stylize(
                        photo_s,
                        starry_s,
                        content_layers=GATYS_CONTENT_LAYER,  # the paper's relu4_2 alone
                        style_layers=d.style_layer_weights(subset, setup.arch),
                        style_weight=d.style_weight * f,
                        init="noise",
                        steps=steps,
                        **run,
                    ).image
                )
            )
            row.append((image, f"β = {d.style_weight * f:g}"))
            total += sec
        rows.append(row)
        labels.append(f"to {subset[-1]}")
    return GalleryFigure(
        "fig3_balance",
        "More style or more content: α/β against the style layers (Fig. 3)",
        rows,
        f"Columns: β from {factors[0]:g}× to {factors[-1]:g}× the default, α = {d.content_weight:g} (α/β "
        f"grows to the right: more content). Rows: style from relu1_1 to the layer named. Start from "
        f"white noise, as the paper. " + _what(setup, small, f"{steps} steps each", total) + f" {PHOTO_CREDIT}.",
        total,
        row_labels=labels,
    )


def _dream(g: _Inputs) -> GalleryFigure:
    """DeepDream on three depths of the same network."""
    setup, size, quick, photo = g.setup, g.size, g.quick, g.photo
    # the last ReLU of blocks 3, 4 and 5: relu3_3, relu4_3, relu5_3 in VGG-16 (relu3_4 … in VGG-19)
    dream_layers = [[n for n in layer_names(setup.arch) if n.startswith(f"relu{b}_")][-1] for b in (3, 4, 5)]
    tiles, total = [(photo, "photo")], 0.0
    for name in dream_layers:
        image, sec = _timed(
            lambda: (
                deepdream(
                    photo,
                    model=setup.arch,
                    layers=name,
                    weights=setup.weights,
                    device=setup.device,
                    progress=False,
                    octaves=1 if quick else 4,
                    steps_per_octave=2 if quick else 10,
                ).image
            )
        )
        tiles.append((image, f"{name} ({sec:.0f} s)"))
        total += sec
    return GalleryFigure(
        "dream",
        "DeepDream: more of whatever a layer sees",
        [tiles],
        "Normalised gradient ascent on the mean activation of one layer, 4 octaves × 10 steps with "
        "jitter (nst.deepdream's defaults): deeper layers grow larger patterns. "
        + _what(setup, size, "40 steps each", total)
        + f" {PHOTO_CREDIT}.",
        total,
    )


def figures(
    setup: LessonSetup,
    size: int,
    steps: int,
    quick: bool = False,
    images: Path | None = None,
    transfer_size: int | None = None,
) -> Iterator[GalleryFigure]:
    """Compute the five figures one after another (the slow part: minutes each on a CPU at 256 px).

    ``images``: the folder of the photo and paintings (default: images/ of the course folder,
    :func:`nstlib.course.files.course_folder`). ``transfer_size``: Figure 2's long side (default ``size``).
    """
    images = course_folder() / "images" if images is None else images
    g = _Inputs(
        setup,
        size,
        steps,
        size if transfer_size is None else transfer_size,
        quick,
        images,
        _Run(weights=setup.weights, arch=setup.arch, device=setup.device, progress=False),
        load_image(images / "tubingen.jpg", size=size),
        load_image(images / "starry_night.jpg", size=size),
        weights_source(setup.weights),
    )
    for figure in (_fig1_content, _fig1_style, _fig2_transfer, _fig3_balance, _dream):
        yield figure(g)


def _jpeg(sheet: Image.Image, quality: int) -> bytes:
    buffer = io.BytesIO()
    sheet.save(buffer, format="JPEG", quality=quality, optimize=True, progressive=True)
    return buffer.getvalue()


def render_gallery(
    out: str | Path = "gallery",
    size: int = 320,
    steps: int = 200,
    weights: str | None = None,
    transfer_size: int = 512,
    tile: int | None = None,
    quality: int = 85,
    overwrite: bool = False,
    log: Callable[[str], None] = print,
) -> list[Path]:
    """Render the five figures into ``out`` (JPEG) with a README.md; returns the files written.

    Figures 1 and 3 and DeepDream run at ``size`` with ``steps`` per reconstruction, from white noise as the
    paper's; Figure 2 is :func:`nstlib.stylize` with all its defaults at ``transfer_size`` (the paper's 512 px).
    The defaults (``size`` 320, ``transfer_size`` 512) take about 20 minutes on 2 CPU cores.

    ``weights=None`` picks the best this machine has, as the lessons do (:func:`nstlib.course.lesson.choose_weights`).
    """
    folder = Path(out)
    names = ["fig1_content", "fig1_style", "fig2_transfer", "fig3_balance", "dream"]
    for name in names:  # before minutes of work: every picture can be written (and none is replaced by accident)
        check_output_path(folder / f"{name}.jpg", overwrite=overwrite)
    if (folder / "README.md").exists() and not overwrite:
        raise OutputError(f"'{folder / 'README.md'}' already exists; pass overwrite=True (--overwrite) to replace it.")
    images = course_folder() / "images"  # the photo and paintings: found (or one clear error) before any download
    chosen, arch = choose_weights("vgg19", weights)
    setup = LessonSetup(False, get_device(), chosen, size, steps, 0, arch)
    log(
        f"gallery: {setup.network} on {setup.device}, {size} px, {steps} steps per reconstruction; "
        f"Figure 2 at {transfer_size} px with stylize's defaults"
    )
    start = time.perf_counter()
    rendered: list[GalleryFigure] = []
    written: list[Path] = []
    for figure in figures(
        setup, size, steps, quick=size < 96, images=images, transfer_size=transfer_size
    ):  # each is written as soon as it is done
        rendered.append(figure)
        data = _jpeg(compose(figure, tile or figure.tile or size), quality)
        written.append(write_atomically(folder / f"{figure.name}.jpg", lambda h: h.write(data), overwrite=True))
        log(f"  {figure.name}.jpg: {figure.seconds:.0f} s, {len(data) // 1024} KiB")
    total = time.perf_counter() - start
    today = _dt.date.today().isoformat()
    lines = [
        "# Gallery\n",
        f"Rendered on {today} by `python -m nstlib gallery --size {size} --steps {steps} "
        f"--transfer-size {transfer_size}` in "
        f"{total / 60:.1f} min on {setup.device} ({platform.processor() or platform.machine()}, "
        f"{torch.get_num_threads()} threads), with {setup.network} (weights={setup.weights!r}). Each caption "
        f"says what ran and how long it took.\n",
    ]
    for figure in rendered:
        lines.append(f"## {figure.title}\n\n![{figure.title}]({figure.name}.jpg)\n\n{figure.caption}\n")
    text = "\n".join(lines)
    written.append(write_atomically(folder / "README.md", lambda h: h.write(text.encode()), overwrite=True))
    return written
