"""Checkers for lesson 01 (CNN basics): weight counts, pooling, fitting a kernel, shifts and weight sharing.

Every checker compares the learner's answer with an oracle: parameter counts of real ``nn.Linear`` /
``nn.Conv2d`` layers (on the ``meta`` device: shapes only), what ``torch.nn.functional`` itself computes,
least squares solved here in float64, or a measurement of the layers the exercise names. Each one also
recognises the usual wrong answers and says which one it saw.

Exercise 5's checker lives in :mod:`._basics_sharing`; this module exports it with the others.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from nstlib.course.check._basics_sharing import sharing_experiment
from nstlib.course.check._core import (
    CheckResult,
    as_number,
    call_safely,
    close,
    exercise,
    failed,
    generator,
    mismatch,
    passed,
    same,
)

__all__ = ["fc_params", "max_pool_by_hand", "recover_kernel", "shift_commuters", "sharing_experiment"]


def _count(layer: nn.Module) -> int:
    return sum(p.numel() for p in layer.parameters())


# ---------------------------------------------------------------------------------------------- exercise 1
_FC_IN, _FC_OUT = 3 * 224 * 224, 64 * 224 * 224  # conv1_1's input and output, as flat vectors


@exercise(
    lesson=1,
    number=1,
    title="a fully connected conv1_1",
    level="one line",
    hint="count the numbers that go in (3 colour channels × 224 × 224) and the output neurons that come out "
    "(64 feature maps × 224 × 224). Every (input, output) pair has its own weight, and every output "
    "neuron its own bias.",
)
def fc_params(answer: object) -> CheckResult:
    """Exercise: the parameters of an ``nn.Linear`` that maps a 224×224 RGB image to conv1_1's 64 maps of 224×224."""
    want = _count(nn.Linear(_FC_IN, _FC_OUT, device="meta"))  # meta: 483 billion parameters, no memory
    conv = _count(nn.Conv2d(3, 64, 3, padding=1, device="meta"))
    got = as_number(answer)
    if got is None:
        return failed(f"give the number of parameters as a number (e.g. an expression of ints); you gave {answer!r}.")
    if got == want:
        return passed(
            f"{want:,} parameters: about {want * 4 / 1e12:.1f} TB as float32, for one layer. conv1_1 "
            f"computes maps of the same size with {conv:,}, {want / conv:,.0f} times fewer, because each "
            "of its 64 kernels is shared by all 50,176 positions."
        )
    mistakes = [
        (
            _FC_IN * _FC_OUT,
            f"you left out the biases: a fully connected layer has one per output neuron, {_FC_OUT:,} of them.",
        ),
        (
            _FC_IN * _FC_OUT + 64,
            "you gave the layer one bias per feature map (64), as a convolution has. That is "
            f"already weight sharing; without it every output neuron has its own: {_FC_OUT:,}.",
        ),
        (
            _FC_IN,
            "that is the count for ONE output neuron (Bhuiyan's thesis's '10,000 weights for each neuron' of a "
            f"100×100 image); the layer has {_FC_OUT:,} output neurons, one per position and feature map.",
        ),
        (
            _FC_IN + 1,
            "that is the count for ONE output neuron, with its bias; the layer has "
            f"{_FC_OUT:,} output neurons, one per position and feature map.",
        ),
        (
            224 * 224 * _FC_OUT + _FC_OUT,
            "you counted one input channel (a grey image); conv1_1 reads 3 colour "
            "channels, so there are 3 × 224 × 224 inputs.",
        ),
        (224 * 224 * _FC_OUT, "you counted one input channel (a grey image) and no biases."),
        (_FC_IN * 224 * 224 + 224 * 224, "you counted one output map; conv1_1 produces 64 of them."),
        (
            conv,
            "that is conv1_1 itself, the convolution, which shares its kernels. The question is the fully "
            "connected layer that computes the same outputs without sharing.",
        ),
        (3 * 3 * 3 * 64, "that is conv1_1's kernels alone. The question is the fully connected layer."),
    ]
    for value, why in mistakes:
        if got == value:
            return failed(f"{got:,.0f} is not it: {why}")
    if abs(got - want) <= 1e-3 * want:
        return failed(
            f"{got:,.0f} is close, but give the exact count (an expression of ints, not a rounded float): "
            "the biases are only a few millionths of the total, and a rounded number cannot show whether "
            "you counted them.",
            hint="(inputs × outputs) weights + outputs biases, all as ints.",
        )
    return failed(
        f"a fully connected layer from {_FC_IN:,} inputs to {_FC_OUT:,} outputs does not have {got:,.0f} parameters."
    )


# ---------------------------------------------------------------------------------------------- exercise 2
@exercise(
    lesson=1,
    number=2,
    title="max pooling with any window and stride",
    level="a function",
    hint="the output has (H - size) // stride + 1 rows (and the same for columns); output (i, j) is the "
    "largest value of x[i*stride : i*stride + size, j*stride : j*stride + size].",
)
def max_pool_by_hand(fn: Callable[[torch.Tensor, int, int], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(x, size, stride)`` on an (H, W) tensor, like ``F.max_pool2d`` (no padding, no ceil mode)."""
    g = generator(2)
    cases = [((4, 4), 2, 2), ((7, 6), 2, 2), ((9, 9), 3, 2), ((6, 8), 3, 3), ((8, 11), 4, 3)]
    for (h, w), size, stride in cases:
        x = torch.randn(h, w, generator=g)
        want = F.max_pool2d(x[None, None], size, stride)[0, 0]
        got, error = call_safely(fn, x.clone(), size, stride)
        if error is not None:
            return error
        if close(got, want, "") is None:
            continue
        what = f"max pooling a {h}x{w} map with size {size}, stride {stride}"
        others = {
            "average": F.avg_pool2d(x[None, None], size, stride)[0, 0],
            "min": -F.max_pool2d(-x[None, None], size, stride)[0, 0],
            "stride 1": F.max_pool2d(x[None, None], size, 1)[0, 0],
            "ceil": F.max_pool2d(x[None, None], size, stride, ceil_mode=True)[0, 0],
            "swapped": F.max_pool2d(x[None, None], stride, size)[0, 0] if stride <= size else want,
        }
        if same(got, others["average"]):
            return failed(
                f"{what}: you computed the average of each window; max pooling keeps its largest value.",
                hint="window.max() instead of window.mean().",
            )
        if same(got, others["min"]):
            return failed(f"{what}: you kept the smallest value of each window; max pooling keeps the largest.")
        if stride != 1 and same(got, others["stride 1"]):
            return failed(
                f"{what}: you moved the window one pixel at a time. Windows start `stride` pixels apart, "
                "so the output is about stride times smaller.",
                hint="window (i, j) starts at row i*stride and column j*stride.",
            )
        if stride != size and same(got, others["swapped"]):
            return failed(f"{what}: you swapped the window size and the stride.")
        if isinstance(got, torch.Tensor) and tuple(got.shape) == tuple(others["ceil"].shape) != tuple(want.shape):
            return failed(
                f"{what}: your output has shape {tuple(got.shape)}, as if a window hanging over the edge "
                f"counted. It does not (torch's default, ceil_mode=False): the output is {tuple(want.shape)}.",
                hint="round down: (H - size) // stride + 1.",
            )
        return mismatch(got, want, what)
    return passed(
        "your max pooling agrees with F.max_pool2d, for odd sizes, overlapping windows (size 3, stride 2, "
        "as in AlexNet) and windows that do not tile the map."
    )


# ---------------------------------------------------------------------------------------------- exercise 3
def _lstsq_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The oracle: the F×F kernel that best explains y = conv2d(x, K), all positions, float64 least squares."""
    k = x.shape[0] - y.shape[0] + 1
    patches = F.unfold(x.double()[None, None], k)[0].T  # (L, F·F): one row (equation) per output position
    solution = torch.linalg.lstsq(patches, y.double().reshape(-1, 1)).solution
    return solution.reshape(k, k).float()


@exercise(
    lesson=1,
    number=3,
    title="recover a kernel from its output",
    level="a function",
    hint="every output pixel is one equation: (its patch, flattened) · (the kernel, flattened) = y[i, j]. "
    "F.unfold stacks all patches; torch.linalg.lstsq(patches, y) solves all the equations at once. "
    "The kernel size follows from the shapes: F = H - H_out + 1.",
)
def recover_kernel(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(x, y)`` with y = F.conv2d(x, K) (no padding, stride 1, no bias) returns the F×F kernel K."""
    g = generator(3)
    sobel = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
    cases = [
        ("a 12x12 image and a random 3x3 kernel", torch.rand(12, 12, generator=g), torch.randn(3, 3, generator=g), 0.0),
        ("a 9x14 image and a random 5x5 kernel", torch.rand(9, 14, generator=g), torch.randn(5, 5, generator=g), 0.0),
        (
            "a 10x13 image and an asymmetric 3x3 kernel",
            torch.rand(10, 13, generator=g),
            torch.tensor([[0.0, 1.0, 2.0], [0.0, 0.0, 3.0], [0.0, 0.0, 0.0]]),
            0.0,
        ),
        ("a 16x16 image, Sobel's kernel, and a little noise on y", torch.rand(16, 16, generator=g), sobel, 0.02),
    ]
    for what, x, kernel, noise in cases:
        y = F.conv2d(x[None, None], kernel[None, None])[0, 0]
        if noise:
            y = y + noise * torch.randn(y.shape, generator=g)
        want = _lstsq_kernel(x, y)
        got, error = call_safely(fn, x.clone(), y.clone())
        if error is not None:
            return error
        if isinstance(got, torch.Tensor) and got.numel() == want.numel() and got.dim() != 2:
            got = got.reshape(want.shape)
        if isinstance(got, torch.Tensor) and tuple(got.shape) != tuple(want.shape):
            return failed(
                f"for {what} you returned a kernel of shape {tuple(got.shape)}; y is {tuple(y.shape)} for a "
                f"{tuple(x.shape)} image, so the kernel is {tuple(want.shape)}.",
                hint="without padding H_out = H - F + 1, so F = H - H_out + 1: read it from the shapes.",
            )
        if same(got, want, atol=2e-3):
            continue
        if isinstance(got, torch.Tensor) and got.shape == want.shape:
            if same(got, want.flip(0, 1), atol=2e-3):
                return failed(
                    f"for {what} your kernel is upside down and mirrored: the kernel of a true (flipped) "
                    "convolution. conv2d is a cross-correlation: the kernel sits on the patch as it is.",
                    hint="match patch[u, v] with kernel[u, v]; F.unfold lists a patch row by row, "
                    "as kernel.flatten() does.",
                )
            if same(got, want.T, atol=2e-3):
                return failed(
                    f"for {what} your kernel is transposed (rows and columns swapped). F.unfold lists each "
                    "patch row by row, so reshape the solution with .reshape(F, F), not a transpose."
                )
            if noise:  # the noise-free cases passed
                predicted = F.conv2d(x[None, None], got.detach().float()[None, None])[0, 0]
                fits_some = int(((predicted - y).abs() < 1e-4).sum())
                return failed(
                    f"your kernel is right on noise-free outputs, but with a little noise on y it is off "
                    f"(it fits {fits_some} of {y.numel()} equations exactly). You seem to solve with only "
                    "F·F of the equations; use all of them, in the least-squares sense, and the noise "
                    "averages out.",
                    hint="torch.linalg.lstsq(patches, y.reshape(-1, 1)) with every patch.",
                )
        return mismatch(got, want, f"the kernel for {what}", rtol=1e-3, atol=2e-3)
    return passed(
        "you recovered every kernel, and the least-squares one when y is noisy. Weight sharing is what makes "
        "this possible: with one shared kernel, every output position is an equation about the SAME F·F "
        "numbers, so a 16x16 image gives 196 equations for 9 unknowns. Learning a CNN's kernels from "
        "images is this idea, with gradient descent instead of lstsq."
    )


# ---------------------------------------------------------------------------------------------- exercise 4
_SHIFT_LAYERS = {
    "a": "3×3 conv → ReLU → 3×3 conv, both padded circularly",
    "b": "a 3×3 conv with stride 2, padded circularly",
    "c": "a 2×2 max pool with stride 2",
    "d": "a 3×3 conv padded circularly, plus a bias that differs at every position",
    "e": "a 1×1 convolution from 3 to 8 channels",
    "f": "a 3×3 conv with zero padding (padding=1)",
}
_SHIFT_WHY = {
    "a": "every position applies the same weights (sharing), ReLU acts on each number alone, and circular padding "
    "moves with the image; a composition of shift-commuting layers commutes with shifts",
    "b": "stride 2 computes only every other position; a 1-pixel shift moves the image between those samples, so "
    "the output is not a shifted copy (it commutes only with shifts by multiples of 2)",
    "c": "a stride-2 pool groups the pixels in fixed 2×2 blocks; a 1-pixel shift regroups them (it commutes only "
    "with shifts by multiples of 2)",
    "d": "a bias that differs by position is an unshared parameter: the shifted image meets different biases",
    "e": "a 1×1 convolution applies one shared 3→8 matrix at every position, so it commutes with every shift",
    "f": "the zero border does not move with the image: after torch.roll the column that wrapped around sits next to "
    "zeros, so the outputs at the border differ (everywhere else they agree)",
}


def _shift_layers() -> dict[str, Callable[[torch.Tensor], torch.Tensor]]:
    g = generator(4)
    k1, k2 = torch.randn(4, 3, 3, 3, generator=g), torch.randn(3, 4, 3, 3, generator=g)
    one = torch.randn(8, 3, 1, 1, generator=g)
    bias = torch.randn(1, 4, 16, 16, generator=g)

    def circ(x: torch.Tensor, k: torch.Tensor, stride: int = 1) -> torch.Tensor:
        return F.conv2d(F.pad(x, (1, 1, 1, 1), mode="circular"), k, stride=stride)

    return {
        "a": lambda x: circ(torch.relu(circ(x, k1)), k2),
        "b": lambda x: circ(x, k1, 2),
        "c": lambda x: F.max_pool2d(x, 2),
        "d": lambda x: circ(x, k1) + bias,
        "e": lambda x: F.conv2d(x, one),
        "f": lambda x: F.conv2d(x, k1, padding=1),
    }


def answer_letters(answer: object) -> set[str] | None:
    """The letters of an answer such as "ae", "a, e", "(a) and (e)" or ["a", "e"]."""
    if isinstance(answer, (list, tuple, set, frozenset)) and all(isinstance(a, str) for a in answer):
        answer = " ".join(answer)
    if not isinstance(answer, str):
        return None
    return set(re.findall(r"[a-z]", re.sub(r"\band\b", " ", answer.lower())))


@exercise(
    lesson=1,
    number=4,
    title="which layers commute with a shift?",
    level="predict and explain",
    hint="ask, for each layer, whether the neuron at position p + 1 applies the same weights and biases to "
    "the shifted image that the neuron at p applied to the original, and whether every position is "
    "computed at all (what does a stride skip?). What happens at the border?",
)
def shift_commuters(answer: object) -> CheckResult:
    """Exercise: which of the layers (a)–(f) satisfy ``layer(roll(x, 1)) == roll(layer(x), 1)`` exactly?"""
    letters = answer_letters(answer)
    if letters is None or not letters or not letters <= set(_SHIFT_LAYERS):
        return failed(
            f'answer with the letters of the layers that commute with the shift, e.g. "bd" '
            f"(letters a to f); you gave {answer!r}."
        )
    x = torch.rand(1, 3, 16, 16, generator=generator(5))
    measured = {}
    for letter, layer in _shift_layers().items():
        out = layer(x)
        measured[letter] = float((layer(x.roll(1, -1)) - out.roll(1, -1)).norm() / out.norm())
    # 0 in exact arithmetic for a layer that commutes (rounding leaves ~1e-7 on some CPUs), 0.2 or more for the others
    right = {letter for letter, err in measured.items() if err < 1e-3}
    if letters == right:
        return passed(
            "(a) and (e) commute with the shift: every position applies the same weights (sharing), ReLU "
            "acts on each number alone, and circular padding moves with the image. The others do not: "
            "(b) and (c) compute only every other position, so they commute only with shifts by multiples "
            "of 2; (d) gives each position its own bias, an unshared parameter; (f)'s zero border stays "
            "where it is while the image moves. A CNN is equivariant to shifts only up to its strides and "
            "its border: after each stride-2 stage the deeper maps see the image on a coarser grid."
        )
    wrong_in = sorted(letters - right)
    missed = sorted(right - letters)
    lines = []
    for letter in wrong_in:
        lines.append(
            f"({letter}) {_SHIFT_LAYERS[letter]} does NOT commute with a 1-pixel shift (relative "
            f"difference measured: {measured[letter]:.2f}): {_SHIFT_WHY[letter]}."
        )
    for letter in missed:
        lines.append(
            f"({letter}) {_SHIFT_LAYERS[letter]} DOES commute with it (difference "
            f"{measured[letter]:.0e}): {_SHIFT_WHY[letter]}."
        )
    return failed(" ".join(lines))
