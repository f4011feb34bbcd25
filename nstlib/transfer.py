"""Gatys style transfer and the two reconstructions it is built from.

    >>> result = stylize(content, style, steps=300)        # doctest: +SKIP
    >>> save_image(result.image, "outputs/result.png")     # doctest: +SKIP
"""
from __future__ import annotations

import contextlib
import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Union

import torch
import torch.nn.functional as F

from nstlib.device import get_device
from nstlib.errors import InputError, ResourceError, is_out_of_memory
from nstlib.features import GATYS_CONTENT_LAYER, GATYS_STYLE_LAYERS, VGGFeatures
from nstlib.images import ImageSize, check_image, load_image, resize_image
from nstlib.losses import content_loss, gram_matrix, style_loss, tv_loss
from nstlib.memory import available_memory, estimate_memory, largest_size
from nstlib.optimize import Objective, Progress, TransferResult, optimize_pixels
from nstlib.sources import resolve_arch, weights_key, weights_source
from nstlib.stats import StyleTerms

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


def _device_budget(device: torch.device) -> int | None:
    """All the memory a run could use on ``device``: a GPU's total, or the RAM available now."""
    if device.type == "cuda":
        return int(torch.cuda.get_device_properties(device).total_memory)
    return available_memory(device)


def _out_of_memory(exc: BaseException, image: torch.Tensor, device: torch.device) -> ResourceError:
    h, w = image.shape[-2:]
    smaller = max(32, int(max(h, w) * 0.7) // 16 * 16)
    with contextlib.suppress(Exception):  # the estimate (nstlib.memory) knows better when it can be had
        budget = _device_budget(device)
        fits = largest_size(budget, device=device, aspect=min(h, w) / max(h, w), batch=image.shape[0]) if budget else 0
        if 32 <= fits < max(h, w):
            smaller = fits
    return ResourceError(
        f"Out of memory on {device} at {h}x{w} px. Try a smaller image (e.g. size={smaller}), fewer or "
        f"shallower style layers, or device='cpu'. ({(str(exc).splitlines() or [type(exc).__name__])[0][:120]})"
    )


def _run(objective: Objective, init: torch.Tensor, device: torch.device, **loop) -> TransferResult:
    try:
        return optimize_pixels(init, objective, **loop)
    except (RuntimeError, MemoryError) as exc:  # MPS and the CPU allocator report it as a plain RuntimeError
        if is_out_of_memory(exc):
            raise _out_of_memory(exc, init, device) from None
        raise


_VARIANT_KEYS = ("content_weight", "style_weight", "tv_weight", "content_layers", "style_layers", "init", "seed")


@dataclass
class _Weights:
    """α, β, γ and the per-layer weights: floats, or tensors of shape (B,) with one value per variant."""

    alpha: Any
    beta: Any
    gamma: Any
    content: dict[str, Any]
    style: dict[str, Any]

    def take(self, index: list[int]) -> "_Weights":
        pick = (lambda v: v[index] if isinstance(v, torch.Tensor) else v)
        return _Weights(pick(self.alpha), pick(self.beta), pick(self.gamma),
                        {n: pick(v) for n, v in self.content.items()}, {n: pick(v) for n, v in self.style.items()})


def _variant_weights(variants: Sequence[Mapping[str, Any]], base: dict[str, Any], device: torch.device) -> _Weights:
    """Stack each variant's α, β, γ and layer weights (0 for a layer a variant does not use)."""
    for i, v in enumerate(variants):
        unknown = set(v) - set(_VARIANT_KEYS)
        if unknown:
            raise InputError(f"variants[{i}] has unknown key(s) {sorted(unknown)}; a variant may set "
                             f"{', '.join(_VARIANT_KEYS)}.")
    rows = [{**base, **v} for v in variants]
    vec = (lambda key: torch.tensor([float(r[key]) for r in rows], device=device))
    per_layer = []
    for key in ("content_layers", "style_layers"):
        tables = [layer_weights(r[key]) for r in rows]
        names = list(dict.fromkeys(n for t in tables for n in t))
        per_layer.append({n: torch.tensor([t.get(n, 0.0) for t in tables], device=device) for n in names})
    return _Weights(vec("content_weight"), vec("style_weight"), vec("tv_weight"), *per_layer)


def _stage_sizes(content: torch.Tensor, scales: Sequence[int] | None) -> list[tuple[int, int]]:
    """(H, W) of each stage of a coarse-to-fine run: the given long sides, then the content's own size."""
    h, w = (int(v) for v in content.shape[-2:])
    if scales is None:
        return [(h, w)]
    long_side = max(h, w)
    sizes = sorted({int(s) for s in scales})
    if any(s < 1 or s > long_side for s in sizes):
        raise InputError(f"scales are long sides between 1 and the content's {long_side} px (the run always ends "
                         f"at the content's size), got {tuple(scales)}.")
    coarse = [(max(1, round(h * s / long_side)), max(1, round(w * s / long_side))) for s in sizes if s < long_side]
    return coarse + [(h, w)]


def _stage_steps(steps: int | Sequence[int], stages: int) -> list[int]:
    counts = [int(steps)] * stages if isinstance(steps, int) else [int(s) for s in steps]
    if len(counts) != stages:
        raise InputError(f"steps has {len(counts)} entries but the run has {stages} stage(s); give one count per "
                         "stage (coarse to fine) or a single int for every stage.")
    if any(c < 0 for c in counts):
        raise InputError(f"steps must be >= 0, got {tuple(counts)}.")
    return counts


@dataclass
class _Speed:
    """How the network runs: autocast precision, memory layout, torch.compile, cuDNN autotuning."""

    device: torch.device
    precision: str = "fp32"
    channels_last: bool = False
    compile: bool = False

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.precision == "fp32":
            return contextlib.nullcontext()
        dtype = torch.bfloat16 if self.precision == "bf16" else torch.float16
        return torch.autocast(self.device.type, dtype=dtype)

    @property
    def loss_scale(self) -> float:  # fp16 gradients of the style loss would underflow without it
        return 2.0 ** 12 if self.precision == "fp16" else 1.0

    @contextlib.contextmanager
    def cudnn(self) -> Iterator[None]:
        """cudnn.benchmark on for the run (every step has the same shapes), restored afterwards."""
        if self.device.type != "cuda" or torch.backends.cudnn.deterministic:
            yield
            return
        before = torch.backends.cudnn.benchmark
        torch.backends.cudnn.benchmark = True
        try:
            yield
        finally:
            torch.backends.cudnn.benchmark = before


_CHANNELS_LAST_BY_DEFAULT = ("cuda", "cpu")  # where channels_last=None means True (BENCHMARKS.md)


def _speed(device: torch.device, precision: str, channels_last: bool | None, compile: bool) -> _Speed:
    if precision not in ("fp32", "bf16", "fp16"):
        raise InputError(f"precision must be 'fp32', 'bf16' or 'fp16', got {precision!r}.")
    if channels_last is None:  # measured in BENCHMARKS.md
        channels_last = device.type in _CHANNELS_LAST_BY_DEFAULT
    return _Speed(device, precision, bool(channels_last), bool(compile))


def _check_memory(size: tuple[int, int], batch: int, layers: Sequence[str], arch: str, optimizer: str,
                  precision: str, device: torch.device) -> None:
    """Raise ResourceError before starting when the estimate (nstlib.memory) exceeds the free memory."""
    if optimizer not in ("lbfgs", "adam"):
        return  # optimize_pixels reports the bad name
    free = available_memory(device)
    if free is None:
        return
    need = estimate_memory(size, arch=arch, layers=layers, batch=batch, optimizer=optimizer, precision=precision,
                           device=device)
    if need.total <= free:
        return
    h, w = size
    fits = largest_size(free, device=device, aspect=min(h, w) / max(h, w), arch=arch, layers=layers, batch=batch,
                        optimizer=optimizer, precision=precision)
    hint = (f"The largest that fits is about {fits} px on the long side: load the content with "
            f"nst.load_image(path, size={fits}) (--size {fits} on the command line)" if fits
            else "Not even a small image fits: free some memory first")
    raise ResourceError(
        f"stylize at {h}x{w} px (batch {batch}) needs {need} on {device}, but only {free / 2**30:.2f} GiB are free. "
        f"{hint}, use optimizer='adam' (--optimizer adam; no L-BFGS history), or pass check_memory=False "
        "(--no-memory-check) to try anyway.")


def _offset(callback: Callable[[Progress], bool | None] | None, done: int, total: int
            ) -> Callable[[Progress], bool | None] | None:
    """A callback that sees step numbers counted over all stages of a coarse-to-fine run."""
    if callback is None or (done == 0 and total == 0):
        return callback
    return lambda p: callback(replace(p, step=p.step + done, steps=total))


def _concat(parts: list[TransferResult]) -> TransferResult:
    """The stages of one coarse-to-fine run as one result: histories one after another."""
    if len(parts) == 1:
        return parts[0]
    history: dict[str, list[float]] = defaultdict(list)
    per_image: list[dict[str, list[float]]] = [defaultdict(list) for _ in parts[-1].image_history]
    snapshots: dict[int, torch.Tensor] = {}
    done = 0
    for part in parts:
        for key, values in part.history.items():
            history[key] += values
        for mine, theirs in zip(per_image, part.image_history):
            for key, values in theirs.items():
                mine[key] += values
        snapshots.update({done + k: v for k, v in part.snapshots.items()})
        done += part.steps_done
    return TransferResult(
        image=parts[-1].image, history=dict(history), snapshots=snapshots, settings=dict(parts[-1].settings),
        steps_done=done, interrupted=any(p.interrupted for p in parts), seconds=sum(p.seconds for p in parts),
        recoveries=sum(p.recoveries for p in parts), image_history=[dict(h) for h in per_image])


def _stack(groups: list[TransferResult]) -> TransferResult:
    """Variants run one after another (L-BFGS) as one batched result; ``history`` sums them."""
    if len(groups) == 1:
        return groups[0]
    keys = set.intersection(*(set(g.history) for g in groups))
    length = min(len(g.history.get("total", [])) for g in groups)
    history = {k: [sum(g.history[k][i] for g in groups) for i in range(length)] for k in keys}
    return TransferResult(
        image=torch.cat([g.image for g in groups]), history=history, snapshots={},
        settings=dict(groups[0].settings), steps_done=max(g.steps_done for g in groups),
        interrupted=any(g.interrupted for g in groups), seconds=sum(g.seconds for g in groups),
        recoveries=sum(g.recoveries for g in groups),
        image_history=[h for g in groups for h in (g.image_history or [g.history])])


def stylize(
    content: ImageInput,
    style: ImageInput | Sequence[ImageInput],
    *,
    arch: str | None = None,
    weights: str | os.PathLike | None = None,
    device: torch.device | str | None = None,
    content_layers: Layers = (GATYS_CONTENT_LAYER,),
    style_layers: Layers | None = None,
    content_weight: float | None = None,
    style_weight: float | None = None,
    tv_weight: float | None = None,
    steps: int | Sequence[int] = 300,
    optimizer: str = "lbfgs",
    lr: float | None = None,
    init: str | torch.Tensor = "content",
    seed: int = 0,
    pooling: str = "max",
    style_scale: float = 1.0,
    callback: Callable[[Progress], bool | None] | None = None,
    progress: bool = True,
    snapshot_every: int | None = None,
    scales: Sequence[int] | None = None,
    variants: Sequence[Mapping[str, Any]] | None = None,
    precision: str = "fp32",
    channels_last: bool | None = None,
    compile: bool = False,
    check_memory: bool = True,
    style_blend: Sequence[float] | None = None,
    style_masks: Sequence[torch.Tensor] | None = None,
    style_stat: str = "gram",
) -> TransferResult:
    """Paint ``content`` in the style of ``style`` (Gatys, Ecker & Bethge 2016).

    Minimises  α Σ_l c_l L_content,l + β Σ_l w_l L_style,l + γ L_tv  over the pixels of the result,
    with content on relu4_2 and style on relu1_1 … relu5_1 by default.

    The losses are Gram matrices divided by C·H·W and mean-squared content and style errors. The
    default α, β, γ depend on the weights, because each source's activations live on their own scale
    (:data:`nstlib.sources.SOURCES`), and each comes from an anchor that used that scale:

    * torchvision's ImageNet VGG (and random weights): the PyTorch edition of d2l's "Neural Style
      Transfer" chapter (Zhang et al., *Dive into Deep Learning*, §14.12): content 1, style 1e4 per
      layer (here β · w_l = 5e4 · 1/5), TV 10 with its ½(mean|Δy| + mean|Δx|).
    * Caffe-scale VGG (``weights="hed"``): content 5 as jcjohnson/neural-style; the five style layers
      balanced as Gatys et al.'s own E_l balances them (w_l ∝ N_l², since at Caffe scale relu5_1's
      Gram loss is ~1e5 times smaller than relu1_1's); β = 2500 and γ = 10 judged by eye.

    Departures: we optimise with L-BFGS in [0, 1] pixel space by default (Gatys' choice; d2l uses
    Adam), and read true relu outputs where d2l's in-place ReLUs blur conv and relu.

    Args:
        content, style: (1, 3, H, W) tensors in [0, 1], or image paths. The result has the content's size.
        arch, weights: the network (``None``: the weights' own, vgg19 or HED's vgg16) and its weights
            (``"imagenet"``, ``"hed"``, ``"random[:SEED]"``, a file; ``None``: ``NSTLIB_WEIGHTS`` or imagenet).
        content_layers, style_layers: a name, a sequence (equal weights 1/L) or ``{name: weight}``;
            ``style_layers=None``: relu1_1 … relu5_1 with the weights source's balance (1/5 each, or ∝ N_l²).
        content_weight, style_weight, tv_weight: α, β and γ; ``None``: the weights source's defaults
            (above; the values used are in ``result.settings``).
        steps: loss evaluations (= optimiser steps). optimizer: ``"lbfgs"`` or ``"adam"`` (lr 0.02 default).
        init: ``"content"``, ``"noise"`` (seeded by ``seed``), ``"style"`` or an image tensor.
        style_scale: the style image is resized so its long side is ``style_scale`` × the content's.
        callback: called with a :class:`Progress` after every step; return True to stop.
        snapshot_every: keep the image every N steps in ``result.snapshots``.
        style: one style image, or a list of them (see :class:`nstlib.stats.StyleTerms`, Gatys et al. 2017):
            ``style_blend`` weighs them (default 1/K each), ``style_masks`` (one (H, W) mask in [0, 1]
            per style, any resolution) confines each to a region of the result.
        style_stat: ``"gram"`` (default), ``"mean_cov"`` or ``"w2"`` (:data:`nstlib.stats.STYLE_STATS`).
        scales: coarse-to-fine: long sides to optimise at first, e.g. ``scales=(128,)`` for a 256 px
            content: optimise at 128 px, upsample the result (bilinear) as the start at 256 px, refine.
            The run always ends at the content's size. ``steps`` is then one count per stage (coarse
            to fine, e.g. ``steps=(200, 100)``) or one int used at every stage. Style targets are
            recomputed at each stage from the original style image.
        variants: several runs at once, e.g. ``[{"style_weight": 1e3}, {"style_weight": 1e5}]``; each
            dict may set content_weight, style_weight, tv_weight, content_layers, style_layers, init and
            seed. The result is a batch, one image per variant; ``result.split()`` gives one result (and
            history) per variant. With ``optimizer="adam"`` they are optimised as one batch (Adam is
            per-pixel, so this is exactly the separate runs, only faster); with L-BFGS they run one
            after another sharing the network and targets (L-BFGS's curvature estimate would mix them).
        precision: ``"fp32"`` (default), or ``"bf16"``/``"fp16"`` autocast for the network on GPUs;
            Gram matrices and losses stay in float32 (fp16 Gram sums overflow), fp16 uses loss scaling.
        channels_last: memory layout of the network (None: the faster one measured for the device).
        compile: run the network through ``torch.compile`` (pays off on GPUs for long runs).
        check_memory: refuse to start, saying the largest size that fits, when the estimate of
            :func:`nstlib.estimate_memory` exceeds the free memory of the device.

    Returns a :class:`TransferResult` with ``.image`` (on the content's device), ``.history`` and ``.snapshots``.
    """
    content = _as_image(content, "content")
    styles = [_as_image(s, "style") for s in (style if isinstance(style, (list, tuple)) else [style])]
    arch = resolve_arch(arch, weights)
    defaults = weights_source(weights).defaults
    content_weight, style_weight, tv_weight = defaults.fill(content_weight, style_weight, tv_weight)
    if style_layers is None:
        style_layers = defaults.style_layer_weights(GATYS_STYLE_LAYERS, arch)
    run_device = get_device(device)
    home = content.device
    content = content.to(run_device)
    originals = [s.to(run_device) for s in styles]  # every stage resizes the style from these
    if style_scale <= 0:
        raise InputError(f"style_scale must be positive, got {style_scale}.")
    c_weights, s_weights = layer_weights(content_layers), layer_weights(style_layers)
    wt = _Weights(content_weight, style_weight, tv_weight, c_weights, s_weights)
    runs = [{"init": init, "seed": seed}]
    if variants is not None:
        if not variants:
            raise InputError("variants is empty: give at least one dict, e.g. variants=[{'style_weight': 1e4}].")
        base = dict(content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight,
                    content_layers=content_layers, style_layers=style_layers, init=init, seed=seed)
        wt = _variant_weights(variants, base, run_device)
        runs = [{"init": v.get("init", init), "seed": v.get("seed", seed)} for v in variants]
    sizes = _stage_sizes(content, scales)
    counts = _stage_steps(steps, len(sizes))
    # Adam is separable per image, so variants share one batch; L-BFGS would couple them (see optimize_pixels).
    groups = [list(range(len(runs)))] if optimizer == "adam" else [[i] for i in range(len(runs))]
    speed = _speed(run_device, precision, channels_last, compile)
    if check_memory:
        _check_memory(sizes[-1], len(groups[0]), tuple(wt.content) + tuple(wt.style), arch, optimizer, precision,
                      run_device)
    vgg = VGGFeatures(arch, tuple(wt.content) + tuple(wt.style), weights=weights, pooling=pooling, device=run_device,
                      channels_last=speed.channels_last)
    forward = torch.compile(vgg) if speed.compile else vgg
    targets_at: dict[tuple[int, int], tuple[dict[str, torch.Tensor], StyleTerms, torch.Tensor]] = {}

    def targets_for(content_s: torch.Tensor) -> tuple[dict[str, torch.Tensor], StyleTerms, torch.Tensor]:
        """Content maps and style statistics at this stage's size (in float32, without autocast)."""
        key = tuple(content_s.shape[-2:])
        if key not in targets_at:
            styles_s = [resize_image(s, max(1, round(max(key) * style_scale))) for s in originals]
            with torch.no_grad():
                feats = vgg(content_s)
                content_targets = {name: feats[name] for name in wt.content}
            del feats
            # With variants the per-layer weights differ per image: StyleTerms gets w_l = 1, the objective applies them.
            unit = wt.style if variants is None else {n: 1.0 for n in wt.style}
            style_terms = StyleTerms.from_images(vgg, styles_s, unit, stat=style_stat, blend=style_blend,
                                                 masks=style_masks)
            targets_at.clear()  # only the current stage's targets are kept
            targets_at[key] = (content_targets, style_terms, styles_s[0])
        return targets_at[key]

    def make_objective(content_s: torch.Tensor, w: _Weights) -> Objective:
        content_targets, style_terms, _ = targets_for(content_s)

        def objective(image: torch.Tensor) -> dict[str, torch.Tensor]:
            with speed.autocast():
                feats = forward(image)
            feats = {n: f.float() for n, f in feats.items()}  # losses and Gram matrices in float32
            terms = {f"content:{n}": w.alpha * c * content_loss(feats[n], content_targets[n], per_image=True)
                     for n, c in w.content.items()}
            terms.update(style_terms(feats, w.beta))  # Σ_l β w_l Σ_i b_i L_stat (stats.StyleTerms)
            if variants is not None:
                terms.update({f"style:{n}": terms[f"style:{n}"] * v for n, v in w.style.items()})
            if isinstance(w.gamma, torch.Tensor) or w.gamma:
                terms["tv"] = w.gamma * tv_loss(image, p=1, per_image=True)
            return terms

        return objective

    total_steps = sum(counts)
    results: list[TransferResult] = []
    with speed.cudnn():
        for group in groups:
            parts: list[TransferResult] = []
            image: torch.Tensor | None = None
            w_group = wt.take(group) if variants is not None and len(groups) > 1 else wt
            for (h, w), n in zip(sizes, counts):
                content_s = content if (h, w) == tuple(content.shape[-2:]) else resize_image(content, (h, w))
                objective = make_objective(content_s, w_group)
                if image is None:
                    style_s = targets_for(content_s)[2]
                    start = torch.cat([_initial_image(runs[i]["init"], content_s, style_s, runs[i]["seed"]) for i in group])
                else:  # coarse to fine: the previous stage's result, upsampled, is this stage's start
                    start = F.interpolate(image, size=(h, w), mode="bilinear", align_corners=False).clamp(0.0, 1.0)
                done = sum(p.steps_done for p in parts)
                part = _run(objective, start, run_device, steps=n, optimizer=optimizer, lr=lr,
                            callback=_offset(callback, done, total_steps), progress=progress,
                            snapshot_every=snapshot_every, desc="stylize" if len(sizes) == 1 else f"stylize {h}x{w}",
                            loss_scale=speed.loss_scale)
                part.settings["stage"] = (h, w)
                parts.append(part)
                image = part.image
                if part.interrupted or part.steps_done < n:  # Ctrl-C, or the callback asked to stop
                    break
            result = _concat(parts)
            if tuple(result.image.shape[-2:]) != tuple(content.shape[-2:]):  # stopped during a coarse stage
                result.image = F.interpolate(result.image, size=tuple(content.shape[-2:]), mode="bilinear",
                                             align_corners=False).clamp(0.0, 1.0)
            result.settings["stages"] = [(p.settings["stage"], p.steps_done) for p in parts]
            results.append(result)
            if result.interrupted:
                break
    if len(results) < len(groups):  # interrupted: the variants not yet run keep their start image
        for group in groups[len(results):]:
            blank = torch.cat([_initial_image(runs[i]["init"], content, originals[0], runs[i]["seed"]) for i in group])
            results.append(TransferResult(image=blank, history={}, image_history=[{} for _ in group]))
    result = _stack(results)
    result.image = result.image.to(home)
    result.settings.update(
        arch=arch, weights=weights_key(weights), device=str(run_device),
        content_layers=c_weights, style_layers=s_weights, content_weight=content_weight,
        style_weight=style_weight, tv_weight=tv_weight, init=init if isinstance(init, str) else "tensor",
        seed=seed, pooling=pooling, style_scale=style_scale, size=tuple(content.shape[-2:]))
    result.settings.update(styles=len(styles), style_blend=next(iter(targets_at.values()))[1].blend, style_stat=style_stat,
                           style_masks=style_masks is not None)
    result.settings.update(scales=[max(s) for s in sizes], variants=list(variants) if variants is not None else None,
                           precision=precision, channels_last=speed.channels_last, compile=speed.compile)
    return result


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
    target = _as_image(target, "target")
    arch = resolve_arch(arch, weights)
    if style_weight is None:
        style_weight = weights_source(weights).defaults.style_weight
    run_device = get_device(device)
    home = target.device
    target = target.to(run_device)
    weights_l = layer_weights(layers)
    vgg = VGGFeatures(arch, tuple(weights_l), weights=weights, pooling=pooling, device=run_device,
                      channels_last=_speed(run_device, "fp32", channels_last, False).channels_last)
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
            terms = {f"style:{n}": style_weight * w * style_loss(gram_matrix(now[n], normalize="chw"), goals[n],
                                                                 per_image=True)
                     for n, w in weights_l.items()}
        if tv_weight:
            terms["tv"] = tv_weight * tv_loss(image, p=1, per_image=True)
        return terms

    start = _initial_image(init, canvas, target, seed)
    result = _run(objective, start, run_device, steps=steps, optimizer=optimizer, lr=lr, callback=callback,
                  progress=progress, snapshot_every=snapshot_every, desc=f"reconstruct ({mode})")
    result.image = result.image.to(home)
    result.settings.update(mode=mode, layers=weights_l, style_weight=style_weight if mode == "style" else None,
                           arch=arch, weights=weights_key(weights),
                           device=str(run_device), init=init if isinstance(init, str) else "tensor", seed=seed,
                           pooling=pooling, tv_weight=tv_weight, size=tuple(start.shape[-2:]),
                           channels_last=vgg.channels_last)
    return result
