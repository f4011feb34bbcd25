"""The gradient DeepDream climbs: the loss (:func:`dream_loss`), and its gradient computed tile by tile
(:func:`tiled_gradient`) at a randomly rolled copy of the image (:func:`jittered_gradient`, the gradient function
:func:`nstlib.optim.loop.optimize_pixels` calls once per step in :func:`nstlib.algorithms.dream.deepdream`).

    >>> import torch
    >>> [core for core in tiles(100, Tiling(size=40, margin=8))]   # (core start, end, window start, end)
    [(0, 33, 0, 41), (33, 67, 25, 75), (67, 100, 59, 100)]
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from typing import NamedTuple, cast

import torch

from nstlib.optim.loop import Gradient

__all__ = ["dream_loss", "Tiling", "tiles", "tiled_gradient", "jittered_gradient"]


def dream_loss(
    features: Mapping[str, torch.Tensor],
    weights: Mapping[str, float] | None = None,
    guides: Mapping[str, torch.Tensor] | None = None,
) -> dict[str, torch.Tensor]:
    """Per-layer DeepDream loss terms, each of shape (B,): ``{"dream:<layer>": w_l · L_l}``.

    Without guides L_l = mean over (C, H, W) of the activation A_l (KDAG IIT Kharagpur's blog post
    *How art is generated from Algorithms?*: activations added, each layer normalised by its size). With
    ``guides[layer]`` of shape (C, N) (the guide's feature vectors), L_l = mean over (C, H, W) of A_l · g_{j*}, the best-matching guide vector per position.
    """
    terms: dict[str, torch.Tensor] = {}
    for name, act in features.items():  # act: (B, C, H, W)
        w = 1.0 if weights is None else float(weights[name])
        if guides is None:
            terms[f"dream:{name}"] = w * act.mean(dim=(1, 2, 3))
            continue
        flat = act.flatten(2)  # (B, C, HW)
        guide = guides[name].to(flat)  # (C, N)
        with torch.no_grad():  # the best match per position; the gradient of max_j is its g_{j*}
            best = torch.cat([(chunk.transpose(1, 2) @ guide).argmax(-1) for chunk in flat.split(4096, dim=2)], 1)
        matched = guide[:, best]  # (C, B, HW)
        terms[f"dream:{name}"] = w * (flat * matched.permute(1, 0, 2)).mean(dim=(1, 2))
    return terms


class Tiling(NamedTuple):
    """How the gradient is cut into tiles: core side, context margin, and the grid step cuts snap to."""

    size: int | None  # core side in px; None = the whole image at once
    margin: int = 32  # context each tile sees beyond its core on every side (its gradient is discarded)
    align: int = 1  # cuts fall on multiples of this (the deepest layer's stride), so tile and image share one grid


def tiles(length: int, tiling: Tiling) -> list[tuple[int, int, int, int]]:
    """(core start, core end, window start, window end) along one side of ``length`` px.

    ceil(length / size) cores of near-equal size (cuts snapped to multiples of ``align``); each
    window is its core plus ``margin`` px of context on both sides, clipped to the image.
    """
    if tiling.size is None or length <= tiling.size:
        return [(0, length, 0, length)]
    n, a = math.ceil(length / tiling.size), max(1, tiling.align)
    cuts = sorted({0, length, *(min(length, round(i * length / n / a) * a) for i in range(1, n))})
    margin = math.ceil(tiling.margin / a) * a
    return [(c0, c1, max(0, c0 - margin), min(length, c1 + margin)) for c0, c1 in zip(cuts[:-1], cuts[1:])]


def tiled_gradient(
    net: torch.nn.Module,
    image: torch.Tensor,
    weights: Mapping[str, float],
    guides,
    tiling: Tiling,
    shift: tuple[int, int],
) -> tuple[torch.Tensor, dict[str, float]]:
    """∂L/∂x at ``image`` rolled by ``shift``, computed tile by tile, rolled back; and the loss terms.

    A window's loss is its mean activation × (window area / image area), so that for a network
    whose maps scale with the input (VGG) it equals Σ(window activations) / (activations of the
    whole image): with a margin wider than the receptive field, each core's gradient is then the
    whole image's gradient there. The recorded loss weights each window's mean by its core's area.
    """
    rows, cols = tiles(image.shape[-2], tiling), tiles(image.shape[-1], tiling)
    rolled = torch.roll(image, shift, dims=(2, 3))
    grad = torch.zeros_like(rolled)
    record: dict[str, float] = defaultdict(float)
    area = image.shape[-2] * image.shape[-1]
    for cy0, cy1, wy0, wy1 in rows:
        for cx0, cx1, wx0, wx1 in cols:
            window = rolled[..., wy0:wy1, wx0:wx1].detach().requires_grad_(True)
            terms = dream_loss(net(window), weights, guides)
            total = cast(torch.Tensor, sum(t.sum() for t in terms.values())) * ((wy1 - wy0) * (wx1 - wx0) / area)
            total.backward()
            window_grad = cast(torch.Tensor, window.grad)  # backward() just set it
            grad[..., cy0:cy1, cx0:cx1] = window_grad[..., cy0 - wy0 : cy1 - wy0, cx0 - wx0 : cx1 - wx0]
            for name, t in terms.items():
                record[name] += float(t.detach().sum()) * (cy1 - cy0) * (cx1 - cx0) / area
    record["total"] = sum(v for k, v in record.items() if k.startswith("dream:"))
    return torch.roll(grad, (-shift[0], -shift[1]), dims=(2, 3)), dict(record)


def jittered_gradient(
    net: torch.nn.Module, weights: Mapping[str, float], guides, tiling: Tiling, jitter: int, generator: torch.Generator
) -> Gradient:
    """The loop's gradient function for DeepDream: before every evaluation a random roll of up to
    ``jitter`` px (plus, with several tiles, up to one tile so the seams move), drawn from ``generator``;
    then :func:`tiled_gradient`. The terms it hands back are batch sums (scalars), as the dream records them."""
    tile = tiling.size

    def gradient(image: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        dy, dx = (int(v) for v in torch.randint(-jitter, jitter + 1, (2,), generator=generator))
        # With several tiles, a random roll of up to one tile moves the seams to new places every step.
        ey, ex = (int(v) for v in torch.randint(0, tile or 1, (2,), generator=generator))
        if tile is not None:
            dy, dx = dy + (ey if image.shape[-2] > tile else 0), dx + (ex if image.shape[-1] > tile else 0)
        shift = (dy, dx)
        grad, record = tiled_gradient(net, image, weights, guides, tiling, shift)
        terms = {name: torch.tensor(value, dtype=torch.float64) for name, value in record.items() if name != "total"}
        return grad, terms

    return gradient
