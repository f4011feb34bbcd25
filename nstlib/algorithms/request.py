"""What :func:`nstlib.stylize` is asked, as two frozen dataclasses, and the request it runs.

stylize turns its 29 keyword arguments into a :class:`Goal` (what to optimise: the network, the loss's layers and
weights, the start, the styles' terms) and an :class:`Execution` (how to run: device, schedule, optimiser, speed
settings, progress), then :func:`prepare_request` checks the images, fills in the weights source's defaults
(:data:`nstlib.weights.sources.SOURCES`) and returns a :class:`Request`: everything the stages need, typed.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, TypeVar, cast

import torch

from nstlib.algorithms.reconstruct import ImageInput, as_image
from nstlib.device import get_device
from nstlib.errors import InputError
from nstlib.loss.objective import LossWeights, Targets
from nstlib.loss.stats import StyleStat
from nstlib.net.layers import Layers, layer_weights
from nstlib.net.vgg import GATYS_STYLE_LAYERS, VGGFeatures
from nstlib.optim.loop import Objective, Progress, TransferResult
from nstlib.optim.schedule import (
    Speed,
    Stage,
    check_fits,
    guarded_optimize,
    initial_image,
    offset_callback,
    precision_setting,
)
from nstlib.weights.sources import resolve_arch, weights_key, weights_source

__all__ = ["Goal", "Execution", "Request", "prepare_request"]

T = TypeVar("T")

_VARIANT_KEYS = ("content_weight", "style_weight", "tv_weight", "content_layers", "style_layers", "init", "seed")


def _filled(value: T | None, name: str) -> T:
    """A goal's setting that :meth:`Goal.with_defaults` fills in; None means that was not called."""
    if value is None:
        raise ValueError(f"Goal.{name} is still None: call Goal.with_defaults() first.")
    return value


@dataclass(frozen=True)
class Goal:
    """What stylize optimises: the network, the loss's layers and weights, the start, the styles' terms."""

    arch: str | None  # None: the weights' own (resolved by with_defaults)
    weights: str | os.PathLike | None  # the network's: "imagenet", "hed", "random[:SEED]", a file
    content_layers: Layers | None  # None: the weights source's (relu4_2, or relu4_2 with a little relu2_2)
    style_layers: Layers | None  # None: relu1_1 … relu5_1 balanced as the weights source says
    content_weight: float | None  # α; None: the weights source's default
    style_weight: float | None  # β
    tv_weight: float | None  # γ
    init: str | torch.Tensor  # "content", "noise", "style" or an image
    seed: int  # of the noise
    pooling: str  # "max" or "avg"
    style_scale: float  # the style's long side over the content's
    style_blend: Sequence[float] | None  # b_i, one per style
    style_masks: Sequence[torch.Tensor] | None  # one region per style
    style_stat: StyleStat  # "gram", "mean_cov" or "w2" (StyleTerms checks it)
    variants: tuple[Mapping[str, Any], ...] | None  # several goals at once, each changing some of the above
    extra_loss: Callable[[torch.Tensor], torch.Tensor] | None = None  # one more term (Ruder et al.'s temporal)

    def with_defaults(self) -> Goal:
        """This goal with the weights source's defaults filled in: arch, α, β, γ, the content and style layers."""
        arch = resolve_arch(self.arch, self.weights)
        defaults = weights_source(self.weights).defaults
        alpha, beta, gamma = defaults.fill(self.content_weight, self.style_weight, self.tv_weight)
        style_layers = self.style_layers
        if style_layers is None:
            style_layers = defaults.style_layer_weights(GATYS_STYLE_LAYERS, arch)
        content_layers = dict(defaults.content_layers) if self.content_layers is None else self.content_layers
        return replace(
            self,
            arch=arch,
            content_weight=alpha,
            style_weight=beta,
            tv_weight=gamma,
            content_layers=content_layers,
            style_layers=style_layers,
        )

    @property
    def network(self) -> str:
        """The network's name, e.g. "vgg19" (after :meth:`with_defaults`)."""
        return _filled(self.arch, "arch")

    def loss_weights(self) -> LossWeights:
        """α, β, γ and the layer weights c_l, w_l of this goal (after :meth:`with_defaults`)."""
        return LossWeights(
            _filled(self.content_weight, "content_weight"),
            _filled(self.style_weight, "style_weight"),
            _filled(self.tv_weight, "tv_weight"),
            dict(layer_weights(self.content_layer_weights)),
            dict(layer_weights(self.style_layer_weights)),
        )

    @property
    def content_layer_weights(self) -> Layers:
        """The content layers and their c_l (after :meth:`with_defaults`)."""
        if self.content_layers is None:  # (not _filled: mypy would widen the union to Collection[str])
            raise ValueError("Goal.content_layers is still None: call Goal.with_defaults() first.")
        return self.content_layers

    @property
    def style_layer_weights(self) -> Layers:
        """The style layers and their w_l (after :meth:`with_defaults`)."""
        if self.style_layers is None:  # (not _filled: mypy would widen the union to Collection[str])
            raise ValueError("Goal.style_layers is still None: call Goal.with_defaults() first.")
        return self.style_layers

    def runs(self) -> tuple[Goal, ...]:
        """One goal per image of the batch: this one, or each variant's changes on top of it."""
        if self.variants is None:
            return (self,)
        if not self.variants:
            raise InputError("variants is empty: give at least one dict, e.g. variants=[{'style_weight': 1e4}].")
        for i, v in enumerate(self.variants):
            unknown = set(v) - set(_VARIANT_KEYS)
            if unknown:
                raise InputError(
                    f"variants[{i}] has unknown key(s) {sorted(unknown)}; a variant may set {', '.join(_VARIANT_KEYS)}."
                )
        return tuple(replace(self, variants=None, **v) for v in self.variants)


@dataclass(frozen=True)
class Execution:
    """How stylize runs: where, the schedule, the optimiser, the network's speed settings, what it reports."""

    device: torch.device | str | None
    steps: int | Sequence[int] | None  # one count, or one per stage; None: the default schedule
    scales: Sequence[int] | None  # long sides of the coarse stages
    optimizer: str  # "lbfgs" or "adam"
    lr: float | None
    precision: str  # "auto", "fp32", "bf16" or "fp16"
    channels_last: bool | None
    compile: bool
    check_memory: bool
    callback: Callable[[Progress], bool | None] | None
    progress: bool
    snapshot_every: int | None

    def run_stage(
        self,
        objective: Objective,
        start: torch.Tensor,
        device: torch.device,
        *,
        steps: int,
        done: int,
        total: int,
        desc: str,
        loss_scale: float,
    ) -> TransferResult:
        """One stage through the loop, its step numbers counted over the whole run (``done`` before it)."""
        return guarded_optimize(
            objective,
            start,
            device,
            steps=steps,
            optimizer=self.optimizer,
            lr=self.lr,
            callback=offset_callback(self.callback, done, total),
            progress=self.progress,
            snapshot_every=self.snapshot_every,
            desc=desc,
            loss_scale=loss_scale,
        )


@dataclass(frozen=True)
class Request:
    """What stylize was asked, with the weights source's defaults filled in and the images on the run device."""

    content: torch.Tensor
    styles: list[torch.Tensor]  # the originals: every stage resizes the style from these
    home: torch.device  # where the result goes back to
    device: torch.device
    goal: Goal  # with the defaults filled in
    runs: tuple[Goal, ...]  # one per image of the batch: its init, seed and weights
    loss_weights: LossWeights  # of the whole batch: floats, or with variants tensors of shape (B,)
    groups: list[list[int]]  # images optimised together

    def start_images(self, group: list[int], content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        """The first stage's start of each image of ``group``, at ``content``'s size."""
        return torch.cat([initial_image(self.runs[i].init, content, style, self.runs[i].seed) for i in group])

    def check_fits(self, stage: Stage, optimizer: str) -> None:
        """Refuse to start (a ResourceError saying the largest size that fits) when ``stage`` would not fit."""
        g = self.goal
        check_fits(
            stage.size,
            len(self.groups[0]),
            self.loss_weights.layers,
            g.network,
            optimizer,
            stage.precision,
            self.device,
        )

    def build_network(self, channels_last: bool) -> VGGFeatures:
        """The frozen VGG that reads every layer of the loss, on the run device."""
        g = self.goal
        return VGGFeatures(
            g.network,
            self.loss_weights.layers,
            weights=g.weights,
            pooling=g.pooling,
            device=self.device,
            channels_last=channels_last,
        )

    def build_targets(self, vgg: VGGFeatures) -> Targets:
        """What the result is pulled towards: the content's feature maps (per stage) and the styles' statistics."""
        g = self.goal
        return Targets(
            vgg,
            self.styles,
            self.loss_weights,
            style_scale=g.style_scale,
            stat=g.style_stat,
            blend=g.style_blend,
            masks=g.style_masks,
        )

    def settings(self, stages: Sequence[Stage], speed: Speed, blend: list[float] | None) -> dict[str, Any]:
        """``result.settings``: what the run used, defaults filled in."""
        g = self.goal
        return dict(
            arch=g.arch,
            weights=weights_key(g.weights),
            device=str(self.device),
            content_layers=layer_weights(g.content_layer_weights),
            style_layers=layer_weights(g.style_layer_weights),
            content_weight=g.content_weight,
            style_weight=g.style_weight,
            tv_weight=g.tv_weight,
            init=g.init if isinstance(g.init, str) else "tensor",
            seed=g.seed,
            pooling=g.pooling,
            style_scale=g.style_scale,
            size=tuple(self.content.shape[-2:]),
            styles=len(self.styles),
            style_blend=blend,
            style_stat=g.style_stat,
            style_masks=g.style_masks is not None,
            scales=[max(s.size) for s in stages],
            variants=list(g.variants) if g.variants is not None else None,
            precision=precision_setting(stages),
            precisions=[s.precision for s in stages],
            channels_last=speed.channels_last,
            compile=speed.compile,
        )


def prepare_request(
    content: ImageInput, style: ImageInput | Sequence[ImageInput], goal: Goal, how: Execution
) -> Request:
    """Check the inputs, fill in the defaults of the weights' source (nstlib.weights.sources), move the images."""
    content = as_image(content, "content")
    given = list(style) if isinstance(style, (list, tuple)) else [cast(ImageInput, style)]
    styles = [as_image(s, "style") for s in given]
    goal = goal.with_defaults()
    device = get_device(how.device)
    if goal.style_scale <= 0:
        raise InputError(f"style_scale must be positive, got {goal.style_scale}.")
    loss_weights = goal.loss_weights()
    runs = goal.runs()
    if goal.variants is not None:
        loss_weights = LossWeights.stack([run.loss_weights() for run in runs], device)
    # Adam is separable per image, so variants share one batch; L-BFGS would couple them (see optimize_pixels).
    groups = [list(range(len(runs)))] if how.optimizer == "adam" else [[i] for i in range(len(runs))]
    return Request(
        content.to(device), [s.to(device) for s in styles], content.device, device, goal, runs, loss_weights, groups
    )
