"""Checkers for lesson 07 (DeepDream): one DeepDream step by hand, one channel's objective, a jitter that is undone, how many octaves fit,
the step under another normalisation, and weights that balance two layers' pull on the pixels.

Oracles: autograd on a loss that depends on position (so a roll that is not undone shows), nstlib's tested
``octave_sizes``, the length of a step normalised by ‖g‖₂ (exactly η) checked again by simulation, and the pull
of each weighted layer re-measured on a small seeded random VGG. Each checker compares a wrong answer with the usual
mistakes (the whole layer instead of one channel, the gradient left in the rolled frame, int() instead of round(),
forgetting the colour channels, balancing loss values instead of gradients …) and says which one it saw.

Exercise 1's checker (the step) lives in :mod:`._dream_step` and exercise 6's in :mod:`._dream_balance`; this module
exports them with the others.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Protocol, SupportsFloat, SupportsIndex, runtime_checkable

import torch

from nstlib.algorithms.dream import octave_sizes
from nstlib.course.check._core import CheckResult, call_safely, exercise, failed, generator, mismatch, passed, same
from nstlib.course.check._dream_balance import balanced_weights
from nstlib.course.check._dream_step import dream_step

__all__ = ["dream_step", "channel_objective", "jittered_gradient", "max_octaves", "l2_step_rms", "balanced_weights"]


@runtime_checkable
class _Number(Protocol):
    """What int() and float() both convert: Python and NumPy numbers, 0-d tensors."""

    def __int__(self) -> int: ...

    def __float__(self) -> float: ...


# --- exercise 2: the objective that dreams one channel ----------------------------------------------------


@exercise(
    lesson=7,
    number=2,
    title="the objective that dreams one channel",
    level="one line",
    hint="index the channel dimension (dim 1) of the (B, C, H, W) activation, then average over the positions "
    "that are left, keeping one value per image.",
)
def channel_objective(fn: Callable[[torch.Tensor, int], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(activation, channel)`` for a (B, C, H, W) activation returns the (B,) mean of that channel."""
    gen = generator(70)
    for shape, channel in [((3, 6, 4, 5), 2), ((2, 5, 6, 7), 0), ((1, 8, 3, 4), 3)]:
        act = torch.rand(shape, generator=gen) * torch.arange(1.0, shape[1] + 1).view(1, -1, 1, 1)
        want = act[:, channel].mean(dim=(1, 2))
        got, error = call_safely(fn, act.clone(), channel)
        if error is not None:
            return error
        where = f"For an activation of shape {shape} and channel={channel},"
        if not isinstance(got, torch.Tensor):
            return failed(
                f"{where} your function returned {type(got).__name__}; return a tensor, so that autograd can "
                "take its gradient with respect to the pixels."
            )
        if same(got, want):
            continue
        value = got.detach().double()
        b, c, h, w = shape
        if value.numel() == 1 and same(value.reshape(()), want.mean()) and b > 1:
            return failed(
                f"{where} you returned one number for the whole batch. Keep one value per image, shape "
                f"(B,) = ({b},), like the terms of dream_loss, so every image of a batch dreams its own "
                "dream."
            )
        mistakes = [
            (
                act.mean(dim=(1, 2, 3)),
                "that is the whole layer's mean over all its channels, the objective of "
                "section 1. Keep channel c alone: activation[:, c]",
            ),
            (
                act[:, channel].sum(dim=(1, 2)),
                f"you summed over the {h}×{w} positions; average them, so the "
                "objective does not grow with the image size",
            ),
            (
                act[:, :, channel].mean(dim=(1, 2)) if channel < h else None,
                "you indexed dim 2, which is the rows (H): "
                "activation[:, :, c] is a row of every channel. The channels are dim 1",
            ),
            (
                act[..., channel].mean(dim=(1, 2)) if channel < w else None,
                "you indexed the last dim, the columns (W). The channels are dim 1",
            ),
            (
                act[:, channel - 1].mean(dim=(1, 2)) if channel > 0 else None,
                "you took channel c − 1: channels are numbered from 0, so channel c is activation[:, c]",
            ),
            (act[:, (channel + 1) % c].mean(dim=(1, 2)), "you took channel c + 1: channels are numbered from 0"),
            (
                act[:, channel].square().mean(dim=(1, 2)),
                "you averaged the squares (an L2 objective); this exercise "
                "asks for the plain mean activation of the channel",
            ),
        ]
        if channel < b and value.shape == (c,) and same(value, act[channel].mean(dim=(1, 2))):
            return failed(
                f"{where} you indexed the batch: activation[c] is image c, and you returned its {c} "
                "channel means. The channels are dim 1: activation[:, c]."
            )
        for wrong, message in mistakes:
            if wrong is not None and same(value, wrong):
                return failed(f"{where} {message}.")
        return mismatch(got, want, f"{where.rstrip(',')} the objective")
    return passed(
        "L_c = mean_{i,j} A_l[:, c, i, j], one value per image. Maximised, it grows the single feature that "
        "channel detects; optimize_pixels(image, lambda x: {'c': your_fn(net(x)[layer], c)}, "
        "maximize=True, optimizer='adam') dreams it."
    )


# --- exercise 3: a jitter that must be undone ----------------------------------------------------------


def _position_loss(weight: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """A loss whose gradient depends on where a pixel is (weight) and on its value (the square term)."""
    return lambda x: (weight * x).sum() + 0.5 * (weight * x.square()).sum()


def _grad_at(loss_fn: Callable, x: torch.Tensor) -> torch.Tensor:
    x = x.detach().clone().requires_grad_(True)
    (g,) = torch.autograd.grad(loss_fn(x), x)
    return g


@exercise(
    lesson=7,
    number=3,
    title="a jitter that is undone",
    level="a few lines",
    hint="roll the image with torch.roll(image, shift, dims=(2, 3)), take the gradient of loss_fn there, and "
    "roll that gradient by the opposite shift so that each value lands on the pixel it belongs to.",
)
def jittered_gradient(fn: Callable[[Callable, torch.Tensor, tuple[int, int]], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(loss_fn, image, shift)`` returns ∂/∂x of loss_fn(roll(x, shift)): the gradient at the rolled
    image, rolled back by −shift."""
    gen = generator(71)
    for shape, shift in [((1, 3, 6, 7), (2, -3)), ((2, 3, 5, 4), (-1, 5)), ((1, 3, 8, 8), (3, 1))]:
        image = torch.rand(shape, generator=gen)
        loss_fn = _position_loss(torch.randn(shape, generator=gen))
        roll = lambda t, s: torch.roll(t, s, dims=(2, 3))  # noqa: E731
        at_rolled = _grad_at(loss_fn, roll(image, shift))  # the gradient in the rolled frame
        want = roll(at_rolled, (-shift[0], -shift[1]))
        got, error = call_safely(fn, loss_fn, image.clone(), shift)
        if error is not None:
            return error
        where = f"For an image of shape {shape} and shift={shift},"
        if same(got, want):
            continue
        if isinstance(got, torch.Tensor) and tuple(got.shape) == shape:
            g = got.detach()
            dy, dx = shift
            mistakes = [
                (
                    at_rolled,
                    "your gradient is still in the rolled frame: its value for pixel (i, j) sits at "
                    "(i + dy, j + dx). Roll it back by −shift before using it",
                ),
                (
                    roll(at_rolled, shift),
                    "you rolled the gradient by +shift a second time; undo the roll with (−dy, −dx)",
                ),
                (
                    _grad_at(loss_fn, image),
                    "that is the gradient at the unrolled image: the jitter never happened. "
                    "Roll the image first, take the gradient there",
                ),
                (
                    roll(_grad_at(loss_fn, roll(image, (dx, dy))), (-dx, -dy)),
                    "you swapped the two shifts: shift is (rows, columns), i.e. (dims 2, 3)",
                ),
                (
                    torch.roll(_grad_at(loss_fn, torch.roll(image, shift, dims=(1, 2))), (-dy, -dx), dims=(1, 2)),
                    "you rolled dims (1, 2): dim 1 is the colour channel. The rows and columns are dims (2, 3)",
                ),
            ]
            for wrong, message in mistakes:
                if same(g, wrong) and not same(wrong, want):
                    return failed(f"{where} {message}.")
        return mismatch(got, want, f"the gradient (shape {shape}, shift={shift})")
    return passed(
        "The gradient is taken where the network saw the image (rolled) and rolled back to where the pixels "
        "are; the step then moves the right pixels, and the stride grid of the network falls somewhere else "
        "at every step. (Had you asked autograd for the gradient with respect to the unrolled image, it "
        "would have undone the roll for you; nstlib rolls by hand because its tiles are cut from the rolled "
        "image.)"
    )


# --- exercise 4: how many octaves fit --------------------------------------------------------------------


def _max_octaves(size: tuple[int, int], octave_scale: float, min_side: int) -> int:
    """The oracle: grow the pyramid with nstlib's octave_sizes until its smallest octave is too small."""
    n = 0
    while min(octave_sizes(size, n + 1, octave_scale)[0]) >= min_side:
        n += 1
    return n


def _unrounded_octaves(size: tuple[int, int], octave_scale: float, min_side: int, side=min) -> int:
    """The count without octave_sizes' rounding (= int() truncation = floor(log(side / min_side) / log s) + 1)."""
    n = 0
    while side(size) / octave_scale**n >= min_side:
        n += 1
    return n


_OCTAVE_CASES = [
    ((85, 128), 1.4, 43),
    ((60, 90), 1.4, 43),
    ((299, 299), 1.3, 75),
    ((300, 200), 1.5, 16),
    ((100, 150), 1.3, 46),
    ((40, 64), 1.4, 43),
    ((171, 256), 1.4, 16),
]


@exercise(
    lesson=7,
    number=4,
    title="how many octaves fit",
    level="a function",
    hint="try n = 1, 2, 3, … and look at the smallest octave of each pyramid, round(min(H, W) / s^(n−1)); stop "
    "before it drops below min_side. Octave sizes are rounded, not truncated.",
)
def max_octaves(fn: Callable[[tuple[int, int], float, int], int]) -> CheckResult:
    """Exercise: ``fn(size, octave_scale, min_side)`` returns the largest n whose pyramid octave_sizes(size, n, s)
    has every side >= min_side (0 when even the full image is too small)."""
    answers: list[int] = []
    for size, scale, min_side in _OCTAVE_CASES:
        got, error = call_safely(fn, size, scale, min_side)
        if error is not None:
            return error
        where = f"For size={size}, octave_scale={scale}, min_side={min_side},"
        try:
            if not isinstance(got, (_Number, SupportsIndex, str)):
                raise TypeError  # int() and float() raise it too; checking first shows mypy a number below
            value = int(got)
        except (TypeError, ValueError, RuntimeError):
            return failed(f"{where} your function returned {got!r}; return a whole number of octaves.")
        if value != float(got):
            return failed(
                f"{where} you returned {got!r}; the number of octaves is a whole number.",
                hint="count the octaves in a loop, stopping before the smallest one gets too small.",
            )
        answers.append(value)
    wants = [_max_octaves(*case) for case in _OCTAVE_CASES]
    if answers == wants:
        return passed(
            "You count octaves by the short side, rounded like octave_sizes. That is how many octaves a "
            "layer allows: Inception's Mixed_7b needs 75 px, so a 299 px image takes 6 octaves of scale 1.3, "
            "and nst.deepdream says so when you ask for more."
        )
    k = next(i for i, (a, w) in enumerate(zip(answers, wants)) if a != w)
    (size, scale, min_side), value, want = _OCTAVE_CASES[k], answers[k], wants[k]
    where = f"For size={size}, octave_scale={scale}, min_side={min_side},"
    smallest = octave_sizes(size, max(want, 1), scale)[0]
    positive = [i for i, w in enumerate(wants) if w > 0]
    if answers == [_unrounded_octaves(*case) for case in _OCTAVE_CASES]:
        return failed(
            f"{where} you compared the unrounded size min(H, W) / s^k with min_side (as int() truncation or "
            f"floor(log(…) / log s) + 1 do), which ignores the rounding: octave sizes are rounded to the "
            f"nearest pixel, so with {want} octaves the smallest is {smallest}, which still fits. You said "
            f"{value}."
        )
    if answers == [_unrounded_octaves(c[0], c[1], c[2], max) for c in _OCTAVE_CASES] or answers == [
        _max_octaves((max(c[0]),) * 2, c[1], c[2]) for c in _OCTAVE_CASES
    ]:
        return failed(
            f"{where} you used the long side, {max(size)} px; the short side, {min(size)} px, is the one "
            "that runs out first."
        )
    if all(answers[i] == wants[i] - 1 for i in positive):
        return failed(
            f"{where} you returned {value}, one too few: perhaps the exponent k of the smallest octave "
            f"(k counts from 0, so {want} octaves have k = 0 … {want - 1})."
        )
    if all(answers[i] == wants[i] + 1 for i in positive):
        tiny = octave_sizes(size, want + 1, scale)[0]
        return failed(
            f"{where} you returned {value}, one too many: the smallest octave of {value} would be {tiny}, "
            f"below min_side={min_side}."
        )
    if want == 0:
        return failed(
            f"{where} you returned {value}, but the full image's short side, {min(size)} px, is already "
            f"below {min_side} px: not even one octave fits, so the answer is 0."
        )
    return failed(f"{where} you returned {value}, expected {want} (the smallest octave then is {smallest}).")


# --- exercise 5: the step under another normalisation ------------------------------------------------------


_RMS_CASES = [(171, 256, 0.01), (512, 512, 0.02), (85, 128, 0.5), (43, 61, 1.0)]


def _simulated_rms(height: int, width: int, step: float) -> float:
    g = torch.randn(1, 3, height, width, generator=generator(height * 1000 + width), dtype=torch.float64) ** 3
    delta = step * g / g.norm()
    return float(delta.square().mean().sqrt())


@exercise(
    lesson=7,
    number=5,
    title="the step under another normalisation",
    level="predict and explain",
    hint="after dividing by ‖g‖₂ the whole step Δx = η g/‖g‖₂ has length ‖Δx‖₂ = η, whatever g is. Share that "
    "length among all the values of an RGB image of H × W pixels: RMS = ‖Δx‖₂ / √(number of values).",
)
def l2_step_rms(fn: Callable[[int, int, float], float]) -> CheckResult:
    """Exercise: ``fn(height, width, step_size)`` predicts the RMS change of the pixel values (before clipping) of one
    step x + η g / ‖g‖₂ on a (1, 3, H, W) image: η / √(3HW)."""
    for height, width, step in _RMS_CASES:
        want = step / math.sqrt(3 * height * width)
        got, error = call_safely(fn, height, width, step)
        if error is not None:
            return error
        where = f"For a {height}×{width} RGB image and step_size={step},"
        try:
            if not isinstance(got, (SupportsFloat, SupportsIndex, str)):
                raise TypeError  # float() raises it too; checking first shows mypy a number below
            value = float(got)
        except (TypeError, ValueError, RuntimeError):
            return failed(f"{where} your function returned {type(got).__name__}; return one number, the predicted RMS.")
        near = lambda a, b: math.isclose(a, b, rel_tol=1e-3)  # noqa: E731
        if near(value, want):
            continue
        n, hw = 3 * height * width, height * width
        mistakes = [
            (
                step,
                "you predicted η, which is what the lesson's normalisation g / mean|g| gives (every value moves by "
                "η on average). Dividing by ‖g‖₂ instead fixes the length of the whole step, ‖Δx‖₂ = η, which all the "
                f"{n:,} values share",
            ),
            (step / math.sqrt(hw), "you forgot the 3 colour channels: the image has 3·H·W values, not H·W"),
            (
                step / n,
                "you divided by the number of values, not its square root: ‖Δx‖₂² = η² is shared among "
                "them, so the RMS is √(η² / N) = η / √N",
            ),
            (step / hw, "you divided by H·W (and not by its square root): RMS = η / √(3·H·W)"),
            (step * math.sqrt(n), "your RMS grows with the image; it shrinks: RMS = ‖Δx‖₂ / √N = η / √N"),
            (step**2 / n, "that is the mean square, η² / N; take its square root for the RMS"),
        ]
        for wrong, message in mistakes:
            if near(value, wrong):
                return failed(f"{where} {message}.")
        measured = _simulated_rms(height, width, step)
        return failed(f"{where} you predicted {value:.4g}; a measured step gives {measured:.4g}.")
    measured = _simulated_rms(*_RMS_CASES[0])
    return passed(
        f"RMS = η / √(3HW) (measured on a random gradient for {_RMS_CASES[0][0]}×{_RMS_CASES[0][1]} px: "
        f"{measured:.3g}). With g/‖g‖₂ the step size depends on the image size. Double the side and each "
        "pixel moves half as far, so a poster would need a step_size twice as large for each doubling of its "
        "side to dream as fast, and the small octaves of a pyramid would dream faster than the large ones. "
        "Dividing by mean|g| makes η a per-pixel amount at every size and for every layer: that is why "
        "Google's notebook does it."
    )
