"""DeepDream: "whatever you see there, I want more of it" (Mordvintsev, Olah & Tyka 2015).

    >>> result = deepdream(load_image("images/coffee.jpg", size=64), model="vgg16", layers="relu4_3",
    ...                    octaves=2, steps_per_octave=2, progress=False)   # a real run: size=256, the defaults
    >>> result.image.shape
    torch.Size([1, 3, 43, 64])

Gradient *ascent* on the pixels of an image through a frozen network: the same loop as style
transfer (:func:`~nstlib.optim.loop.optimize_pixels`, run once per octave) with the sign flipped.
The loss (as in KDAG IIT Kharagpur's blog post *How art is generated from Algorithms?*, 2022) adds the
activations of the chosen layers, each layer's contribution normalised so large layers do not outweigh
small ones:

    L(x) = Σ_l w_l · mean_{c,i,j} A_l(x)[c, i, j]          (w_l = 1 unless you pass {layer: weight})

and each step is  x ← clip_[0,1]( x + η · g / mean|g| ),  g = ∂L/∂x, the normalised gradient step
of Google's original deepdream notebook (the loop's ``optimizer="normalized"``). Two more tricks from
that notebook make it work on real photos: a random roll (jitter) of the image before every step,
undone after (the loop's ``gradient`` function: :func:`~nstlib.algorithms.dream_gradient.jittered_gradient`); and an *octave*
pyramid that dreams at small scales first and carries the added detail (dreamed − base) up to
the next scale. For large images the gradient can be computed in tiles on a randomly shifted grid
and normalised over the whole image, as in the TensorFlow tutorial; unlike there, each tile also
sees a margin of context, so that the seams do not show.

Guided dreaming (``guide=image``) replaces mean activation by Google's guide objective: every
position i of the image's layer maps is pulled towards the guide feature g_j it already matches
best, L_l = mean_{c,i} A_l[c, i] · g_{j*(i)}[c] with j*(i) = argmax_j ⟨A_l[:, i], g_j⟩.
"""

from __future__ import annotations

import math
import os
import time
import warnings
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from nstlib.algorithms.dream_gradient import Tiling, dream_loss, jittered_gradient, tiles
from nstlib.algorithms.reconstruct import ImageInput
from nstlib.device import get_device
from nstlib.errors import ImageTooSmallError, InputError, ResourceError, is_out_of_memory
from nstlib.images import check_image, load_image, resize_image
from nstlib.net.inception import INCEPTION_LAYERS, KERAS_MIXED, InceptionFeatures
from nstlib.net.layers import VGG_BLOCKS, Layers
from nstlib.net.vgg import VGGFeatures
from nstlib.optim.loop import Progress, optimize_pixels
from nstlib.weights.sources import weights_key

__all__ = ["deepdream", "DreamResult", "DEFAULT_DREAM_LAYERS", "dream_network", "dream_loss", "octave_sizes"]


# The KDAG blog post dreams on Keras' mixed3 and mixed5 of Inception v3 = torchvision's Mixed_6a and Mixed_6c
# (the 4th and 6th of the eleven mixed blocks). GoogLeNet: inception4c, the default of Google's
# original deepdream notebook ("inception_4c/output"). VGG: our choice by the same token, two layers
# from the middle of the network that every VGG has (no paper prescribes one).
DEFAULT_DREAM_LAYERS: dict[str, tuple[str, ...]] = {
    "inception_v3": ("Mixed_6a", "Mixed_6c"),
    "googlenet": ("inception4c",),
    **{arch: ("relu3_2", "relu4_2") for arch in VGG_BLOCKS},
}


@dataclass
class DreamResult:
    """The dreamed image and how it got there."""

    image: torch.Tensor  # (B, 3, H, W) in [0, 1], the input's size and device
    history: dict[str, list[float]]  # per step: "total" and "dream:<layer>" (loss at the jittered image)
    octave_sizes: list[tuple[int, int]] = field(default_factory=list)  # (H, W), smallest first
    octave_images: list[torch.Tensor] = field(default_factory=list)  # the dream at the end of each octave (CPU)
    settings: dict[str, Any] = field(default_factory=dict)
    steps_done: int = 0
    interrupted: bool = False
    seconds: float = 0.0

    def __repr__(self) -> str:
        last = self.history["total"][-1] if self.history.get("total") else float("nan")
        flag = ", interrupted" if self.interrupted else ""
        return (
            f"DreamResult(image={tuple(self.image.shape)}, octaves={self.octave_sizes}, "
            f"steps_done={self.steps_done}, final_loss={last:.4g}, seconds={self.seconds:.1f}{flag})"
        )


def dream_network(
    model: str = "inception_v3",
    layers: Sequence[str] = (),
    weights: str | os.PathLike | None = None,
    device: torch.device | str | None = None,
) -> VGGFeatures | InceptionFeatures:
    """A frozen feature extractor ``net(image) -> {layer: activation}`` for ``model``.

    ``"inception_v3"`` / ``"googlenet"``: :class:`~nstlib.net.inception.InceptionFeatures` (torchvision
    layer names); ``"vgg19"`` etc.: :class:`~nstlib.net.vgg.VGGFeatures` (paper names such as relu4_2).
    """
    layers = tuple(layers) or DEFAULT_DREAM_LAYERS.get(model, ())
    if model in INCEPTION_LAYERS:
        return InceptionFeatures(model, layers, weights=weights, device=device)
    if model in VGG_BLOCKS:
        return VGGFeatures(model, layers, weights=weights, device=device)
    raise InputError(f"Unknown model {model!r}; choose one of {', '.join(DEFAULT_DREAM_LAYERS)}.")


def octave_sizes(size: tuple[int, int], octaves: int, octave_scale: float) -> list[tuple[int, int]]:
    """(H, W) of each octave, smallest first: round(H / s^k), round(W / s^k) for k = octaves−1 … 0."""
    h, w = size
    return [
        (max(1, round(h / octave_scale**k)), max(1, round(w / octave_scale**k))) for k in range(octaves - 1, -1, -1)
    ]


def _dream_record(record: Mapping[str, Any]) -> dict[str, Any]:
    """The loop's record (or history) as the dream reports it: "dream:<layer>" …, then "total" (the
    loop's group total "dream" is the same number as "total" and is left out)."""
    return {**{k: v for k, v in record.items() if k.startswith("dream:")}, "total": record["total"]}


def _layer_weights(layers: Layers | None, model: str) -> dict[str, float]:
    """``{layer: weight}`` of a ``layers`` argument for ``model`` (Keras' Inception names become torchvision's)."""
    if model not in DEFAULT_DREAM_LAYERS:
        raise InputError(f"Unknown model {model!r}; choose one of {', '.join(DEFAULT_DREAM_LAYERS)}.")
    if layers is None:
        weights = {name: 1.0 for name in DEFAULT_DREAM_LAYERS.get(model, ())}
    elif isinstance(layers, str):
        weights = {layers: 1.0}
    elif isinstance(layers, Mapping):
        weights = {str(k): float(v) for k, v in layers.items()}
    else:
        weights = {str(name): 1.0 for name in layers}
    if not weights:
        raise InputError("layers is empty: name at least one layer to dream on.")
    if model != "inception_v3":
        return weights
    merged: dict[str, float] = defaultdict(float)  # Keras' names (mixed3 -> Mixed_6a); weights of aliases added
    for name, w in weights.items():
        merged[KERAS_MIXED.get(name, name)] += w
    return dict(merged)


def _guide_features(net: torch.nn.Module, guide: ImageInput, device: torch.device) -> dict[str, torch.Tensor]:
    """The guide image's feature vectors at each layer, (C, N): what a guided dream pulls towards."""
    image = load_image(guide) if isinstance(guide, (str, os.PathLike)) else check_image(guide, "guide")
    with torch.no_grad():
        return {n: f[0].flatten(1) for n, f in net(image[:1].to(device)).items()}


def deepdream(
    image: ImageInput,
    model: str = "inception_v3",
    layers: Layers | None = None,
    *,
    octaves: int = 4,
    octave_scale: float = 1.4,
    steps_per_octave: int = 10,
    step_size: float = 0.01,
    jitter: int = 32,
    tile_size: int | None = None,
    tile_margin: int = 32,
    guide: ImageInput | None = None,
    weights: str | os.PathLike | None = None,
    device: torch.device | str | None = None,
    seed: int = 0,
    progress: bool = True,
    callback: Callable[[Progress], bool | None] | None = None,
) -> DreamResult:
    """Dream on ``image``: normalised gradient ascent on the mean activation of ``layers``.

    Args:
        image: (B, 3, H, W) tensor in [0, 1] or an image path; the result has its size.
        model: ``"inception_v3"`` (as the KDAG blog post), ``"googlenet"`` (Google's original) or a VGG
            (``"vgg19"``, … with paper names such as ``relu4_2``).
        layers: a name, a sequence (weights 1, losses added as in the KDAG blog post) or ``{name: weight}``.
            Default :data:`DEFAULT_DREAM_LAYERS` (Inception v3: Mixed_6a + Mixed_6c = Keras mixed3 + mixed5).
        octaves: number of scales; octave k (0 = smallest) is the image shrunk by octave_scale^(octaves−1−k).
        steps_per_octave: gradient steps at each scale. step_size: η, in [0, 1] pixel units per step.
        jitter: maximum random roll in pixels per step (undone after the step).
        tile_size: compute the gradient in tiles of at most this many pixels per side (on a randomly
            shifted grid) so large images fit in memory; ``None`` = the whole image at once.
        tile_margin: context in pixels each tile sees around it (its gradient is discarded), so
            seams do not show; memory goes with (tile_size + 2 · tile_margin)².
        guide: an image whose features to dream towards instead of "more of whatever is there".
        weights: ``"imagenet"``, ``"random[:SEED]"`` or a file; default ``NSTLIB_WEIGHTS`` or imagenet.
        seed: seeds the jitter and tile shifts: the same seed gives the same dream.
        callback: called with a :class:`~nstlib.optim.loop.Progress` after every step (its image is the
            current octave's); return True to stop.

    Returns a :class:`DreamResult` with ``.image`` and ``.history``.
    """
    image = load_image(image) if isinstance(image, (str, os.PathLike)) else check_image(image, "image")
    _check_settings(octaves, octave_scale, steps_per_octave, step_size, jitter, tile_size, tile_margin)
    run_device = get_device(device)
    home = image.device
    weights_l = _layer_weights(layers, model)
    net = dream_network(model, tuple(weights_l), weights=weights, device=run_device)
    sizes = octave_sizes((int(image.shape[-2]), int(image.shape[-1])), octaves, octave_scale)
    tiling = Tiling(tile_size, tile_margin, _stride(net))
    _check_sizes(sizes, net.min_size, tiling, net.layers)
    guides = None if guide is None else _guide_features(net, guide, run_device)

    generator = torch.Generator().manual_seed(seed)
    original = image.detach().to(run_device, torch.float32).clamp(0.0, 1.0)
    gradient = jittered_gradient(net, weights_l, guides, tiling, jitter, generator)
    detail = torch.zeros_like(resize_image(original, sizes[0]))
    history: dict[str, list[float]] = defaultdict(list)
    octave_images: list[torch.Tensor] = []
    total_steps, done, interrupted = len(sizes) * steps_per_octave, 0, False
    start = time.perf_counter()
    bar = tqdm(total=total_steps, desc="deepdream", disable=not progress, leave=True)
    stop = False  # set when the callback asks to stop

    def after_step(report: Progress) -> bool:  # one bar and one clock for all octaves
        nonlocal stop
        bar.update(1)
        if callback is not None and callback(
            Progress(
                report.step,
                report.steps,
                report.loss,
                _dream_record(report.losses),
                report.image,
                time.perf_counter() - start,
            )
        ):
            stop = True
        return stop

    base = current = original
    try:
        for size in sizes:
            base = resize_image(original, size)
            detail = F.interpolate(detail, size=size, mode="bilinear", align_corners=False)
            current = (base + detail).clamp(0.0, 1.0)
            # Ascent (maximize) with x ← clip(x + η g / mean|g|); the result is the last image, not the "best".
            run = optimize_pixels(
                current,
                None,
                steps_per_octave,
                optimizer="normalized",
                lr=step_size,
                callback=after_step,
                progress=False,
                maximize=True,
                gradient=gradient,
                keep="last",
                steps_before=done,
                steps_total=total_steps,
            )
            current, done = run.image, done + run.steps_done
            if run.steps_done:
                for name, values in _dream_record(run.history).items():
                    history[name].extend(values)
            if stop or run.interrupted or run.steps_done < steps_per_octave:  # callback, Ctrl-C, repeated NaN/Inf
                interrupted = run.interrupted
                break
            detail = current - base
            octave_images.append(current.detach().cpu())
    except KeyboardInterrupt:  # between two octaves (within one, the loop returns what it has)
        interrupted = True
        warnings.warn(
            f"Interrupted after {done} of {total_steps} steps: returning the dream so far "
            "(result.interrupted is True).",
            RuntimeWarning,
            stacklevel=2,
        )
    except (RuntimeError, MemoryError) as exc:  # CUDA's OutOfMemoryError is a RuntimeError
        if is_out_of_memory(exc):
            raise ResourceError(
                f"Out of memory on {run_device} while dreaming at {tuple(current.shape[-2:])} px. "
                "Pass tile_size=256 (or smaller) to compute the gradient tile by tile, use fewer "
                "or shallower layers, or device='cpu'."
            ) from None
        raise
    finally:
        bar.close()
    final = current
    if current.shape[-2:] != original.shape[-2:]:  # stopped early in a smaller octave: carry its detail up
        detail = F.interpolate(current - base, size=tuple(original.shape[-2:]), mode="bilinear", align_corners=False)
        final = (original + detail).clamp(0.0, 1.0)
    return DreamResult(
        image=final.detach().to(home),
        history=dict(history),
        octave_sizes=sizes,
        octave_images=octave_images,
        steps_done=done,
        interrupted=interrupted,
        seconds=time.perf_counter() - start,
        settings=dict(
            model=model,
            layers=weights_l,
            octaves=octaves,
            octave_scale=octave_scale,
            steps_per_octave=steps_per_octave,
            step_size=step_size,
            jitter=jitter,
            tile_size=tile_size,
            tile_margin=tile_margin,
            guided=guide is not None,
            weights=weights_key(weights),
            device=str(run_device),
            seed=seed,
        ),
    )


def _stride(net: torch.nn.Module) -> int:
    """Input pixels per step of the deepest layer's grid (VGG: 2^pools before it, = its min_size)."""
    return int(getattr(net, "stride", getattr(net, "min_size", 1)))


def _check_settings(
    octaves: int,
    octave_scale: float,
    steps: int,
    step_size: float,
    jitter: int,
    tile_size: int | None,
    tile_margin: int,
) -> None:
    if not isinstance(octaves, int) or octaves < 1:
        raise InputError(f"octaves must be a whole number >= 1 (1 = no pyramid), got {octaves!r}.")
    if not octave_scale >= 1.0 or not math.isfinite(octave_scale):
        raise InputError(f"octave_scale must be a number >= 1 (e.g. 1.4), got {octave_scale!r}.")
    if not isinstance(steps, int) or steps < 0:
        raise InputError(f"steps_per_octave must be a whole number >= 0, got {steps!r}.")
    if not (step_size > 0 and math.isfinite(step_size)):
        raise InputError(f"step_size must be a positive number (e.g. 0.01), got {step_size!r}.")
    if not isinstance(jitter, int) or jitter < 0:
        raise InputError(f"jitter must be a whole number of pixels >= 0, got {jitter!r}.")
    if tile_size is not None and (not isinstance(tile_size, int) or tile_size < 1):
        raise InputError(f"tile_size must be None or a positive whole number of pixels, got {tile_size!r}.")
    if not isinstance(tile_margin, int) or tile_margin < 0:
        raise InputError(f"tile_margin must be a whole number of pixels >= 0, got {tile_margin!r}.")


def _check_sizes(sizes: list[tuple[int, int]], min_size: int, tiling: Tiling, layers: Sequence[str]) -> None:
    smallest = min(sizes[0])
    if smallest < min_size:
        fit = sum(1 for s in sizes if min(s) >= min_size)
        raise ImageTooSmallError(
            f"The smallest octave is {sizes[0][0]}x{sizes[0][1]} px, but layer(s) {', '.join(layers)} need at least "
            f"{min_size}x{min_size} px. Use octaves={max(fit, 1)} or fewer, a smaller octave_scale, or a larger image."
        )
    for size in sizes:
        for length in size:
            short = min(w1 - w0 for _, _, w0, w1 in tiles(length, tiling))
            if short < min_size:
                raise InputError(
                    f"tile_size={tiling.size} with tile_margin={tiling.margin} cuts a {length}-px side into windows of "
                    f"{short} px, but layer(s) {', '.join(layers)} need at least {min_size} px. "
                    f"Use tile_size >= {2 * min_size} or a larger tile_margin."
                )
