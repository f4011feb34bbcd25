"""Lesson 07's first exercise, one DeepDream step by hand: its checker, ``.works`` (does the learner's step pass, asked
silently) and ``.reference`` (nstlib's step, which the lesson runs until the learner's does).

Oracle: the step of :func:`nstlib.deepdream` — roll the image by (dy, dx), take the gradient of the loss at the rolled
image, divide it by its mean absolute value (+ 1e-8; per image, as :class:`nstlib.optim.steps.NormalizedStep` does),
climb x ← x + η g, roll back, clamp to [0, 1] under ``torch.no_grad()``. The checker's loss depends on where each
pixel is and its gradient is far from uniform, so a roll left undone, a descent, the other normalisations (none, the
largest |g|, ‖g‖₂) and a missing clamp each give their own image.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from nstlib.course.check._core import CheckResult, call_safely, close, exercise, failed, generator, passed, same

__all__ = ["dream_step"]

Loss = Callable[[torch.Tensor], torch.Tensor]


def _roll(x: torch.Tensor, shift: tuple[int, int], sign: int = 1) -> torch.Tensor:
    return torch.roll(x, (sign * shift[0], sign * shift[1]), dims=(2, 3))


def _gradient(x: torch.Tensor, loss_fn: Loss, shift: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
    """(the rolled image, the loss's gradient there)."""
    rolled = _roll(x.detach(), shift).requires_grad_(True)
    (g,) = torch.autograd.grad(loss_fn(rolled), rolled)
    return rolled.detach(), g


def _reference(x: torch.Tensor, loss_fn: Loss, step_size: float, shift: tuple[int, int]) -> torch.Tensor:
    """nstlib's DeepDream step: normalised gradient ascent at the image rolled by ``shift``, rolled back, clamped."""
    rolled, g = _gradient(x, loss_fn, shift)
    with torch.no_grad():
        g = g / (g.abs().mean(dim=(1, 2, 3), keepdim=True) + 1e-8)
        return _roll(rolled + step_size * g, shift, -1).clamp(0, 1)


def _case(seed: int, shape: tuple[int, ...]) -> tuple[torch.Tensor, Loss]:
    g = generator(seed)
    x = torch.rand(shape, generator=g)
    a, b = 3 * torch.randn(shape, generator=g), 4 * torch.rand(shape, generator=g)  # fixed per position

    def loss_fn(img: torch.Tensor) -> torch.Tensor:  # depends on where each pixel is; |gradient| far from uniform
        return (a * img + b * img**2).sum()

    return x, loss_fn


_CASES = [(71, (1, 3, 8, 10), 0.1, (2, -3)), (72, (1, 3, 12, 7), 0.05, (-1, 4))]


def _mistakes(x: torch.Tensor, loss_fn: Loss, eta: float, shift: tuple[int, int]) -> list[tuple[torch.Tensor, str]]:
    rolled, g = _gradient(x, loss_fn, shift)
    mean = g.abs().mean() + 1e-8
    back = lambda t: _roll(t, shift, -1)  # noqa: E731
    return [
        (
            back(rolled - eta * g / mean).clamp(0, 1),
            "you stepped *down* the gradient (x − η g): that is style transfer's descent. DeepDream climbs, "
            "x + η g, to make the layer's activation larger",
        ),
        (
            back(rolled + eta * g).clamp(0, 1),
            "you did not normalise the gradient: divide it by its mean absolute value (+ a small ε), so that "
            "every step moves the pixels by η on average whatever the layer and the image",
        ),
        (
            back(rolled + eta * g / g.abs().max()).clamp(0, 1),
            "you normalised by the largest |g|; nstlib (and Google's notebook) divide by the *mean* |g|, so "
            "that η is the average change of a pixel value, not the largest",
        ),
        (
            back(rolled + eta * g / g.norm()).clamp(0, 1),
            "you normalised by the L2 norm ‖g‖₂; nstlib divides by the *mean* |g| (exercise 5 shows what "
            "‖g‖₂ does to the step's size)",
        ),
        (
            (rolled + eta * g / mean).clamp(0, 1),
            "you returned the image still rolled: roll it back by (−dy, −dx) after the step",
        ),
        (
            (x + eta * g / mean).clamp(0, 1),
            "you added the rolled image's gradient to the unrolled image: the roll is not undone, so each "
            "value of the gradient lands on the wrong pixel. Step the rolled image and roll it back (or roll "
            "the gradient back first)",
        ),
        (
            _roll(rolled + eta * g / mean, shift).clamp(0, 1),
            "you rolled the image on by (dy, dx) again instead of back by (−dy, −dx)",
        ),
        (
            back(rolled + eta * g / mean),
            "you did not clamp: some pixel values left [0, 1]. Clamp the new image to [0, 1] (under torch.no_grad())",
        ),
    ]


@exercise(
    lesson=7,
    number=1,
    title="one DeepDream step",
    level="a few lines",
    hint="rolled = torch.roll(x, shift, dims=(2, 3)), detached, with requires_grad; g = the gradient of "
    "loss_fn(rolled) with respect to rolled (torch.autograd.grad); then, under torch.no_grad(): divide g by "
    "g.abs().mean() + 1e-8, add step_size × g to rolled, roll back by (−dy, −dx), clamp(0, 1).",
)
def dream_step(fn: Callable[[torch.Tensor, Loss, float, tuple[int, int]], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(x, loss_fn, step_size, shift)`` returns the image after one DeepDream step — normalised gradient
    ascent at ``x`` rolled by ``shift = (dy, dx)``, rolled back, clamped to [0, 1], detached."""
    for seed, shape, eta, shift in _CASES:
        x, loss_fn = _case(seed, shape)
        want = _reference(x, loss_fn, eta, shift)
        given = x.clone()
        got, error = call_safely(fn, given, loss_fn, eta, shift)
        if error is not None:
            return error
        where = f"for an image of shape {shape}, step_size {eta} and shift {shift}"
        if not isinstance(got, torch.Tensor):
            return failed(f"{where} your step returned {type(got).__name__}; it should return the new image.")
        if tuple(got.shape) != shape:
            return failed(f"{where} your step returned shape {tuple(got.shape)}; the new image has the shape {shape}.")
        if got.requires_grad:
            return failed(
                f"{where} your new image is still tied to the autograd graph (requires_grad is True): the "
                "update, the roll back and the clamp belong under torch.no_grad() (or return .detach()), or the "
                "next step would backpropagate through every step before it."
            )
        if not torch.equal(given, x):
            return failed(
                f"{where} your step changed the image it was given in place; return a new image and leave x as "
                "it is (the lesson keeps the input to compare)."
            )
        if same(got, want):
            continue
        for wrong, text in _mistakes(x, loss_fn, eta, shift):
            if same(got, wrong):
                return failed(f"{where} {text}.")
        problem = close(got, want, f"{where} the new image", atol=1e-5)
        if problem is not None:
            return problem
    return passed(
        "x ← clip(roll back(roll(x) + η g/mean|g|)): the step of nst.deepdream, with the jitter undone. Dividing by "
        "mean|g| makes η the average change of a pixel value, whatever the layer and the image size; the roll "
        "moves the network's grid of units to a new place every step, so no grid pattern is painted in. The "
        "lesson's hand-written dream below now runs your step."
    )


dream_step.reference = _reference  # type: ignore[attr-defined]
