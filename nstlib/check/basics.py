"""Checkers for lesson 01 CNN basics: output sizes, a convolution and a max-pooling by hand, stacked 3x3s.

Every checker compares the learner's function with an oracle: the shapes and values that
``torch.nn.functional`` itself produces, or closed-form counts checked against ``nn.Conv2d``.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from nstlib.check._core import CheckResult, call_safely, close, failed, passed

__all__ = ["conv_output_size", "conv2d_by_hand", "max_pool_by_hand", "stacked_3x3"]

# (W, F, P, S): square inputs of width W, kernels F, padding P, stride S. Chosen so that the
# floor in (W − F + 2P)/S + 1 matters in several of them.
_SIZE_CASES = [(224, 3, 1, 1), (64, 3, 0, 1), (7, 3, 0, 2), (32, 5, 2, 1), (227, 11, 0, 4),
               (10, 3, 1, 2), (9, 4, 0, 3), (15, 2, 0, 2), (8, 1, 0, 1), (28, 5, 0, 1), (13, 3, 2, 3)]


def _torch_conv_size(w: int, f: int, p: int, s: int) -> int:
    """The oracle: the width torch itself produces."""
    return F.conv2d(torch.zeros(1, 1, w, w), torch.zeros(1, 1, f, f), stride=s, padding=p).shape[-1]


_SIZE_MISTAKES: list[tuple[str, Callable[[int, int, int, int], int]]] = [
    ("It looks like the padding was left out.", lambda w, f, p, s: (w - f) // s + 1),
    ("It looks like the padding was counted once; it is added on both sides (2P).", lambda w, f, p, s: (w - f + p) // s + 1),
    ("It looks like you rounded up; torch rounds down.", lambda w, f, p, s: -(-(w - f + 2 * p) // s) + 1),
    ("It looks like the + 1 is missing (the first position of the kernel counts too).", lambda w, f, p, s: (w - f + 2 * p) // s),
    ("It looks like the stride was left out.", lambda w, f, p, s: w - f + 2 * p + 1),
]


def conv_output_size(fn: Callable[[int, int, int, int], int]) -> CheckResult:
    """Exercise: ``fn(W, F, P, S)`` = (W − F + 2P)/S + 1 (seed 003), rounded down, as torch does."""
    answers: list[int] = []
    for w, f, p, s in _SIZE_CASES:
        want = _torch_conv_size(w, f, p, s)
        got, error = call_safely(fn, w, f, p, s)
        if error is not None:
            return error
        if isinstance(got, float):
            if got == want:
                return failed(f"conv_output_size({w}, {f}, {p}, {s}) returned the float {got}; a size is a whole number.",
                              hint="use floor division // (or int(...)) so the result is an int.")
            if abs(got - want) < 1:
                return failed(f"conv_output_size({w}, {f}, {p}, {s}) returned {got}, but torch gives {want}: "
                              "the kernel cannot hang over the edge, so a partial last step does not count.",
                              hint="round down: (W - F + 2*P) // S + 1.")
        if isinstance(got, bool) or not isinstance(got, (int, float)) and not hasattr(got, "__index__"):
            return failed(f"conv_output_size should return an int, got {type(got).__name__}.",
                          hint="return the number, e.g. (W - F + 2*P) // S + 1.")
        answers.append(int(got))
    wants = [_torch_conv_size(*case) for case in _SIZE_CASES]
    if answers == wants:
        return passed(f"your formula matches torch's output size in all {len(_SIZE_CASES)} cases, "
                      "including the ones where the last stride does not fit.")
    why = next((" " + text for text, mistake in _SIZE_MISTAKES
                if [mistake(*case) for case in _SIZE_CASES] == answers), "")
    k = next(i for i, (a, b) in enumerate(zip(answers, wants)) if a != b)
    w, f, p, s = _SIZE_CASES[k]
    return failed(f"conv_output_size({w}, {f}, {p}, {s}) returned {answers[k]}, but a real conv2d gives {wants[k]}.{why}",
                  hint="W_out = (W - F + 2P) // S + 1.")


def conv2d_by_hand(fn: Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(image, kernel, stride)`` on (H, W) and (k, k) tensors, no padding, like ``F.conv2d``."""
    generator = torch.Generator().manual_seed(1)
    cases = [((6, 6), 3, 1), ((7, 9), 3, 2), ((8, 5), 2, 1), ((10, 10), 5, 3)]
    for (h, w), k, stride in cases:
        image = torch.rand(h, w, generator=generator)
        kernel = torch.randn(k, k, generator=generator)
        want = F.conv2d(image[None, None], kernel[None, None], stride=stride)[0, 0]
        got, error = call_safely(fn, image.clone(), kernel.clone(), stride)
        if error is not None:
            return error
        problem = close(got, want, f"the result for a {h}x{w} image, a {k}x{k} kernel and stride {stride}")
        if problem is not None:
            flipped = F.conv2d(image[None, None], kernel.flip(0, 1)[None, None], stride=stride)[0, 0]
            if isinstance(got, torch.Tensor) and got.shape == want.shape and torch.allclose(got.float(), flipped, atol=1e-5):
                return failed("you computed a true (flipped-kernel) convolution. Deep-learning 'convolution' is a "
                              "cross-correlation: the kernel is laid on the patch as it is, without flipping.",
                              hint="use image[i*S:i*S+k, j*S:j*S+k] * kernel, not kernel.flip(...).")
            return problem
    return passed("your convolution agrees with torch.nn.functional.conv2d for every image, kernel and stride tried.")


def max_pool_by_hand(fn: Callable[[torch.Tensor, int, int], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(x, size, stride)`` on an (H, W) tensor, like ``F.max_pool2d`` (no padding)."""
    generator = torch.Generator().manual_seed(2)
    cases = [((4, 4), 2, 2), ((7, 6), 2, 2), ((9, 9), 3, 2), ((6, 8), 3, 3)]
    for (h, w), size, stride in cases:
        x = torch.randn(h, w, generator=generator)
        want = F.max_pool2d(x[None, None], size, stride)[0, 0]
        got, error = call_safely(fn, x.clone(), size, stride)
        if error is not None:
            return error
        problem = close(got, want, f"max pooling a {h}x{w} map with size {size}, stride {stride}")
        if problem is not None:
            mean = F.avg_pool2d(x[None, None], size, stride)[0, 0]
            if isinstance(got, torch.Tensor) and got.shape == mean.shape and torch.allclose(got.float(), mean, atol=1e-5):
                return failed("you computed the average of each window; max pooling keeps its largest value.",
                              hint="window.max() instead of window.mean().")
            return problem
    return passed("your max pooling agrees with torch.nn.functional.max_pool2d, odd sizes and overlapping windows included.")


def stacked_3x3(fn: Callable[[int, int], tuple[int, int, int]]) -> CheckResult:
    """Exercise: ``fn(C, n)`` → (receptive field of n stacked 3x3 convs, their weights, weights of one conv with that field).

    All layers map C channels to C channels; biases are not counted.
    """
    for channels, n in [(1, 1), (1, 2), (64, 2), (64, 3), (512, 2), (3, 4)]:
        field = 2 * n + 1
        stacked = sum(nn.Conv2d(channels, channels, 3, bias=False, device="meta").weight.numel() for _ in range(n))
        single = nn.Conv2d(channels, channels, field, bias=False, device="meta").weight.numel()
        want = (field, stacked, single)
        got, error = call_safely(fn, channels, n)
        if error is not None:
            return error
        try:
            got = tuple(int(v) for v in got)  # type: ignore[union-attr]
        except (TypeError, ValueError):
            return failed(f"stacked_3x3 should return three ints (field, stacked, single), got {got!r}.")
        if len(got) != 3:
            return failed(f"stacked_3x3 should return three numbers, got {len(got)}.")
        if got[0] != field:
            return failed(f"for n={n} stacked 3x3 layers you gave a receptive field of {got[0]}; it is {field}. "
                          "Each extra 3x3 layer sees one more pixel on every side.", hint="field = 2n + 1.")
        if got[1] != stacked:
            return failed(f"for C={channels}, n={n} the stacked weights should be {stacked:,}, you gave {got[1]:,}.",
                          hint="one 3x3 layer from C to C channels has 3·3·C·C weights; there are n of them.")
        if got[2] != single:
            return failed(f"one {field}x{field} conv from {channels} to {channels} channels has {single:,} weights, you gave {got[2]:,}.",
                          hint="a k x k layer from C to C channels has k·k·C·C weights.")
    return passed("right: n stacked 3x3 layers see (2n+1)x(2n+1) pixels with 9n·C² weights instead of (2n+1)²·C² "
                  "(two layers: 18C² vs 25C², 28% fewer; three: 27C² vs 49C², 45% fewer), and with a ReLU between each.")
