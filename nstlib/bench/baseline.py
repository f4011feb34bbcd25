"""The tutorial baseline and per-evaluation timings: what one evaluation of the loss costs, ours and the *Algorithmic Art* lecture slides' design's.

* :class:`TutorialBaseline` — the implementation of the *Algorithmic Art* lecture slides (the PyTorch tutorial's design): loss modules inserted
  as layers into a copied VGG whose weights are not frozen, so every backward also computes weight gradients;
* :func:`run_baseline` — build and run it, timing every evaluation;
* :func:`per_eval_seconds` — the same timing for :func:`nstlib.stylize`;
* :func:`network_seconds` — VGG alone, forward and backward: the work no implementation can skip.

Both sides minimise :data:`OBJECTIVE` on the same pictures (:func:`bench_images`), so their times compare.
"""

from __future__ import annotations

import copy
import functools
import operator
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any, TypedDict

import torch
import torch.nn.functional as F
from torch import nn

from nstlib.algorithms.transfer import stylize
from nstlib.course.files import course_folder
from nstlib.images import load_image, resize_image
from nstlib.loss.functional import tv_loss
from nstlib.net.layers import layer_names
from nstlib.net.vgg import GATYS_CONTENT_LAYER, GATYS_STYLE_LAYERS, VGGFeatures, build_features
from nstlib.weights.sources import load_vgg_state_dict, weights_source

__all__ = [
    "OBJECTIVE",
    "SLIDES_HED",
    "bench_images",
    "TutorialBaseline",
    "run_baseline",
    "per_eval_seconds",
    "network_seconds",
]


class _ObjectiveWeights(TypedDict):
    """The loss weights α, β, γ, as stylize's keywords (so ``stylize(..., **OBJECTIVE)`` type-checks)."""

    content_weight: float
    style_weight: float
    tv_weight: float


# The objective both sides minimise: stylize's defaults (content relu4_2, style relu1_1 … relu5_1).
OBJECTIVE = _ObjectiveWeights(content_weight=1.0, style_weight=5e4, tv_weight=10.0)


def bench_images(size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The photo and the painting every timing uses, ``size`` x ``size``: the course folder's images/chelsea.jpg
    and images/style_waves.jpg (:func:`nstlib.course.files.course_folder`)."""
    images = course_folder() / "images"
    return (
        load_image(images / "chelsea.jpg", size=(size, size)),
        load_image(images / "style_waves.jpg", size=(size, size)),
    )


class _Normalization(nn.Module):
    """The tutorial's first layer, (img - mean) / std, for the weights' input convention (Caffe's: BGR, 0-255)."""

    def __init__(self, weights: str = "random") -> None:
        super().__init__()
        self.convention = weights_source(weights).convention

    def forward(self, img: torch.Tensor) -> torch.Tensor:
        return self.convention.apply(img)


def _tutorial_gram(x: torch.Tensor) -> torch.Tensor:
    a, b, c, d = x.size()
    f = x.view(a * b, c * d)
    return torch.mm(f, f.t()).div(a * b * c * d)


class _ContentLoss(nn.Module):
    def __init__(self, target: torch.Tensor, weight: float) -> None:
        super().__init__()
        self.target, self.weight, self.loss = target.detach(), weight, torch.tensor(0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.loss = self.weight * F.mse_loss(x, self.target)
        return x


class _StyleLoss(nn.Module):
    def __init__(self, target_feature: torch.Tensor, weight: float) -> None:
        super().__init__()
        self.target, self.weight, self.loss = _tutorial_gram(target_feature).detach(), weight, torch.tensor(0.0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.loss = self.weight * F.mse_loss(_tutorial_gram(x), self.target)
        return x


class TutorialBaseline:
    """The *Algorithmic Art* slides' implementation: loss modules inserted as layers into a copied VGG.

    A copy of the VGG's ``features`` (weights *not* frozen, so every backward also computes weight
    gradients), a normalisation module in front, a ``_ContentLoss``/``_StyleLoss`` module after each
    chosen layer, the network cut after the last of them, and ``torch.optim.LBFGS`` with its
    defaults (max_iter=20, history 100), clamping inside the closure as the tutorial does.
    The Gatys layers go under their paper names; ``weights``, ``arch`` and the loss weights are
    parameters: by default stylize's objective on random weights (α=1, β·w_l=1e4, γ=10 with
    nstlib's TV term), so the two minimise the same loss; :data:`SLIDES_HED` is the slides' design on HED's
    VGG-16 with jcjohnson/neural-style's weights. L-BFGS's ``max_iter`` is trimmed on the last call
    so that exactly ``evals`` evaluations run.
    """

    def __init__(
        self,
        content: torch.Tensor,
        style: torch.Tensor,
        weights: str = "random",
        pooling: str = "max",
        arch: str = "vgg19",
        content_weight: float = OBJECTIVE["content_weight"],
        style_weight: float = OBJECTIVE["style_weight"] / len(GATYS_STYLE_LAYERS),
        tv_weight: float = OBJECTIVE["tv_weight"],
    ) -> None:
        # The tutorial runs the style image through the same layers as the content, so it needs the content's size.
        style = (
            resize_image(style, (content.shape[-2], content.shape[-1]))
            if style.shape[-2:] != content.shape[-2:]
            else style
        )
        content_w = {GATYS_CONTENT_LAYER: content_weight}
        style_w = {name: style_weight for name in GATYS_STYLE_LAYERS}  # per layer
        last_index = max(layer_names(arch).index(n) for n in (*content_w, *style_w))
        cnn = build_features(arch, last_index, pooling)
        state = load_vgg_state_dict(arch, weights)
        cnn.load_state_dict(
            {k.removeprefix("features."): v for k, v in state.items() if int(k.split(".")[1]) <= last_index}
        )
        cnn = copy.deepcopy(cnn).eval()  # the tutorial copies the network; requires_grad stays True
        self.model = nn.Sequential(_Normalization(weights))
        self.content_losses: list[_ContentLoss] = []
        self.style_losses: list[_StyleLoss] = []
        for name, layer in zip(layer_names(arch), cnn.children()):
            if isinstance(layer, nn.ReLU):
                layer = nn.ReLU(inplace=False)
            self.model.add_module(name, layer)
            if name in content_w:
                content_loss = _ContentLoss(self.model(content).detach(), content_w[name])
                self.model.add_module(f"content_loss_{name}", content_loss)
                self.content_losses.append(content_loss)
            if name in style_w:
                style_loss = _StyleLoss(self.model(style).detach(), style_w[name])
                self.model.add_module(f"style_loss_{name}", style_loss)
                self.style_losses.append(style_loss)
        self.content, self.tv_weight = content, tv_weight

    def run(self, evals: int, on_eval: Callable[[int, float], None] | None = None) -> tuple[torch.Tensor, list[float]]:
        """Optimise from the content image for exactly ``evals`` evaluations; returns (image, losses)."""
        input_img = self.content.clone().requires_grad_(True)
        optimizer = torch.optim.LBFGS([input_img])
        losses: list[float] = []

        def closure() -> torch.Tensor:
            with torch.no_grad():
                input_img.clamp_(0, 1)
            optimizer.zero_grad()
            self.model(input_img)
            style_score = functools.reduce(operator.add, (sl.loss for sl in self.style_losses))
            content_score = functools.reduce(operator.add, (cl.loss for cl in self.content_losses))
            loss = style_score + content_score
            if self.tv_weight:
                loss = loss + self.tv_weight * tv_loss(input_img)
            loss.backward()
            losses.append(float(loss.detach()))
            if on_eval is not None:
                on_eval(len(losses), losses[-1])
            return loss

        while len(losses) < evals:
            optimizer.param_groups[0]["max_iter"] = min(20, evals - len(losses))
            optimizer.step(closure)
        with torch.no_grad():
            input_img.clamp_(0, 1)
        return input_img.detach(), losses


# The slides' design on trained features: HED's VGG-16 (Caffe convention), jcjohnson/neural-style's loss
# weights for Caffe-scale VGG (content 5, style 100 per layer), no TV term (the slides have none), 300 evaluations.
SLIDES_HED = dict(weights="hed", arch="vgg16", content_weight=5.0, style_weight=100.0, tv_weight=0.0)


def run_baseline(content: torch.Tensor, style: torch.Tensor, evals: int, **design: Any) -> dict[str, Any]:
    """Build and run the baseline; wall seconds include building it, as a user would wait."""
    stamps: list[float] = []
    start = time.perf_counter()
    baseline = TutorialBaseline(content, style, **design)
    image, losses = baseline.run(evals, on_eval=lambda i, loss: stamps.append(time.perf_counter()))
    return {
        "seconds": time.perf_counter() - start,
        "losses": losses,
        "per_eval": _median_step(stamps),
        "best_loss": min(losses),
        "image": image,
    }


# ---------------------------------------------------------------------------------------------- ours
def _median_step(stamps: Sequence[float]) -> float:
    steps = [b - a for a, b in zip(stamps[1:], stamps[2:])]  # skip the first (warm-up) interval
    return statistics.median(steps) if steps else float("nan")


def per_eval_seconds(content: torch.Tensor, style: torch.Tensor, steps: int, **options: Any) -> float:
    """Median seconds between consecutive steps of stylize (evaluation + backward + L-BFGS step)."""
    stamps: list[float] = []
    stylize(
        content,
        style,
        steps=steps,
        progress=False,
        weights="random",
        device=content.device,
        callback=lambda p: stamps.append(time.perf_counter()),
        **OBJECTIVE,
        **options,
    )
    return _median_step(stamps)


def network_seconds(size: tuple[int, int], repeats: int) -> float:
    """VGG alone (to relu5_1, frozen, channels_last), forward + input-gradient backward: the floor's work."""
    vgg = VGGFeatures(
        layers=GATYS_STYLE_LAYERS + (GATYS_CONTENT_LAYER,), weights="random", device="cpu", channels_last=True
    )
    x = torch.rand(1, 3, *size, requires_grad=True)
    best = float("inf")
    for _ in range(repeats + 2):
        t = time.perf_counter()
        sum(f.sum() for f in vgg(x).values()).backward()
        best = min(best, time.perf_counter() - t)
    return best
