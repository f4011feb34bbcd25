"""Lesson 03's first exercise, the content loss by hand: its checker and ``.works``, which the lesson uses to decide
whether its loops run the learner's function or nstlib's.

Oracle: :func:`nstlib.content_loss` with ``reduction="gatys"``, L_content = ½ Σ (F − P)² (Gatys et al. 2016, eq. 1),
summed over the images of a batch as nstlib does, and autograd, whose ∂L/∂F must be F − P. The cases have N, M and
N·M all different, so that each usual slip (the mean, a missing ½, dividing by N or M, one image of a batch …) gives
its own factor.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from nstlib.course.check._core import CheckResult, call_safely, close, exercise, failed, generator, not_a_loss, passed
from nstlib.loss.functional import content_loss

__all__ = ["content_loss_by_hand"]


def _cases() -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = generator(30)
    shapes = [(1, 3, 2, 2), (1, 4, 3, 5), (1, 16, 6, 7), (2, 5, 3, 4)]  # the last: a batch of two images
    return [(torch.randn(shape, generator=g), torch.randn(shape, generator=g)) for shape in shapes]


def _factor(got: torch.Tensor, want: torch.Tensor) -> float:
    return float(got.detach().double() / want.double())


def _slips(features: torch.Tensor, target: torch.Tensor) -> list[tuple[float, str]]:
    """(factor, what it means): got = factor × ½ Σ (F − P)² for the usual mistakes."""
    b, n, h, w = features.shape
    every = b * n * h * w
    return [
        (
            2.0 / every,
            "the *mean* of (F − P)², the other convention (nst.content_loss's default). This exercise asks for "
            "Gatys et al.'s ½ Σ (F − P)²: sum the squares, do not divide by their number, and halve",
        ),
        (
            1.0 / every,
            "½ × the mean of (F − P)²: you divided by the number of entries N·M. Gatys et al.'s eq. 1 sums "
            "the squares and only halves them",
        ),
        (2.0, "Σ (F − P)², twice too large: the ½ is missing (it is there so that the gradient is simply F − P)"),
        (2.0 / (b * h * w), "Σ (F − P)²/M: you divided by the positions M = H·W; eq. 1 has no such division"),
        (2.0 / (b * n), "Σ (F − P)²/N: you divided by the channels N; eq. 1 has no such division"),
        (1.0 / (b * h * w), "½ Σ (F − P)²/M: you divided by the positions M = H·W; eq. 1 has no such division"),
        (1.0 / (b * n), "½ Σ (F − P)²/N: you divided by the channels N; eq. 1 has no such division"),
    ]


def _batch_slip(got: torch.Tensor, features: torch.Tensor, target: torch.Tensor) -> str | None:
    """What went wrong with a batch of two images, when the value is one of the known batch mistakes."""
    per_image = [float(content_loss(f[None], p[None], reduction="gatys")) for f, p in zip(features, target)]
    value = float(got.detach())
    if abs(value - per_image[0]) <= 1e-4 * abs(per_image[0]):
        return (
            "gives the loss of the first image only (F[0]?). Sum over every entry of the batch: the loss of a "
            "batch is the sum of its images' losses, as in nst.content_loss"
        )
    if abs(value - sum(per_image) / 2) <= 1e-4 * sum(per_image):
        return (
            "averages the images' losses; the loss of a batch is the *sum* of its images' losses, as in "
            "nst.content_loss (then one image's loss does not depend on how many others share its batch)"
        )
    return None


@exercise(
    lesson=3,
    number=1,
    title="the content loss",
    level="one line",
    hint="square the difference F − P entry by entry, add up all the squares (.sum() with no dim adds every entry "
    "of every image in the batch), and take half. Keep it a torch tensor: no .item(), no float(), no .detach().",
)
def content_loss_by_hand(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(F, P)`` = ½ Σ (F − P)² (Gatys et al. 2016, eq. 1) for (B, N, H, W) features, summed over the
    batch, as a differentiable 0-d tensor."""
    for features, target in _cases():
        shape = tuple(features.shape)
        where = f"for features of shape {shape}" + (" (a batch of two images)" if shape[0] > 1 else "")
        want = content_loss(features, target, reduction="gatys")
        probe = features.clone().requires_grad_(True)
        got, error = call_safely(fn, probe, target.clone())
        if error is not None:
            return error
        problem = not_a_loss(got, where, "channels, positions and the images of the batch")
        if problem is not None:
            return problem
        assert isinstance(got, torch.Tensor)
        if not torch.isfinite(got.detach()):
            return failed(f"{where} your loss is {float(got.detach())}; expected {float(want):.6g}.")
        c = _factor(got, want)
        if abs(c - 1) > 1e-4:
            batch = _batch_slip(got, features, target) if shape[0] > 1 else None
            if batch is not None:
                return failed(f"{where} your loss {batch}.")
            for factor, text in _slips(features, target):
                if abs(c - factor) <= 1e-4 * factor:
                    return failed(f"{where} your loss is {text}.")
            return failed(
                f"{where} your loss is {float(got.detach()):.6g}, expected ½ Σ (F − P)² = {float(want):.6g} "
                f"({c:.4g} × the expected value)."
            )
        (grad,) = torch.autograd.grad(got, probe, allow_unused=True)
        if grad is None:
            return failed(f"{where} your loss does not depend on F: autograd finds no path from it back to F.")
        problem = close(grad, features - target, f"{where} autograd's ∂(your loss)/∂F")
        if problem is not None:
            return problem
    return passed(
        "½ Σ (F − P)², a 0-d tensor autograd differentiates to F − P, the paper's eq. 2. (P − F) squared is the "
        "same number, so either order is right. For a batch it adds every image's loss, as nst.content_loss does. "
        "The lesson's loops below now use your function."
    )
