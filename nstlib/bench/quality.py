"""Judging a stylised picture by measures the optimiser never saw (nstlib.bench.run, BENCHMARKS.md).

The loss a run minimises is no fair judge of it: a run can lower its own loss by exploiting that
loss (a schedule tuned to one number), and two runs with different loss weights cannot be compared
by loss at all. These measures are computed from the picture alone:

* **held-out style** — the Gram matrices at the network's layers the style loss does *not* use, in
  its first three blocks (for VGG-16 with Gatys' layers: relu1_2, relu2_2, relu3_2, relu3_3),
  compared with the painting's: mean over those layers of ‖G(x) − G(s)‖_F / ‖G(s)‖_F. Lower is
  more of the style.
* **edges** — do the photo's edges survive? The Pearson correlation between the gradient
  magnitudes (Sobel) of the result's and the photo's luminance, both blurred with a Gaussian of
  σ = long side / 256 px first, so strokes finer than that do not count against the result.
  1 for the photo itself; higher is more of the content's structure.
* **layout** — does the photo's light and dark survive? The Pearson correlation between the result's and
  the photo's luminance averaged over square blocks of long side / 32 px (8 × 8 px at 256 px). 1 for the
  photo; near 0 or below where the picture's light and dark are scrambled or inverted (dark houses under
  a light sky where the photo has light houses under a darker one) — which an edge measure cannot see,
  since an inverted edge is still an edge.
* **colours** — the sliced Wasserstein-1 distance between the result's and the painting's RGB
  pixel distributions (64 seeded random directions), in [0, 1] units. Reported, not judged: the
  Gram matrices at relu1_x already see colour.

    >>> import nstlib as nst
    >>> content = nst.load_image("images/tubingen.jpg", size=64)
    >>> style = nst.load_image("images/starry_night.jpg", size=64)
    >>> scores = judge(content, content, style)       # the photo itself, judged; a real judge: weights="hed"
    >>> sorted(scores), round(scores["edges"], 6), round(scores["layout"], 6)   # the photo keeps all of its own
    (['colours', 'edges', 'layout', 'style'], 1.0, 1.0)
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence

import torch
import torch.nn.functional as F

from nstlib.images import check_image, resize_image
from nstlib.loss.functional import gram_matrix
from nstlib.net.layers import layer_names
from nstlib.net.vgg import GATYS_CONTENT_LAYER, GATYS_STYLE_LAYERS, VGGFeatures
from nstlib.weights.sources import resolve_arch

__all__ = [
    "held_out_layers",
    "held_out_style",
    "edge_agreement",
    "layout_agreement",
    "colour_distance",
    "judge",
    "at_least_as_good",
]


def held_out_layers(
    arch: str, used: Sequence[str] = GATYS_STYLE_LAYERS + (GATYS_CONTENT_LAYER,), blocks: int = 3
) -> tuple[str, ...]:
    """The ReLU layers of the first ``blocks`` blocks that ``used`` leaves out (VGG-16, Gatys' layers:
    relu1_2, relu2_2, relu3_2, relu3_3).

    Deeper held-out layers are left out of the judgement on purpose: at Caffe scale the painting's Gram
    matrices at relu4_3 are so small that a blurred picture (weaker activations everywhere) scores
    closer to them than a finished transfer does (BENCHMARKS.md).
    """
    last_pool = f"pool{blocks}"
    names = layer_names(arch)
    upto = names[: names.index(last_pool)]
    return tuple(n for n in upto if n.startswith("relu") and n not in set(used))


def held_out_style(image: torch.Tensor, style: torch.Tensor, vgg: VGGFeatures) -> float:
    """Mean over ``vgg.layers`` of ‖G(image) − G(style)‖_F / ‖G(style)‖_F (Gram ÷ C·H·W, style at image's size)."""
    image = check_image(image, "image")
    style = resize_image(check_image(style, "style"), max(image.shape[-2:]))
    with torch.no_grad():
        mine, theirs = vgg(image[:1]), vgg(style)
        errors = []
        for name in vgg.layers:
            g, a = gram_matrix(mine[name].float(), "chw"), gram_matrix(theirs[name].float(), "chw")
            errors.append(float((g - a).norm() / a.norm().clamp_min(1e-12)))
    return sum(errors) / len(errors)


def _luminance(image: torch.Tensor) -> torch.Tensor:
    weights = torch.tensor([0.299, 0.587, 0.114], dtype=image.dtype, device=image.device).view(1, 3, 1, 1)
    return (image * weights).sum(1, keepdim=True)


def _blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, math.ceil(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    kernel = torch.exp(-0.5 * (t / sigma) ** 2)
    kernel = kernel / kernel.sum()
    x = F.pad(x, (radius, radius, radius, radius), mode="replicate")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1))
    return F.conv2d(x, kernel.view(1, 1, -1, 1))


def _edges(image: torch.Tensor, sigma: float) -> torch.Tensor:
    y = _blur(_luminance(image), sigma)
    sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]], dtype=y.dtype, device=y.device)
    kernels = torch.stack([sobel, sobel.t()]).unsqueeze(1)  # (2, 1, 3, 3): d/dx, d/dy
    g = F.conv2d(F.pad(y, (1, 1, 1, 1), mode="replicate"), kernels)
    return g.square().sum(1).sqrt().flatten(1)  # (B, H·W)


def _first_and_photo(image: torch.Tensor, content: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """The first image of ``image`` and the photo, both checked, in float32, the photo at the image's size."""
    image, content = check_image(image, "image")[:1].float(), check_image(content, "content").float()
    if image.shape[-2:] != content.shape[-2:]:
        content = resize_image(content, (image.shape[-2], image.shape[-1]))
    return image, content


def edge_agreement(image: torch.Tensor, content: torch.Tensor, sigma: float | None = None) -> float:
    """Pearson correlation of blurred Sobel gradient magnitudes; ``sigma`` default: long side / 256 px."""
    image, content = _first_and_photo(image, content)
    sigma = max(image.shape[-2:]) / 256 if sigma is None else float(sigma)
    return _pearson(_edges(image, sigma)[0], _edges(content, sigma)[0])


def _pearson(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.flatten() - a.mean(), b.flatten() - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm()).clamp_min(1e-12))


def layout_agreement(image: torch.Tensor, content: torch.Tensor, blocks: int = 32) -> float:
    """Pearson correlation of the two luminances averaged over square blocks, ``blocks`` of them along the long side.

    >>> photo = torch.linspace(0, 1, 64).view(1, 1, 1, 64).expand(1, 3, 48, 64)   # dark left, light right
    >>> round(layout_agreement(photo, photo), 6), round(layout_agreement(1 - photo, photo), 6)
    (1.0, -1.0)
    """
    image, content = _first_and_photo(image, content)
    side = max(1, round(max(image.shape[-2:]) / blocks))
    a = F.avg_pool2d(_luminance(image), side, ceil_mode=True)
    b = F.avg_pool2d(_luminance(content), side, ceil_mode=True)
    return _pearson(a, b)


def colour_distance(image: torch.Tensor, style: torch.Tensor, directions: int = 64, seed: int = 0) -> float:
    """Sliced Wasserstein-1 distance between the two images' RGB pixel distributions (quantiles, 256 of them)."""
    a = check_image(image, "image")[:1].float().flatten(2)[0]  # (3, M)
    b = check_image(style, "style")[:1].float().flatten(2)[0]
    u = torch.randn(3, directions, generator=torch.Generator().manual_seed(seed))
    u = (u / u.norm(dim=0, keepdim=True)).to(a.device)
    q = torch.linspace(0, 1, 256, device=a.device)
    pa, pb = torch.quantile(u.t() @ a, q, dim=1), torch.quantile(u.t() @ b, q, dim=1)
    return float((pa - pb).abs().mean())


def judge(
    image: torch.Tensor,
    content: torch.Tensor,
    style: torch.Tensor,
    *,
    weights: str | os.PathLike | None = None,
    arch: str | None = None,
    used: Sequence[str] = GATYS_STYLE_LAYERS + (GATYS_CONTENT_LAYER,),
    vgg: VGGFeatures | None = None,
) -> dict[str, float]:
    """The four measures of the module docstring for one result: ``{"style", "edges", "layout", "colours"}``."""
    image = check_image(image, "image")
    if vgg is None:
        arch = resolve_arch(arch, weights)
        vgg = VGGFeatures(arch, held_out_layers(arch, used), weights=weights, device=image.device)
    return {
        "style": held_out_style(image, style.to(image.device), vgg),
        "edges": edge_agreement(image, content.to(image.device)),
        "layout": layout_agreement(image, content.to(image.device)),
        "colours": colour_distance(image, style.to(image.device)),
    }


def at_least_as_good(mine: Mapping[str, float], bar: Mapping[str, float], tolerance: float = 0.0) -> bool:
    """As much of the style (held-out Gram error no higher), of the photo's edges and of its light and dark
    (correlations no lower) as ``bar``, each within a relative ``tolerance``. A ``bar`` without ``"layout"``
    (a result saved before the measure existed) is judged on the other two."""
    higher = [k for k in ("edges", "layout") if k in bar]
    return mine["style"] <= bar["style"] * (1 + tolerance) and all(
        mine[k] >= bar[k] - tolerance * abs(bar[k]) for k in higher
    )
