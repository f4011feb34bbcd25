"""The two reconstructions style transfer is built from (Gatys et al. 2016, Fig. 1): an image from the
content features of one photo, or from the style statistics (Gram matrices) of one painting alone.

    >>> from nstlib.images import load_image
    >>> content = load_image("images/chelsea.jpg", size=48)
    >>> result = reconstruct(content, "relu4_2", steps=3, progress=False)   # a real run: steps=300
    >>> result.steps_done, result.image.shape
    (3, torch.Size([1, 3, 32, 48]))
    >>> texture = reconstruct(content, ("relu1_1", "relu2_1"), mode="style", steps=3, progress=False)
"""

from __future__ import annotations

import os
from collections.abc import Callable

import torch

from nstlib.device import get_device
from nstlib.errors import InputError
from nstlib.images import ImageSize, check_image, load_image, resize_image
from nstlib.loss.functional import content_loss, gram_matrix, style_loss, tv_loss
from nstlib.net.layers import Layers, layer_weights
from nstlib.net.vgg import VGGFeatures
from nstlib.optim.loop import Progress, TransferResult
from nstlib.optim.schedule import guarded_optimize, initial_image, speed_for
from nstlib.weights.sources import resolve_arch, weights_key, weights_source

__all__ = ["reconstruct", "ImageInput", "as_image"]

ImageInput = torch.Tensor | str | os.PathLike


def as_image(value: ImageInput, name: str) -> torch.Tensor:
    """A (B, 3, H, W) image tensor from a tensor (checked) or a path (loaded)."""
    if isinstance(value, (str, os.PathLike)):
        return load_image(value)
    return check_image(value, name)


def reconstruct(
    target: ImageInput,
    layers: Layers,
    *,
    mode: str = "content",
    size: ImageSize | None = None,
    arch: str | None = None,
    weights: str | os.PathLike | None = None,
    device: torch.device | str | None = None,
    steps: int = 300,
    optimizer: str = "lbfgs",
    lr: float | None = None,
    init: str | torch.Tensor = "noise",
    seed: int = 0,
    pooling: str = "max",
    tv_weight: float = 0.0,
    style_weight: float | None = None,
    callback: Callable[[Progress], bool | None] | None = None,
    progress: bool = True,
    snapshot_every: int | None = None,
    channels_last: bool | None = None,
) -> TransferResult:
    """Find an image whose features match ``target``'s at ``layers`` only (Gatys et al. 2016, Fig. 1).

    * ``mode="content"`` matches the feature maps themselves (Σ_l w_l · mean (F − P)²): lower layers
      give back the pixels almost exactly, higher layers keep the arrangement but not the details.
    * ``mode="style"`` matches only their Gram matrices (β Σ_l w_l · mean (Ĝ − Â)², Ĝ = G / (N M)):
      a texture with the target's statistics but none of its layout. ``size`` may differ from the target's.
      ``style_weight`` β (default: :func:`stylize`'s for these weights, 5e4 for torchvision's) only sets
      the scale: with torchvision's weights these Gram losses are ~1e-4, and torch's L-BFGS skips
      curvature updates below 1e-10, so an unscaled loss barely moves.

    Starts from seeded white noise by default; other arguments as in :func:`stylize` (``channels_last``:
    the network's memory layout, None = the faster one for the device; the values are the same, the
    float rounding is not).
    """
    if mode not in ("content", "style"):
        raise InputError(f"mode must be 'content' or 'style', got {mode!r}.")
    target = as_image(target, "target")
    arch = resolve_arch(arch, weights)
    if style_weight is None:
        style_weight = weights_source(weights).defaults.style_weight
    run_device = get_device(device)
    home = target.device
    target = target.to(run_device)
    weights_l = layer_weights(layers)
    vgg = VGGFeatures(
        arch,
        tuple(weights_l),
        weights=weights,
        pooling=pooling,
        device=run_device,
        channels_last=speed_for(run_device, "fp32", channels_last, False).channels_last,
    )
    with torch.no_grad():
        feats = vgg(target)
        goals = {n: (feats[n] if mode == "content" else gram_matrix(feats[n], normalize="chw")) for n in weights_l}
    del feats
    canvas = target if mode == "content" or size is None else resize_image(target, size)

    def objective(image: torch.Tensor) -> dict[str, torch.Tensor]:
        now = vgg(image)
        if mode == "content":
            terms = {f"content:{n}": w * content_loss(now[n], goals[n], per_image=True) for n, w in weights_l.items()}
        else:
            terms = {
                f"style:{n}": style_weight
                * w
                * style_loss(gram_matrix(now[n], normalize="chw"), goals[n], per_image=True)
                for n, w in weights_l.items()
            }
        if tv_weight:
            terms["tv"] = tv_weight * tv_loss(image, p=1, per_image=True)
        return terms

    start = initial_image(init, canvas, target, seed)
    result = guarded_optimize(
        objective,
        start,
        run_device,
        steps=steps,
        optimizer=optimizer,
        lr=lr,
        callback=callback,
        progress=progress,
        snapshot_every=snapshot_every,
        desc=f"reconstruct ({mode})",
    )
    result.image = result.image.to(home)
    result.settings.update(
        mode=mode,
        layers=weights_l,
        style_weight=style_weight if mode == "style" else None,
        arch=arch,
        weights=weights_key(weights),
        device=str(run_device),
        init=init if isinstance(init, str) else "tensor",
        seed=seed,
        pooling=pooling,
        tv_weight=tv_weight,
        size=tuple(start.shape[-2:]),
        channels_last=vgg.channels_last,
    )
    return result
