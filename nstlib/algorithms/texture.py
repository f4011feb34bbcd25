"""Texture synthesis (Gatys, Ecker & Bethge 2015): white noise optimised until its style statistics match a picture's.

    >>> from nstlib.images import load_image
    >>> texture = synthesize_texture(load_image("images/style_waves.jpg", size=48), steps=3, progress=False)
    >>> texture.steps_done                                     # a real run: size=128, the default steps
    3

The objective is the style part of style transfer alone, β Σ_l w_l L_stat,l, with any of the statistics
of :mod:`nstlib.loss.stats` (Gram matrix, mean and covariance, Gaussian W2); the loop is
:func:`~nstlib.optim.loop.optimize_pixels`, as for :func:`nstlib.stylize`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence

import torch

from nstlib.images import ImageSize, check_image, resize_image
from nstlib.loss.stats import StyleStat, StyleTerms
from nstlib.net.layers import layer_weights
from nstlib.net.vgg import GATYS_STYLE_LAYERS, VGGFeatures
from nstlib.optim.loop import Progress, TransferResult, optimize_pixels
from nstlib.weights.sources import resolve_arch, weights_key, weights_source

__all__ = ["synthesize_texture"]


def synthesize_texture(
    style: torch.Tensor,
    size: ImageSize | None = None,
    *,
    stat: StyleStat = "gram",
    layers: Sequence[str] | Mapping[str, float] | None = None,
    arch: str | None = None,
    weights: str | os.PathLike | None = None,
    pooling: str = "max",
    style_weight: float | None = None,
    steps: int = 300,
    optimizer: str = "lbfgs",
    lr: float | None = None,
    seed: int = 0,
    callback: Callable[[Progress], bool | None] | None = None,
    progress: bool = True,
) -> TransferResult:
    """Texture synthesis (Gatys, Ecker & Bethge 2015) with any of :data:`~nstlib.loss.stats.STYLE_STATS`.

    Starts from seeded white noise of ``size`` (default: the style's) and minimises β Σ_l w_l L_stat,l.
    With ``stat="gram"`` it is the same computation as ``reconstruct(style, layers, mode="style")``.
    β only sets the loss's scale (torch's L-BFGS skips curvature updates when they are tiny); ``None``
    takes :func:`nstlib.stylize`'s default for these weights, and ``layers=None`` relu1_1 … relu5_1 shared
    as stylize shares them (1/5 each, or ∝ N_l² at Caffe scale). Runs on ``style``'s device.
    """
    style = check_image(style, "style")
    arch = resolve_arch(arch, weights)
    if style_weight is None:
        style_weight = weights_source(weights).defaults.style_weight
    w = (
        weights_source(weights).defaults.style_layer_weights(GATYS_STYLE_LAYERS, arch)
        if layers is None
        else layer_weights(layers)
    )
    vgg = VGGFeatures(arch, tuple(w), weights=weights, pooling=pooling, device=style.device)
    terms = StyleTerms.from_images(vgg, [style], w, stat=stat)
    canvas = style if size is None else resize_image(style, size)
    start = torch.rand(canvas.shape, generator=torch.Generator().manual_seed(seed)).to(style.device)
    result = optimize_pixels(
        start,
        lambda image: terms(vgg(image), style_weight),
        steps=steps,
        optimizer=optimizer,
        lr=lr,
        callback=callback,
        progress=progress,
        desc=f"texture ({stat})",
    )
    result.settings.update(
        stat=stat,
        layers=w,
        arch=arch,
        weights=weights_key(weights),
        pooling=pooling,
        style_weight=style_weight,
        seed=seed,
        size=tuple(start.shape[-2:]),
    )
    return result
