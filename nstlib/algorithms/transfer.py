"""Gatys style transfer: paint a photo in the style of a painting by optimising its pixels.

:func:`stylize` reads top-down: the request (its keywords as a Goal and an Execution, inputs checked, the weights
source's defaults filled in: :mod:`nstlib.algorithms.request`), the plan (sizes, steps and precision per stage:
:mod:`nstlib.optim.schedule`), the network and the targets (:mod:`nstlib.loss.objective`), each group of images
through every stage (:func:`nstlib.optim.loop.optimize_pixels`, which also reports progress), the result. The two
reconstructions it is built from are in :mod:`nstlib.algorithms.reconstruct`.

    >>> from nstlib.images import load_image, save_image
    >>> content = load_image("images/tubingen.jpg", size=48)
    >>> style = load_image("images/starry_night.jpg", size=48)
    >>> result = stylize(content, style, steps=3, progress=False)   # a real run: size=256, the default steps
    >>> result.steps_done, result.settings["content_layers"]
    (3, {'relu4_2': 1.0})
    >>> save_image(result.image, "outputs/result.png")
    PosixPath('outputs/result.png')
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any, NamedTuple, cast

import torch

from nstlib.algorithms.reconstruct import ImageInput
from nstlib.algorithms.request import Execution, Goal, Request, prepare_request
from nstlib.images import resize_image
from nstlib.loss.objective import Targets, add_term, stage_objective
from nstlib.loss.stats import StyleStat
from nstlib.net.frozen import LowPrecisionFeatures
from nstlib.net.layers import Layers, layer_weights
from nstlib.net.vgg import VGGFeatures
from nstlib.optim.loop import Progress, TransferResult
from nstlib.optim.schedule import (
    Speed,
    Stage,
    concat_stages,
    plan_stages,
    speed_for,
    warm_start,
)

__all__ = ["stylize", "layer_weights"]


def stylize(
    content: ImageInput,
    style: ImageInput | Sequence[ImageInput],
    *,
    arch: str | None = None,
    weights: str | os.PathLike | None = None,
    device: torch.device | str | None = None,
    content_layers: Layers | None = None,
    style_layers: Layers | None = None,
    content_weight: float | None = None,
    style_weight: float | None = None,
    tv_weight: float | None = None,
    steps: int | Sequence[int] | None = None,
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
    precision: str = "auto",
    channels_last: bool | None = None,
    compile: bool = False,
    check_memory: bool = True,
    style_blend: Sequence[float] | None = None,
    style_masks: Sequence[torch.Tensor] | None = None,
    style_stat: str = "gram",
    extra_loss: Callable[[torch.Tensor], torch.Tensor] | None = None,
) -> TransferResult:
    """Paint ``content`` in the style of ``style`` (Gatys, Ecker & Bethge 2016).

    Minimises  α Σ_l c_l L_content,l + β Σ_l w_l L_style,l + γ L_tv  over the pixels of the result,
    with content on relu4_2 and style on relu1_1 … relu5_1 by default.

    The losses are Gram matrices divided by C·H·W and mean-squared content and style errors. The
    default α, β, γ depend on the weights, because each source's activations live on their own scale
    (:data:`nstlib.weights.sources.SOURCES`), and each comes from an anchor that used that scale:

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
            ``content_layers=None``: the weights source's (Gatys et al.'s relu4_2; on HED's weights relu4_2
            plus relu2_2 at a tenth of its weight, which keeps the photo's fine edges: BENCHMARKS.md);
            ``style_layers=None``: relu1_1 … relu5_1 with the weights source's balance (1/5 each, or ∝ N_l²).
        content_weight, style_weight, tv_weight: α, β and γ; ``None``: the weights source's defaults
            (above; the values used are in ``result.settings``).
        steps: loss evaluations (= optimiser steps), one int or one per stage of ``scales``. ``None``
            (default, with ``scales=None``): the default schedule, half the size with 70 steps, then the
            full size with 12 (82 at the full size below 128 px): a finished picture in about a twentieth of
            the time of the original design's 300 full-size L-BFGS evaluations (BENCHMARKS.md); with
            ``scales`` given, 300 per stage. Pass ``steps=300`` for Gatys et al.'s single-scale run.
        optimizer: ``"lbfgs"`` or ``"adam"`` (lr 0.02 default).
        init: ``"content"``, ``"noise"`` (seeded by ``seed``), ``"style"`` or an image tensor.
        style_scale: the style image is resized so its long side is ``style_scale`` × the content's.
        callback: called with a :class:`Progress` after every step; return True to stop.
        snapshot_every: keep the image every N steps in ``result.snapshots``.
        style: one style image, or a list of them (see :class:`nstlib.loss.stats.StyleTerms`, Gatys et al. 2017):
            ``style_blend`` weighs them (default 1/K each), ``style_masks`` (one (H, W) mask in [0, 1]
            per style, any resolution) confines each to a region of the result.
        style_stat: ``"gram"`` (default), ``"mean_cov"`` or ``"w2"`` (:data:`nstlib.loss.stats.STYLE_STATS`).
        extra_loss: one more term of the objective, ``extra_loss(image)`` on the image being optimised (at each
            stage's size): a 0-d tensor or one value per image, kept in ``result.history["extra"]``.
            :func:`nstlib.stylize_video` passes Ruder et al.'s temporal term.
        scales: coarse-to-fine: long sides to optimise at first, e.g. ``scales=(128,)`` for a 256 px
            content: optimise at 128 px, then start at 256 px from the photo plus what the 128 px stage
            changed (result − photo at 128 px, upsampled bilinearly), and refine. The run always ends at
            the content's size. ``steps`` is then one count per stage (coarse to fine, e.g.
            ``steps=(200, 100)``) or one int used at every stage. Style targets are recomputed at each
            stage from the original style image.
        variants: several runs at once, e.g. ``[{"style_weight": 1e3}, {"style_weight": 1e5}]``; each
            dict may set content_weight, style_weight, tv_weight, content_layers, style_layers, init and
            seed. The result is a batch, one image per variant; ``result.split()`` gives one result (and
            history) per variant. With ``optimizer="adam"`` they are optimised as one batch (Adam is
            per-pixel, so this is exactly the separate runs, only faster); with L-BFGS they run one
            after another sharing the network and targets (L-BFGS's curvature estimate would mix them).
        precision: ``"auto"`` (default): bf16 for every stage of the coarse-to-fine schedule where bf16
            is native (:func:`native_bf16`: CUDA, CPUs with avx512_bf16 or AMX), fp32 for a single stage
            (an int ``steps``) and everywhere else; or ``"fp32"``, ``"bf16"``, ``"fp16"`` for every stage.
            On a CPU, bf16 runs a bf16 copy of the network end to end (:class:`nstlib.net.frozen.
            LowPrecisionFeatures`) and the Gram matrices' matmul in bf16 with float32 sums; elsewhere
            autocast. The losses stay in float32 (fp16 Gram sums overflow: fp16 keeps them in float32 and
            uses loss scaling). ``result.settings`` has ``"precision"`` ("fp32", "bf16" …) and
            ``"precisions"`` per stage.
        channels_last: memory layout of the network (None: the faster one measured for the device).
        compile: run the network through ``torch.compile`` (pays off on GPUs for long runs).
        check_memory: refuse to start, saying the largest size that fits, when the estimate of
            :func:`nstlib.estimate_memory` exceeds the free memory of the device.

    Returns a :class:`TransferResult` with ``.image`` (on the content's device), ``.history`` and ``.snapshots``.
    """
    goal = Goal(
        arch=arch,
        weights=weights,
        content_layers=content_layers,
        style_layers=style_layers,
        content_weight=content_weight,
        style_weight=style_weight,
        tv_weight=tv_weight,
        init=init,
        seed=seed,
        pooling=pooling,
        style_scale=style_scale,
        style_blend=style_blend,
        style_masks=style_masks,
        style_stat=cast(StyleStat, style_stat),  # StyleTerms checks the name
        variants=None if variants is None else tuple(variants),
        extra_loss=extra_loss,
    )
    how = Execution(
        device=device,
        steps=steps,
        scales=scales,
        optimizer=optimizer,
        lr=lr,
        precision=precision,
        channels_last=channels_last,
        compile=compile,
        check_memory=check_memory,
        callback=callback,
        progress=progress,
        snapshot_every=snapshot_every,
    )

    # 1. the request: inputs checked, the weights source's defaults filled in, images on the run device
    request = prepare_request(content, style, goal, how)

    # 2. the plan: sizes coarse to fine, steps and precision per stage, how the network runs; does it fit?
    stages = plan_stages(request.content, how.scales, how.steps, how.precision, request.device)
    speed = speed_for(request.device, "fp32", how.channels_last, how.compile)
    if how.check_memory:
        request.check_fits(stages[-1], how.optimizer)  # the memory estimate of the last (largest) stage

    # 3. the network (VGGFeatures) and the targets: the photo's maps, the paintings' statistics (loss.objective)
    vgg = request.build_network(speed.channels_last)
    targets = request.build_targets(vgg)
    forward = _Networks.build(vgg, speed, stages)

    # 4. each group of images through every stage (variants one group after another with L-BFGS)
    results = _run_groups(stages, request, targets, forward, speed, how)

    # 5. the result, back on the content's device
    result = _stack(results)
    result.image = result.image.to(request.home)
    result.settings.update(request.settings(stages, speed, targets.blend))
    return result


def _run_groups(
    stages: list[Stage], request: Request, targets: Targets, forward: _Networks, speed: Speed, how: Execution
) -> list[TransferResult]:
    """Each group of images through every stage; after an interruption the rest keep their start."""
    results: list[TransferResult] = []
    with speed.cudnn():
        for group in request.groups:
            results.append(_run_stages(group, stages, request, targets, forward, speed, how))
            if results[-1].interrupted:
                break
    return results + [_not_run(group, request) for group in request.groups[len(results) :]]


def _run_stages(
    group: list[int],
    stages: list[Stage],
    request: Request,
    targets: Targets,
    forward: _Networks,
    speed: Speed,
    how: Execution,
) -> TransferResult:
    """One group of images through every stage, each starting from the last one's result."""
    content, total = request.content, sum(s.steps for s in stages)
    weights = request.loss_weights.take(group)
    parts: list[TransferResult] = []
    image: torch.Tensor | None = None
    previous = content  # the photo at the previous stage's size
    for stage in stages:
        content_s = content if stage.size == tuple(content.shape[-2:]) else resize_image(content, stage.size)
        stage_targets = targets.at(content_s)
        stage_speed = replace(speed, precision=stage.precision)
        objective = stage_objective(stage_targets, weights, forward.for_stage(stage_speed), stage_speed)
        if request.goal.extra_loss is not None:
            objective = add_term(objective, "extra", request.goal.extra_loss)
        if image is None:
            start = request.start_images(group, content_s, stage_targets.first_style)
        else:  # coarse to fine: the photo plus the previous stage's change, upsampled (warm_start)
            start = warm_start(image, content_s, previous)
        desc = "stylize" if len(stages) == 1 else f"stylize {stage.size[0]}x{stage.size[1]}"
        part = how.run_stage(
            objective,
            start,
            request.device,
            steps=stage.steps,
            done=sum(p.steps_done for p in parts),
            total=total,
            desc=desc,
            loss_scale=stage_speed.loss_scale,
        )
        part.settings["stage"] = stage.size
        parts.append(part)
        previous, image = content_s, part.image
        if part.interrupted or part.steps_done < stage.steps:  # Ctrl-C, or the callback asked to stop
            break
    return concat_stages(parts, (int(content.shape[-2]), int(content.shape[-1])))


class _Networks(NamedTuple):
    """The network as it runs in float32 (or under autocast), and its bf16 copy for end-to-end bf16 stages."""

    network: Callable[[torch.Tensor], dict[str, torch.Tensor]]
    low_precision: LowPrecisionFeatures | None

    @classmethod
    def build(cls, vgg: VGGFeatures, speed: Speed, stages: Sequence[Stage]) -> _Networks:
        bf16 = any(replace(speed, precision=s.precision).end_to_end for s in stages)
        return cls(torch.compile(vgg) if speed.compile else vgg, LowPrecisionFeatures(vgg) if bf16 else None)

    def for_stage(self, speed: Speed) -> Callable[[torch.Tensor], dict[str, torch.Tensor]]:
        return self.low_precision if speed.end_to_end and self.low_precision is not None else self.network


def _not_run(group: list[int], request: Request) -> TransferResult:
    """A group the run did not reach (it was interrupted): its images keep their start."""
    blank = request.start_images(group, request.content, request.styles[0])
    return TransferResult(image=blank, history={}, image_history=[{} for _ in group])


def _stack(groups: list[TransferResult]) -> TransferResult:
    """Variants run one after another (L-BFGS) as one batched result; ``history`` sums them."""
    if len(groups) == 1:
        return groups[0]
    keys = set.intersection(*(set(g.history) for g in groups))
    length = min(len(g.history.get("total", [])) for g in groups)
    history = {k: [sum(g.history[k][i] for g in groups) for i in range(length)] for k in keys}
    return TransferResult(
        image=torch.cat([g.image for g in groups]),
        history=history,
        snapshots={},
        settings=dict(groups[0].settings),
        steps_done=max(g.steps_done for g in groups),
        interrupted=any(g.interrupted for g in groups),
        seconds=sum(g.seconds for g in groups),
        recoveries=sum(g.recoveries for g in groups),
        image_history=[h for g in groups for h in (g.image_history or [g.history])],
    )
