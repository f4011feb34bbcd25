"""Checker for lesson 02 (VGG layers), exercise 4: the effective receptive field.

Oracle: the gradient of one unit at the centre of a layer with respect to a seeded noise image, measured here on a
small seeded random VGG, and the smallest centred square that holds half of it. The checker also recognises the
usual wrong answers and says which one it saw. :mod:`nstlib.course.check.vgg` exports it with the lesson's other
checkers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache

import torch

from nstlib.course.check._core import CheckResult, call_safely, exercise, failed, generator, passed
from nstlib.net.layers import receptive_field

__all__ = ["effective_field"]


# ---------------------------------------------------------------------------------------------- exercise 4
def _gradient_map(arch: str, weights: str, layer: str, size: int, pooling: str = "avg") -> torch.Tensor:
    from nstlib.net.vgg import VGGFeatures

    net = VGGFeatures(arch, layers=(layer,), weights=weights, pooling=pooling, device="cpu")
    x = torch.rand(1, 3, size, size, generator=generator(0)).requires_grad_(True)
    fmap = net(x)[layer]
    unit = fmap[0, :, fmap.shape[-2] // 2, fmap.shape[-1] // 2].sum()
    (grad,) = torch.autograd.grad(unit, x)
    return grad.abs().sum(dim=1)[0].double()  # (H, W): how strongly each pixel reaches the unit


def _side_holding(grad: torch.Tensor, mass: float) -> int:
    """The side of the smallest square, centred on the middle of the reached region, holding ``mass`` of the total."""
    rows, cols = torch.nonzero(grad > 0, as_tuple=True)
    r0, c0 = (float(rows.min()) + float(rows.max())) / 2, (float(cols.min()) + float(cols.max())) / 2
    total = float(grad.sum())
    for side in range(1, max(grad.shape) + 1):
        top, left = math.floor(r0 - (side - 1) / 2 + 0.5), math.floor(c0 - (side - 1) / 2 + 0.5)
        inside = float(grad[max(top, 0) : top + side, max(left, 0) : left + side].sum())
        if inside >= mass * total - 1e-12:
            return side
    return max(grad.shape)


@lru_cache(maxsize=16)
def _effective_oracle(arch: str, weights: str, layer: str, size: int) -> dict[str, int]:
    grad = _gradient_map(arch, weights, layer, size)
    return {
        "half": _side_holding(grad, 0.5),
        "ninety": _side_holding(grad, 0.9),
        "squared": _side_holding(grad**2, 0.5),
        "theory": receptive_field(arch, layer)[0],
    }


@lru_cache(maxsize=16)
def _effective_with_max_pooling(arch: str, weights: str, layer: str, size: int) -> int:
    return _side_holding(_gradient_map(arch, weights, layer, size, "max"), 0.5)


@exercise(
    lesson=2,
    number=4,
    title="the effective receptive field",
    level="design an experiment",
    hint="reuse section 6's measurement: the gradient of one unit (all channels summed, at the centre of the "
    "map) with respect to the seeded noise image, |gradient| summed over colours. Then grow a square "
    "around the middle of the reached region, one pixel at a time, until it holds half of the total.",
)
def effective_field(fn: Callable[[str, str, str, int], int]) -> CheckResult:
    """Exercise: ``fn(arch, weights, layer, size)`` → the side of the smallest centred square that holds half of the
    |gradient| of the centre unit of ``layer`` (average pooling, seeded noise input of size × size)."""
    cases = [("vgg11", "random:0", "conv2_1", 48), ("vgg11", "random:0", "conv3_2", 64)]
    answers, oracles = [], []
    for arch, weights, layer, size in cases:
        got, error = call_safely(fn, arch, weights, layer, size)
        if error is not None:
            return error
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            return failed(f"return the side of the square as a number of pixels (an int); got {type(got).__name__}.")
        answers.append(float(got))
        oracles.append(_effective_oracle(arch, weights, layer, size))

    def all_near(key: str, tolerance: float = 1.0) -> bool:
        return all(abs(a - o[key]) <= tolerance for a, o in zip(answers, oracles))

    tolerance = [max(1, round(0.08 * o["half"])) for o in oracles]  # other ways of centring move it by a pixel
    if all(abs(a - o["half"]) <= t for a, o, t in zip(answers, oracles, tolerance)):
        rows = [f"{case[2]}: {o['half']} of {o['theory']} px" for case, o in zip(cases, oracles)]
        return passed(
            "your measurement agrees (" + "; ".join(rows) + "). Half of a unit's sensitivity sits in a square "
            "much smaller than its theoretical field, and the gap widens with depth: the effective receptive "
            "field is roughly Gaussian and grows like the square root of the number of layers, while the "
            "theoretical one grows linearly (Luo et al., 2016). A deep VGG unit 'sees' a large patch, but "
            "it mostly looks at its centre."
        )
    arch, weights, layer, size = cases[-1]
    last, got = oracles[-1], answers[-1]
    what = f"{layer} of {arch} ({weights}, {size} px)"
    if all_near("theory"):
        return failed(
            f"for {what} you gave {got:g} px, the size of the THEORETICAL field ({last['theory']} px, "
            "nst.receptive_field). The question is how much of it the unit really uses: the square that "
            "holds half of the gradient is smaller."
        )
    if all_near("ninety"):
        return failed(
            f"for {what} your square ({got:g} px) holds about 90% of the gradient; the exercise asks for half."
        )
    if all_near("squared"):
        return failed(
            f"for {what} you seem to have weighed the pixels by the SQUARED gradient ({got:g} px); "
            "the exercise sums |gradient|."
        )
    if all(abs(a - _effective_with_max_pooling(*case)) <= 1 for a, case in zip(answers, cases)):
        return failed(
            "your numbers are what max pooling gives; the exercise uses pooling='avg', as section 6 did "
            "(max pooling sends gradient through one input per window)."
        )
    k = next(i for i, (a, o, t) in enumerate(zip(answers, oracles, tolerance)) if abs(a - o["half"]) > t)
    arch, weights, layer, size = cases[k]
    return failed(
        f"for {layer} of {arch} ({weights}, {size} px) the square that holds half of the gradient has a side "
        f"of {oracles[k]['half']} px (theoretical field {oracles[k]['theory']} px); you gave {answers[k]:g}."
    )
