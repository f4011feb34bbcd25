"""Gatys style transfer and the two reconstructions it is built from.

    >>> result = stylize(content, style, steps=300)        # doctest: +SKIP
    >>> save_image(result.image, "outputs/result.png")     # doctest: +SKIP
"""
from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from typing import Union

import torch

from nstlib.device import get_device
from nstlib.errors import InputError, ResourceError
from nstlib.features import GATYS_CONTENT_LAYER, GATYS_STYLE_LAYERS, VGGFeatures
from nstlib.images import ImageSize, check_image, load_image, resize_image
from nstlib.losses import content_loss, gram_matrix, style_loss, tv_loss
from nstlib.optimize import Objective, Progress, TransferResult, optimize_pixels

__all__ = ["stylize", "reconstruct", "layer_weights"]

ImageInput = Union[torch.Tensor, str, os.PathLike]
Layers = Union[str, Sequence[str], Mapping[str, float]]


def layer_weights(layers: Layers) -> dict[str, float]:
    """Per-layer weights w_l: a mapping is used as given; a name or sequence gets w_l = 1/L each."""
    if isinstance(layers, str):
        return {layers: 1.0}
    if isinstance(layers, Mapping):
        return {str(k): float(v) for k, v in layers.items()}
    names = list(dict.fromkeys(layers))
    return {name: 1.0 / len(names) for name in names}


def _as_image(value: ImageInput, name: str) -> torch.Tensor:
    if isinstance(value, (str, os.PathLike)):
        return load_image(value)
    return check_image(value, name)


def _initial_image(init: str | torch.Tensor, content: torch.Tensor, style: torch.Tensor | None, seed: int) -> torch.Tensor:
    if isinstance(init, torch.Tensor):
        init = check_image(init, "init").to(content.device)
        if init.shape[-2:] != content.shape[-2:]:
            init = resize_image(init, tuple(content.shape[-2:]))
        return init.expand_as(content).clone()
    if init == "content":
        return content.clone()
    if init == "noise":  # white noise, as Gatys et al. start from
        generator = torch.Generator().manual_seed(seed)
        return torch.rand(content.shape, generator=generator).to(content.device)
    if init == "style" and style is not None:
        return resize_image(style, tuple(content.shape[-2:])).expand_as(content).clone()
    raise InputError(f"init must be 'content', 'noise', 'style' or an image tensor, got {init!r}.")


def _out_of_memory(exc: BaseException, image: torch.Tensor, device: torch.device) -> ResourceError:
    h, w = image.shape[-2:]
    smaller = max(32, int(max(h, w) * 0.7) // 16 * 16)
    return ResourceError(
        f"Out of memory on {device} at {h}x{w} px. Try a smaller image (e.g. size={smaller}), fewer or "
        f"shallower style layers, or device='cpu'. ({str(exc).splitlines()[0][:120]})"
    )


def _run(objective: Objective, init: torch.Tensor, device: torch.device, **loop) -> TransferResult:
    try:
        return optimize_pixels(init, objective, **loop)
    except torch.OutOfMemoryError as exc:
        raise _out_of_memory(exc, init, device) from None
    except RuntimeError as exc:  # MPS reports out-of-memory as a plain RuntimeError
        if "out of memory" in str(exc).lower():
            raise _out_of_memory(exc, init, device) from None
        raise


def stylize(
    content: ImageInput,
    style: ImageInput,
    *,
    arch: str = "vgg19",
    weights: str | os.PathLike | None = None,
    device: torch.device | str | None = None,
    content_layers: Layers = (GATYS_CONTENT_LAYER,),
    style_layers: Layers = GATYS_STYLE_LAYERS,
    content_weight: float = 1.0,
    style_weight: float = 5e4,
    tv_weight: float = 10.0,
    steps: int = 300,
    optimizer: str = "lbfgs",
    lr: float | None = None,
    init: str | torch.Tensor = "content",
    seed: int = 0,
    pooling: str = "max",
    style_scale: float = 1.0,
    callback: Callable[[Progress], bool | None] | None = None,
    progress: bool = True,
    snapshot_every: int | None = None,
) -> TransferResult:
    """Paint ``content`` in the style of ``style`` (Gatys, Ecker & Bethge 2016).

    Minimises  α Σ_l c_l L_content,l + β Σ_l w_l L_style,l + γ L_tv  over the pixels of the result,
    with content on relu4_2 and style on relu1_1 … relu5_1 (w_l = 1/5) by default.

    Normalisation and default weights follow a torchvision-era anchor known to work with exactly
    torchvision's VGG19 ImageNet weights: the PyTorch edition of d2l's "Neural Style Transfer"
    chapter (Zhang et al., *Dive into Deep Learning*, §14.12): ImageNet normalisation, Gram
    matrices divided by C·H·W, mean-squared content and style losses, and weights content 1,
    style 1e4 per layer (here β · w_l = 5e4 · 1/5), TV 10 with its ½(mean|Δy| + mean|Δx|).
    Departures: we optimise with L-BFGS in [0, 1] pixel space by default (Gatys' choice; d2l uses
    Adam), and read true relu outputs where d2l's in-place ReLUs blur conv and relu.

    Args:
        content, style: (1, 3, H, W) tensors in [0, 1], or image paths. The result has the content's size.
        content_layers, style_layers: a name, a sequence (equal weights 1/L) or ``{name: weight}``.
        content_weight, style_weight, tv_weight: α, β and γ.
        steps: loss evaluations (= optimiser steps). optimizer: ``"lbfgs"`` or ``"adam"`` (lr 0.02 default).
        init: ``"content"``, ``"noise"`` (seeded by ``seed``), ``"style"`` or an image tensor.
        style_scale: the style image is resized so its long side is ``style_scale`` × the content's.
        callback: called with a :class:`Progress` after every step; return True to stop.
        snapshot_every: keep the image every N steps in ``result.snapshots``.

    Returns a :class:`TransferResult` with ``.image`` (on the content's device), ``.history`` and ``.snapshots``.
    """
    content = _as_image(content, "content")
    style = _as_image(style, "style")
    run_device = get_device(device)
    home = content.device
    content, style = content.to(run_device), style.to(run_device)
    if style_scale <= 0:
        raise InputError(f"style_scale must be positive, got {style_scale}.")
    style = resize_image(style, max(1, round(max(content.shape[-2:]) * style_scale)))
    c_weights, s_weights = layer_weights(content_layers), layer_weights(style_layers)
    vgg = VGGFeatures(arch, tuple(c_weights) + tuple(s_weights), weights=weights, pooling=pooling, device=run_device)
    with torch.no_grad():
        targets = vgg(content)
        content_targets = {name: targets[name] for name in c_weights}
        style_feats = vgg(style)
        style_targets = {name: gram_matrix(style_feats[name], normalize="chw") for name in s_weights}
    del targets, style_feats

    def objective(image: torch.Tensor) -> dict[str, torch.Tensor]:
        feats = vgg(image)
        terms = {f"content:{n}": content_weight * w * content_loss(feats[n], content_targets[n], per_image=True)
                 for n, w in c_weights.items()}
        for n, w in s_weights.items():
            terms[f"style:{n}"] = style_weight * w * style_loss(
                gram_matrix(feats[n], normalize="chw"), style_targets[n], per_image=True)
        if tv_weight:
            terms["tv"] = tv_weight * tv_loss(image, p=1, per_image=True)
        return terms

    start = _initial_image(init, content, style, seed)
    result = _run(objective, start, run_device, steps=steps, optimizer=optimizer, lr=lr, callback=callback,
                  progress=progress, snapshot_every=snapshot_every, desc="stylize")
    result.image = result.image.to(home)
    result.settings.update(
        arch=arch, weights=str(weights) if weights is not None else None, device=str(run_device),
        content_layers=c_weights, style_layers=s_weights, content_weight=content_weight,
        style_weight=style_weight, tv_weight=tv_weight, init=init if isinstance(init, str) else "tensor",
        seed=seed, pooling=pooling, style_scale=style_scale, size=tuple(content.shape[-2:]))
    return result


def reconstruct(
    target: ImageInput,
    layers: Layers,
    *,
    mode: str = "content",
    size: ImageSize | None = None,
    arch: str = "vgg19",
    weights: str | os.PathLike | None = None,
    device: torch.device | str | None = None,
    steps: int = 300,
    optimizer: str = "lbfgs",
    lr: float | None = None,
    init: str | torch.Tensor = "noise",
    seed: int = 0,
    pooling: str = "max",
    tv_weight: float = 0.0,
    callback: Callable[[Progress], bool | None] | None = None,
    progress: bool = True,
    snapshot_every: int | None = None,
) -> TransferResult:
    """Find an image whose features match ``target``'s at ``layers`` only (Gatys et al. 2016, Fig. 1).

    * ``mode="content"`` matches the feature maps themselves (Σ_l w_l · mean (F − P)²): lower layers
      give back the pixels almost exactly, higher layers keep the arrangement but not the details.
    * ``mode="style"`` matches only their Gram matrices (Σ_l w_l · mean (Ĝ − Â)², Ĝ = G / (N M)):
      a texture with the target's statistics but none of its layout. ``size`` may differ from the target's.

    Starts from seeded white noise by default; other arguments as in :func:`stylize`.
    """
    if mode not in ("content", "style"):
        raise InputError(f"mode must be 'content' or 'style', got {mode!r}.")
    target = _as_image(target, "target")
    run_device = get_device(device)
    home = target.device
    target = target.to(run_device)
    weights_l = layer_weights(layers)
    vgg = VGGFeatures(arch, tuple(weights_l), weights=weights, pooling=pooling, device=run_device)
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
            terms = {f"style:{n}": w * style_loss(gram_matrix(now[n], normalize="chw"), goals[n], per_image=True)
                     for n, w in weights_l.items()}
        if tv_weight:
            terms["tv"] = tv_weight * tv_loss(image, p=1, per_image=True)
        return terms

    start = _initial_image(init, canvas, target, seed)
    result = _run(objective, start, run_device, steps=steps, optimizer=optimizer, lr=lr, callback=callback,
                  progress=progress, snapshot_every=snapshot_every, desc=f"reconstruct ({mode})")
    result.image = result.image.to(home)
    result.settings.update(mode=mode, layers=weights_l, arch=arch, weights=str(weights) if weights is not None else None,
                           device=str(run_device), init=init if isinstance(init, str) else "tensor", seed=seed,
                           pooling=pooling, tv_weight=tv_weight, size=tuple(start.shape[-2:]))
    return result
