"""Checker for lesson 07 (DeepDream), exercise 6: weights that balance two layers' pull on the pixels.

Oracle: the pull of each layer alone (mean |∂ mean(A_l) / ∂x| and ‖∂ mean(A_l) / ∂x‖₂) measured on a small seeded
random VGG built here, on photo-like test images. The checker also recognises the usual wrong weights (the equal
ones of KDAG IIT Kharagpur's blog post *How art is generated from Algorithms?*, weights proportional to the pull,
balancing loss values instead of gradients, layer sizes) and says which one it saw. :mod:`nstlib.course.check.dream` exports it with the lesson's other checkers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence

import torch

from nstlib.course.check._core import CheckResult, call_safely, exercise, failed, generator, passed

__all__ = ["balanced_weights"]


# --- exercise 6: weights that balance two layers' pull ------------------------------------------------------


def _pulls(net: torch.nn.Module, image: torch.Tensor, layers: Sequence[str]) -> dict[str, torch.Tensor]:
    """∂ mean(A_l) / ∂x for each layer alone, on ``image``."""
    x = image.detach().clone().requires_grad_(True)
    feats = net(x)
    return {name: torch.autograd.grad(feats[name].mean(), x, retain_graph=True)[0] for name in layers}


class _TinyVGG(torch.nn.Module):
    """A small seeded random VGG (3×3 convolutions, ReLUs, 2×2 max pools; 8–32 channels) returning {relu name: map}.

    It is built in milliseconds, where a random VGG-16 takes most of a second; the pull per layer is just as
    unequal on it.
    """

    def __init__(self, widths: Sequence[Sequence[int]], seed: int) -> None:
        super().__init__()
        gen, names, previous = generator(seed), [], 3
        layers: list[torch.nn.Module] = []
        for block, convs in enumerate(widths, start=1):
            if block > 1:
                layers.append(torch.nn.MaxPool2d(2))
                names.append(f"pool{block - 1}")
            for depth, width in enumerate(convs, start=1):
                conv = torch.nn.Conv2d(previous, width, 3, padding=1)
                assert conv.bias is not None  # Conv2d has a bias unless built with bias=False
                with torch.no_grad():
                    conv.weight.copy_(torch.randn(conv.weight.shape, generator=gen) * math.sqrt(2 / (9 * previous)))
                    conv.bias.copy_(0.05 * torch.randn(width, generator=gen))
                layers += [conv, torch.nn.ReLU()]
                names += [f"conv{block}_{depth}", f"relu{block}_{depth}"]
                previous = width
        self.layers, self.names = torch.nn.ModuleList(layers), names
        self.requires_grad_(False)

    def forward(self, image: torch.Tensor) -> dict[str, torch.Tensor]:
        out, x = {}, image
        for name, layer in zip(self.names, self.layers):
            x = layer(x)
            out[name] = x
        return out


def _balance_image(kind: str, height: int, width: int) -> torch.Tensor:
    """A photo-like test image (smooth blobs or stripes), so that pulls measured on noise instead do not match."""
    if kind == "smooth":
        coarse = torch.rand(1, 3, 4, 5, generator=generator(75))
        return torch.nn.functional.interpolate(coarse, size=(height, width), mode="bilinear", align_corners=False)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, height), torch.linspace(0, 1, width), indexing="ij")
    stripes = (0.5 + 0.4 * torch.sin(25 * xx + 6 * yy)).expand(1, 3, height, width)
    return stripes * torch.tensor([1.0, 0.7, 0.4]).view(1, 3, 1, 1)


def _spread(weights: Mapping[str, float], pull: Mapping[str, float]) -> float:
    """The strongest weighted pull over the weakest (1 = balanced)."""
    weighted = [weights[name] * pull[name] for name in pull]
    return max(weighted) / min(weighted)


def _proportional(weights: Mapping[str, float], candidate: Mapping[str, float], layers: Sequence[str]) -> bool:
    """True when ``weights`` are ``candidate`` up to a common factor (each ratio to the first layer's within 2%)."""
    return all(
        math.isclose(weights[n] / weights[layers[0]], candidate[n] / candidate[layers[0]], rel_tol=0.02) for n in layers
    )


_BALANCE_CASES = [
    (((8, 8), (16, 16), (32, 32)), ("relu1_2", "relu3_2"), "smooth", (32, 40)),
    (((8,), (16,), (24, 24), (32,)), ("relu2_1", "relu3_1", "relu4_1"), "stripes", (40, 36)),
]


@exercise(
    lesson=7,
    number=6,
    title="weights that balance two layers",
    level="design an experiment",
    hint="the step divides the total gradient by its size, so a layer's share of the step is its share of the "
    "gradient. Measure, for each layer alone, how hard mean(A_l) pulls on the pixels of this image "
    "(mean |∂ mean(A_l) / ∂x|), and give each layer a weight that cancels its pull.",
)
def balanced_weights(fn: Callable[[torch.nn.Module, torch.Tensor, Sequence[str]], Mapping[str, float]]) -> CheckResult:
    """Exercise: ``fn(net, image, layers)`` returns {layer: w_l > 0} such that every weighted term w_l · mean(A_l)
    sends the same mean |∂/∂x| (or the same ‖∂/∂x‖₂) to the pixels of ``image``."""
    for k, (widths, layers, kind, (height, width)) in enumerate(_BALANCE_CASES):
        net = _TinyVGG(widths, seed=76 + k)
        image = _balance_image(kind, height, width).contiguous()
        got, error = call_safely(fn, net, image.clone(), list(layers))
        if error is not None:
            return error
        where = f"On a small random VGG with layers {', '.join(layers)},"
        if not isinstance(got, Mapping) or set(map(str, got)) != set(layers):
            keys = sorted(map(str, got)) if isinstance(got, Mapping) else type(got).__name__
            return failed(f"{where} return a dict {{layer: weight}} with one weight per layer; you returned {keys}.")
        try:
            weights = {name: float(got[name]) for name in layers}
        except (TypeError, ValueError, RuntimeError):
            return failed(f"{where} every weight should be a number; you returned {dict(got)!r}.")
        if not all(math.isfinite(w) and w > 0 for w in weights.values()):
            return failed(
                f"{where} every weight should be a positive, finite number (a negative weight would make "
                f"that layer's activations shrink); you returned {weights}."
            )
        pulls = _pulls(net, image, layers)
        mean_abs = {name: float(g.abs().mean()) for name, g in pulls.items()}
        norm = {name: float(g.norm()) for name, g in pulls.items()}
        if _spread(weights, mean_abs) < 1.02 or _spread(weights, norm) < 1.02:
            continue

        with torch.no_grad():
            feats = net(image)
        strong = max(layers, key=lambda name: mean_abs[name])
        mistakes = [
            (
                {n: 1.0 for n in layers},
                f"these are the blog post's equal weights. On this image {strong} pulls "
                f"{max(mean_abs.values()) / min(mean_abs.values()):.1f}× harder than the weakest layer: measure the pulls "
                "and divide them out",
            ),
            (
                mean_abs,
                "you gave each layer a weight proportional to its pull, so the layer that already pulls harder "
                "pulls harder still. Divide by the pull instead",
            ),
            (
                {n: 1.0 / float(feats[n].mean()) for n in layers},
                "you balanced the loss values (w_l = 1 / mean(A_l)), "
                "not the gradients. The step is normalised by the total gradient, so what decides each layer's share of "
                "the step is its share of ∂L/∂x, not of L",
            ),
            (
                {n: 1.0 / feats[n][0].numel() for n in layers},
                "you weighted by 1 / (C·H·W): the means already divide "
                "by the layer size (section 4), so that divides twice, and the pulls stay unequal",
            ),
            (
                {n: float(feats[n][0].numel()) for n in layers},
                "you weighted by the layer sizes C·H·W: that undoes the "
                "means of section 4 and turns the loss back into raw sums",
            ),
        ]
        for candidate, message in mistakes:
            if _proportional(weights, candidate, layers):
                return failed(f"{where} {message}.")
        worst = max(layers, key=lambda n: weights[n] * mean_abs[n])
        return failed(
            f"{where} your weights {', '.join(f'{n}: {w:.3g}' for n, w in weights.items())} leave "
            f"{worst}'s weighted pull {_spread(weights, mean_abs):.2f}× the weakest one's (mean |∂/∂x|; "
            f"‖∂/∂x‖₂: {_spread(weights, norm):.2f}×). Measure each layer alone on the image you are given."
        )
    return passed(
        "Each weighted layer now pulls equally hard on the pixels. Only the ratios matter (the normalised "
        "step ignores a common factor). Now run the experiment: dream the blog post's pair with equal and with "
        "balanced weights, look at both, and read the per-layer curves of result.history."
    )
