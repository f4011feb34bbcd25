"""The objective of style transfer (Gatys, Ecker & Bethge 2016): its weights, its targets, its named terms.

    L(x) = α Σ_l c_l L_content,l(x) + β Σ_l w_l L_style,l(x) + γ L_tv(x)

:class:`LossWeights` holds α, β, γ, c_l and w_l; :class:`Targets` computes the content's feature maps and the
styles' statistics at a stage's size; :func:`stage_objective` puts them together into an :data:`Objective`,
the callable the optimisation loop minimises.

    >>> w = LossWeights(1.0, 1e4, 0.0, {"relu4_2": 1.0}, {"relu1_1": 0.5, "relu2_1": 0.5})
    >>> w.layers
    ('relu4_2', 'relu1_1', 'relu2_1')
    >>> LossWeights.stack([w, LossWeights(2.0, 1e3, 0.0, {"relu4_2": 1.0}, {"relu1_1": 1.0})]).style["relu2_1"]
    tensor([0.5000, 0.0000])
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from nstlib.errors import InputError
from nstlib.images import resize_image
from nstlib.loss.functional import content_loss, tv_loss
from nstlib.loss.stats import StyleStat, StyleTerms
from nstlib.net.vgg import VGGFeatures

__all__ = ["Objective", "LossWeights", "Targets", "StageTargets", "stage_objective", "add_term"]

# An objective maps the current image (B, 3, H, W) to named, already-weighted loss terms, each of shape (B,):
# "content:relu4_2", "style:relu1_1", "tv", … The group is the part before the colon. The same contract as
# nstlib.optim.loop.Objective, restated here because the losses sit below the loop.
Objective = Callable[[torch.Tensor], dict[str, torch.Tensor]]

Weight = float | torch.Tensor  # one value, or one per image of the batch: shape (B,)


@dataclass(frozen=True)
class LossWeights:
    """α, β, γ and the per-layer weights c_l, w_l: floats for one run, or tensors of shape (B,) with one
    value per image of a batch of variants (0 for a layer a variant does not use)."""

    alpha: Weight  # content
    beta: Weight  # style
    gamma: Weight  # total variation
    content: dict[str, Weight]  # c_l
    style: dict[str, Weight]  # w_l

    @property
    def layers(self) -> tuple[str, ...]:
        """Every layer the objective reads: the content layers, then the style layers."""
        return tuple(self.content) + tuple(self.style)

    @property
    def style_in_terms(self) -> dict[str, float]:
        """The w_l that :class:`StyleTerms` applies: the weights themselves, or 1 where they differ per image."""
        return {n: 1.0 if isinstance(v, torch.Tensor) else v for n, v in self.style.items()}

    @property
    def style_per_image(self) -> dict[str, torch.Tensor]:
        """The w_l that differ per image: the objective applies them to StyleTerms' terms (none for one run)."""
        return {n: v for n, v in self.style.items() if isinstance(v, torch.Tensor)}

    def take(self, index: list[int]) -> LossWeights:
        """The weights of the images ``index`` of the batch (floats stay as they are)."""
        pick = lambda v: v[index] if isinstance(v, torch.Tensor) else v
        return LossWeights(
            pick(self.alpha),
            pick(self.beta),
            pick(self.gamma),
            {n: pick(v) for n, v in self.content.items()},
            {n: pick(v) for n, v in self.style.items()},
        )

    @staticmethod
    def stack(rows: Sequence[LossWeights], device: torch.device | None = None) -> LossWeights:
        """One batch of weights from one row of floats per image: α, β, γ and each layer's weight become
        tensors of shape (B,), 0 for a layer a row does not use."""
        vec = lambda pick: torch.tensor([float(pick(r)) for r in rows], device=device)
        per_layer: list[dict[str, Weight]] = []
        for tables in ([r.content for r in rows], [r.style for r in rows]):
            names = list(dict.fromkeys(n for t in tables for n in t))
            per_layer.append({n: torch.tensor([t.get(n, 0.0) for t in tables], device=device) for n in names})
        return LossWeights(vec(lambda r: r.alpha), vec(lambda r: r.beta), vec(lambda r: r.gamma), *per_layer)


@dataclass(frozen=True)
class StageTargets:
    """What one stage's objective compares against, at that stage's size."""

    content: dict[str, torch.Tensor]  # the content's feature maps {layer: (1, N, H, W)}
    style: StyleTerms  # the styles' statistics
    first_style: torch.Tensor  # the first style image at this size (init="style" starts from it)


class Targets:
    """The targets of each stage: the content's maps and the styles' statistics at a stage's size.

    Computed once per size, in float32 without autocast; only the current stage's are kept. The styles are
    resized from the originals at every stage, so that their long side is ``style_scale`` × the content's.
    """

    def __init__(
        self,
        vgg: VGGFeatures,
        styles: list[torch.Tensor],
        weights: LossWeights,
        *,
        style_scale: float,
        stat: StyleStat,
        blend: Sequence[float] | None,
        masks: Sequence[torch.Tensor] | None,
    ) -> None:
        self.vgg, self.styles, self.weights = vgg, styles, weights
        self.style_scale, self.stat, self.given_blend, self.masks = style_scale, stat, blend, masks
        self._size: tuple[int, ...] | None = None
        self._value: StageTargets | None = None

    def at(self, content_s: torch.Tensor) -> StageTargets:
        """The targets for a content image at a stage's size."""
        key = tuple(content_s.shape[-2:])
        if key != self._size or self._value is None:
            styles_s = [resize_image(s, max(1, round(max(key) * self.style_scale))) for s in self.styles]
            with torch.no_grad():
                feats = self.vgg(content_s)
                content_targets = {name: feats[name] for name in self.weights.content}
            del feats
            self._size, self._value = None, None  # the previous stage's targets go first
            style_terms = StyleTerms.from_images(
                self.vgg,
                styles_s,
                self.weights.style_in_terms,
                stat=self.stat,
                blend=self.given_blend,
                masks=self.masks,
            )
            self._size, self._value = key, StageTargets(content_targets, style_terms, styles_s[0])
        return self._value

    @property
    def blend(self) -> list[float] | None:
        """The blend weights b_i the style terms use (None before the first stage)."""
        return self._value.style.blend if self._value is not None else None


class Precision(Protocol):
    """How the network runs: anything with an ``autocast()`` context (nstlib.optim.schedule.Speed)."""

    def autocast(self) -> contextlib.AbstractContextManager: ...


def stage_objective(
    targets: StageTargets, w: LossWeights, forward: Callable[[torch.Tensor], dict[str, torch.Tensor]], speed: Precision
) -> Objective:
    """α Σ c_l L_content + β Σ w_l L_style + γ L_tv as named terms of shape (B,).

    The network runs under ``speed.autocast()`` (or in bf16 end to end); the losses in float32.
    """
    content_targets, style_terms = targets.content, targets.style

    def objective(image: torch.Tensor) -> dict[str, torch.Tensor]:
        with speed.autocast():
            feats = forward(image)
        # The losses in float32; bf16 features (end to end) go to the Gram matrices' matmul as they are (it
        # accumulates in float32; the matrices come back in float32: loss.stats.StyleTerms.distance).
        feats = {n: f if f.dtype == torch.bfloat16 else f.float() for n, f in feats.items()}
        terms = {
            f"content:{n}": w.alpha * c * content_loss(feats[n].float(), content_targets[n], per_image=True)
            for n, c in w.content.items()
        }
        terms.update(style_terms(feats, w.beta))  # Σ_l β w_l Σ_i b_i L_stat (stats.StyleTerms)
        # w_l that differ per image: StyleTerms used w_l = 1 (LossWeights.style_in_terms), applied here
        terms.update({f"style:{n}": terms[f"style:{n}"] * v for n, v in w.style_per_image.items()})
        if isinstance(w.gamma, torch.Tensor) or w.gamma:
            terms["tv"] = w.gamma * tv_loss(image, p=1, per_image=True)
        return terms

    return objective


def add_term(objective: Objective, name: str, term: Callable[[torch.Tensor], torch.Tensor]) -> Objective:
    """``objective`` with one more named term, ``term(image)``: a 0-d tensor (the same for every image of the
    batch) or one value per image. :func:`nstlib.stylize`'s ``extra_loss`` (Ruder et al.'s temporal term)."""

    def with_term(image: torch.Tensor) -> dict[str, torch.Tensor]:
        terms = objective(image)
        value = term(image)
        if not isinstance(value, torch.Tensor) or value.dim() > 1 or value.numel() not in (1, image.shape[0]):
            raise InputError(
                f"extra_loss must return a 0-d tensor or one value per image (shape ({image.shape[0]},)), got "
                f"{tuple(value.shape) if isinstance(value, torch.Tensor) else type(value).__name__}."
            )
        terms[name] = value.float().reshape(-1).expand(image.shape[0])
        return terms

    return with_term
