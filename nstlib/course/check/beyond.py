"""Checkers for lesson 08 (controlling style transfer): colour put back afterwards, the symmetric-root colour map,
a Gram matrix for a soft region, a grey photo as content, and a measure of stroke size.

Oracles: nstlib's tested colour functions (``rgb_to_yiq``, ``yiq_to_rgb``, ``colour_stats``, ``match_colour``,
``combine_luminance``), float64 eigendecompositions, autograd on a tiny random VGG, and synthetic textures whose
blob size is known. Each checker also recognises the usual wrong answers and says which one it saw.

Exercises 1 and 2 (colour) live in :mod:`._beyond_colour`; this module exports them with the others.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import SupportsFloat, SupportsIndex

import torch
import torch.nn.functional as F

from nstlib.algorithms.colour import colour_stats, combine_luminance, match_colour, rgb_to_yiq
from nstlib.course.check._beyond_colour import colour_transfer_sym, keep_colours
from nstlib.course.check._core import (
    CheckResult,
    NotAnswered,
    call_safely,
    exercise,
    failed,
    generator,
    mismatch,
    passed,
    same,
)
from nstlib.images import resize_image

__all__ = ["keep_colours", "colour_transfer_sym", "soft_region_gram", "grey_photo", "stroke_size"]


# ------------------------------------------------------------------------------------------- exercise 3
def _soft_case() -> tuple[torch.Tensor, torch.Tensor]:
    g = generator(2)
    feats = torch.rand(1, 5, 4, 6, generator=g, dtype=torch.float64) + 0.2
    ys, xs = torch.meshgrid(torch.arange(16.0), torch.arange(24.0), indexing="ij")
    blob = torch.exp(-((ys - 5) ** 2 + (xs - 7) ** 2) / 40.0)  # a soft region, as from a blurred segmentation
    mask = (0.8 * blob + 0.2 * torch.rand(16, 24, generator=g)).clamp(0, 1)
    return feats, mask[None, None].double()


def _weighted_gram(feats: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    f, w = feats.flatten(2), t.flatten(2)
    return (f * w) @ f.transpose(1, 2) / (feats.shape[1] * w.sum())


@exercise(
    lesson=8,
    number=3,
    title="a Gram matrix for a soft region",
    level="a function",
    hint="first bring the mask to the features' (h, w) with F.interpolate(..., mode='area'); then each "
    "position k adds T_k · F_k F_kᵀ, and the sum is divided by N times the mask's mass Σ_k T_k.",
)
def soft_region_gram(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """``fn(features, mask)``: features (1, N, h, w), a soft mask (1, 1, H, W) at image resolution; returns
    Σ_k T_k F_k F_kᵀ / (N Σ_k T_k) with T the mask area-averaged to (h, w), shape (1, N, N)."""
    feats, mask = _soft_case()
    size = tuple(feats.shape[-2:])
    t = F.interpolate(mask, size=size, mode="area")
    want = _weighted_gram(feats, t)
    got, error = call_safely(fn, feats.clone(), mask.clone())
    if error is not None:
        error.message += " (The mask comes at the image's resolution, 16×24 here; the features are 4×6.)"
        return error
    if same(got, want):
        return passed(
            "each position counts with the share T_k of it that lies in the region, and dividing by the "
            "mass Σ T_k makes G a weighted average of F_k F_kᵀ: a small or faint region gets a Gram matrix "
            "on the style's scale, and multiplying the mask by a constant changes nothing. For 0/1 masks it "
            "equals the lesson's guided Gram; for soft masks that one weighs position k by T_k² instead."
        )
    n, m = feats.shape[1], t.numel()
    f, w = feats.flatten(2), t.flatten(2)
    ft = f * w
    if same(got, ft @ ft.transpose(1, 2) / (n * w.square().sum())):
        return failed(
            "that is the lesson's guided Gram (F∘T)(F∘T)ᵀ / (N Σ T²): it weighs each position by T_k², so a "
            "position half inside the region counts a quarter. Here each position counts T_k, once."
        )
    if same(got, ft @ ft.transpose(1, 2) / (n * w.sum())):
        return failed(
            "you multiplied both factors by T ((F∘T)(F∘T)ᵀ) but divided by Σ T: positions are weighed by "
            "T_k², and the result is no longer an average (a faint mask gives a faint Gram matrix)."
        )
    if same(got, ft @ f.transpose(1, 2) / (n * m)):
        return failed(
            "you divided by N·M, all positions of the map. Normalise by the mask's mass Σ_k T_k instead: "
            "otherwise a small region gets a small Gram matrix, as if its style were faint."
        )
    corners = {"align_corners": False}
    for mode, kwargs in (("nearest", {}), ("bilinear", corners), ("bicubic", corners)):
        if same(got, _weighted_gram(feats, F.interpolate(mask, size=size, mode=mode, **kwargs))):
            return failed(
                f"the formula is right, but you resized the mask with mode='{mode}', which samples a few "
                "pixels. Area averaging (mode='area') gives each feature position the fraction of its "
                "pixels that lie in the region."
            )
    if same(got, _weighted_gram(feats, F.adaptive_max_pool2d(mask, size))):
        return failed(
            "the formula is right, but you took the maximum of the mask over each cell: a cell barely "
            "touched by the region then counts fully. Average it (mode='area')."
        )
    return mismatch(got, want, "the soft-region Gram matrix")


# ------------------------------------------------------------------------------------------- exercise 4
_GREY_KEYS = {
    "luminance_chroma": "a number",
    "covariance_rank": "0, 1, 2 or 3",
    "recoloured_style_grey": "True or False",
    "plain_transfer_grey": "True or False",
}


@functools.lru_cache(maxsize=1)
def _first_layer():
    from nstlib.net.vgg import VGGFeatures

    return VGGFeatures("vgg16", layers=["relu1_1"], weights="random:0", device="cpu")


def _grey_measurements() -> dict[str, object]:
    g = generator(4)
    grey = (
        F.interpolate(torch.rand(1, 1, 5, 5, generator=g), size=(20, 20), mode="bilinear", align_corners=False)
        .expand(-1, 3, -1, -1)
        .contiguous()
    )
    style = torch.rand(1, 3, 20, 20, generator=g) * torch.tensor([0.9, 0.6, 0.2])[:, None, None]  # warm colours
    some_luminance = rgb_to_yiq(style)[:, :1].expand(-1, 3, -1, -1)  # any grey result of the Y-only transfer
    lum_only = combine_luminance(some_luminance, grey)
    # in float64: float32 rounding that differs between the three channels' sums would leave a second singular value
    # of ~1e-8 of the first on some CPUs, close to the cut-off; in float64 it is ~1e-17, far below it
    _, cov = colour_stats(grey.double())
    rank = int(torch.linalg.matrix_rank(cov[0], hermitian=True, rtol=1e-6))
    recoloured = match_colour(style, grey)
    net = _first_layer()
    x = grey.clone().requires_grad_(True)
    with torch.no_grad():
        target = net(style)["relu1_1"].flatten(2)
    fx = net(x)["relu1_1"].flatten(2)
    gram = lambda f: f @ f.transpose(1, 2) / f.shape[1] / f.shape[2]  # noqa: E731
    (gram(fx) - gram(target)).square().mean().backward()
    assert x.grad is not None  # backward() has just filled it
    step = rgb_to_yiq(x.grad)
    return {
        "luminance_chroma": float(rgb_to_yiq(lum_only)[:, 1:].abs().max()),
        "covariance_rank": rank,
        "recoloured_style_grey": bool(rgb_to_yiq(recoloured)[:, 1:].abs().max() < 1e-3),
        "plain_transfer_grey": bool(step[:, 1:].abs().max() < 1e-3 * step[:, :1].abs().max()),
        "_chroma_share": float(step[:, 1:].abs().mean() / step[:, :1].abs().mean()),
    }


@exercise(
    lesson=8,
    number=4,
    title="a black-and-white photo as content",
    level="predict and explain",
    hint="grey pixels (v, v, v) have I = Q = 0 and all lie on one line through the RGB cube; ask of each "
    "method where its colours come from — the photo, or the style's first-layer Gram matrix?",
)
def grey_photo(predictions: dict) -> CheckResult:
    """``predictions``: a dict with the four keys of ``_GREY_KEYS``, for a grey photo (R = G = B) as content."""
    if not isinstance(predictions, dict):
        return failed(f"answer with a dict with the keys {', '.join(_GREY_KEYS)}; got {type(predictions).__name__}.")
    if all(predictions.get(k, ...) is Ellipsis for k in _GREY_KEYS):
        raise NotAnswered
    missing = [k for k in _GREY_KEYS if predictions.get(k, ...) is Ellipsis]
    if missing:
        return failed(
            "fill in every prediction; still missing: " + ", ".join(f"{k} ({_GREY_KEYS[k]})" for k in missing) + "."
        )
    seen = _grey_measurements()
    try:
        chroma = float(predictions["luminance_chroma"])
        rank = int(predictions["covariance_rank"])
    except (TypeError, ValueError):
        return failed("luminance_chroma should be a number and covariance_rank a whole number.")
    wrong = []
    if abs(chroma) > 1e-3:
        wrong.append(
            f"luminance_chroma: you said {chroma:g}; measured {seen['luminance_chroma']:.1e}. Luminance-only "
            "transfer takes I and Q from the photo, and a grey photo's are 0 everywhere — the result is grey "
            "whatever the style (and clamping (v, v, v) to [0, 1] keeps it grey)."
        )
    if rank != seen["covariance_rank"]:
        why = "Only a constant image has rank 0. " if rank == 0 else ""
        wrong.append(
            f"covariance_rank: you said {rank}; it is {seen['covariance_rank']}. {why}Every pixel lies on the "
            "grey line through (1, 1, 1), so Σ_C = σ² (1, 1, 1)(1, 1, 1)ᵀ: one direction of spread. "
            "Its Cholesky factor exists only because nst.match_colour adds a tiny ridge (eps)."
        )
    if bool(predictions["recoloured_style_grey"]) != seen["recoloured_style_grey"]:
        wrong.append(
            "recoloured_style_grey: it is grey. The recoloured style gets the photo's mean (grey) and Σ_C, "
            "which has no spread off the grey line: its chroma has mean 0 and (up to eps) variance 0. "
            "Histogram matching then transfers a grey style."
        )
    if bool(predictions["plain_transfer_grey"]) != seen["plain_transfer_grey"]:
        wrong.append(
            "plain_transfer_grey: it is not grey. The style loss at relu1_1 holds the painting's colour "
            "statistics; at the grey photo its gradient already has a chroma part "
            f"({seen['_chroma_share']:.0%} of the luminance part, measured on a small network), so the "
            "first step paints colour in."
        )
    if wrong:
        return failed(
            f"{len(wrong)} of 4 predictions {'differs' if len(wrong) == 1 else 'differ'} from what the "
            "checker measured:\n• " + "\n• ".join(wrong)
        )
    return passed(
        "all four right: for a grey photo luminance-only and histogram matching both give a grey result "
        "(one by construction, one because Σ_C has rank 1), while the plain transfer paints the style's "
        "colours in. To colour a black-and-white photo with a painting's palette, use the plain transfer."
    )


# ------------------------------------------------------------------------------------------- exercise 5
def _blobs(cells: int, size: int, seed: int) -> torch.Tensor:
    small = torch.rand(1, 3, cells, cells, generator=generator(seed))
    return F.interpolate(small, size=(size, size), mode="bicubic", align_corners=False).clamp(0, 1)


def _measure(fn: Callable[[torch.Tensor], float], image: torch.Tensor) -> float | CheckResult:
    """The learner's measure of ``image``, or the feedback when it is not a positive, finite number."""
    got, error = call_safely(fn, image.clone())
    if error is not None:
        return error
    try:
        if not isinstance(got, (SupportsFloat, SupportsIndex, str)):
            raise TypeError  # as float() would; checking first lets mypy see a number below
        value = float(got)
    except (TypeError, ValueError, RuntimeError):
        return failed(f"return one number (a length in pixels); got {type(got).__name__}.")
    if not math.isfinite(value) or value <= 0:
        return failed(f"your measure returned {value}; a size is a positive, finite number of pixels.")
    return value


@exercise(
    lesson=8,
    number=5,
    title="measure the size of the strokes",
    level="design an experiment",
    hint="a size is a length: how far must you shift the (grey, mean-removed) image before it stops "
    "resembling itself? The autocorrelation (torch.fft) falls from 1 at shift 0; the shift where it "
    "drops below ½ is one good answer. Test it on an image and on the same image resized 2×.",
)
def stroke_size(fn: Callable[[torch.Tensor], float]) -> CheckResult:
    """``fn(image)``: a typical stroke size of a (1, 3, H, W) image in pixels; must double when the strokes do and
    ignore the image size and the contrast."""
    small, large = _blobs(16, 96, 0), _blobs(8, 96, 0)  # blobs about 6 px and 12 px across, same image size
    values: dict[str, float] = {}
    for name, image in (
        ("small", small),
        ("large", large),
        ("resized", resize_image(small, 192)),
        ("faint", 0.5 * small + 0.25),
    ):
        measured = _measure(fn, image)
        if isinstance(measured, CheckResult):
            return measured
        values[name] = measured
    grow, resize, faint = (
        values["large"] / values["small"],
        values["resized"] / values["small"],
        values["faint"] / values["small"],
    )
    if 1.5 <= resize <= 2.7 and not 1.5 <= grow <= 2.7 and abs(grow - 1) < 0.1:
        return failed(
            f"your measure doubled when the image was resized 2× (×{resize:.2f}) but did not change when the "
            f"blobs doubled in an image of the same size (×{grow:.2f}): it measures the image, not the "
            "strokes."
        )
    for ratio, what in ((grow, "blobs twice as large (same image size)"), (resize, "the same texture resized 2×")):
        if not 1.5 <= ratio <= 2.7:
            if 3.2 <= ratio <= 5:
                why = "it grows like an area; report a length (e.g. its square root)."
            elif ratio < 1 / 1.5:
                why = "it shrinks when the strokes grow: that is a frequency; report its inverse, a length."
            elif abs(ratio - 1) < 0.25:
                why = "it hardly notices the size of the strokes."
            else:
                why = "a length should double."
            return failed(
                f"for {what} your measure changed by ×{ratio:.2f} ({values['small']:.3g} → "
                f"{values['large' if what.startswith('blobs') else 'resized']:.3g}): {why}"
            )
    if not 0.87 <= faint <= 1.15:
        return failed(
            f"halving the contrast (0.5·image + 0.25) changed your measure by ×{faint:.2f}: it responds to "
            "contrast, not only to size. Normalise (e.g. divide the autocorrelation by its value at 0)."
        )
    return passed(
        f"your measure doubles with the strokes (×{grow:.2f} for blobs twice as large, ×{resize:.2f} for the "
        f"texture resized 2×) and ignores contrast (×{faint:.2f}). Now use it on the style at each "
        "style_scale and on the transfers of section 3 — do the strokes follow?"
    )
