"""Checkers for lesson 03 content reconstruction: the content loss, its gradient, and what each layer keeps.

Oracles: :func:`nstlib.content_loss` with ``reduction="gatys"`` (½ Σ (F − P)², seeds 000 and 002;
Gatys et al. 2016, eq. 1) and autograd for its derivative (eq. 2).
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from nstlib.check._core import CheckResult, call_safely, close, failed, passed
from nstlib.losses import content_loss

__all__ = ["content_loss_by_hand", "content_gradient", "most_detail_layer"]


def _cases() -> list[tuple[torch.Tensor, torch.Tensor]]:
    generator = torch.Generator().manual_seed(3)
    shapes = [(1, 2, 1, 3), (1, 4, 3, 5), (1, 16, 6, 7), (1, 64, 8, 8)]
    return [(torch.randn(shape, generator=generator), torch.randn(shape, generator=generator)) for shape in shapes]


def _scale_mistake(got: float, want: float, numel: int) -> str:
    """Name the usual normalisation slips by the ratio got / want."""
    if want == 0:
        return ""
    ratio = got / want
    for factor, text in [(2.0, "twice the expected value: the ½ in front of the sum is missing."),
                         (0.5, "half the expected value: the sum already carries the ½; did you halve twice?"),
                         (2.0 / numel, "the mean of the squared differences: that is the mean convention "
                                       "(nst.content_loss's default), not the seeds' ½ Σ."),
                         (1.0 / numel, "½ × the mean of the squares; the seeds' formula sums over all entries.")]:
        if abs(ratio - factor) < 1e-4 * factor:
            return " Your value is " + text
    return ""


def content_loss_by_hand(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(F, P)`` = ½ Σ_ij (F_ij − P_ij)² for two (1, N, H, W) feature tensors, as a differentiable tensor."""
    for features, target in _cases():
        want = float(content_loss(features, target, reduction="gatys"))
        probe = features.clone().requires_grad_(True)
        got, error = call_safely(fn, probe, target.clone())
        if error is not None:
            return error
        what = f"for features of shape {tuple(features.shape)}"
        if isinstance(got, (int, float)):
            return failed("your function returned a Python number; return the tensor itself so autograd can "
                          "differentiate it (no .item(), no float(...)).", hint="0.5 * ((F - P) ** 2).sum()")
        if not isinstance(got, torch.Tensor):
            return failed(f"your function should return a tensor, got {type(got).__name__}.",
                          hint="0.5 * ((F - P) ** 2).sum()")
        if got.numel() != 1:
            return failed(f"{what} your loss has shape {tuple(got.shape)}; the content loss is one number.",
                          hint="sum over every entry: .sum() without a dim.")
        value = float(got.detach())
        if abs(value - want) > 1e-4 * abs(want) + 1e-5:
            difference = (features - target)
            if abs(value - float(difference.abs().sum() / 2)) < 1e-4 * abs(value) + 1e-6:
                return failed("you summed |F − P|, not (F − P)²: the content loss squares the differences.",
                              hint="0.5 * ((F - P) ** 2).sum()")
            if abs(value - float(difference.norm())) < 1e-4 * abs(value) + 1e-6:
                return failed("you returned the Euclidean norm ‖F − P‖; the loss is half its *square*.",
                              hint="0.5 * ((F - P) ** 2).sum()")
            return failed(f"{what} your loss is {value:.6g}, but ½ Σ (F − P)² = {want:.6g}."
                          + _scale_mistake(value, want, features.numel()),
                          hint="0.5 * ((F - P) ** 2).sum()")
        if not got.requires_grad:
            return failed("the value is right, but the result is cut off from autograd (did you use .detach(), "
                          ".numpy() or torch.tensor(...)?). The optimiser needs its gradient.",
                          hint="compute with torch operations on F directly.")
    return passed("your loss equals nst.content_loss(F, P, reduction='gatys') = ½ Σ (F − P)² on every shape tried, "
                  "and autograd can differentiate it.")


def content_gradient(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(F, P)`` = ∂L/∂F for L = ½ Σ (F − P)², worked out by hand (Gatys et al. 2016, eq. 2)."""
    for features, target in _cases():
        probe = features.clone().requires_grad_(True)
        (want,) = torch.autograd.grad(content_loss(probe, target, reduction="gatys"), probe)
        got, error = call_safely(fn, features.clone(), target.clone())
        if error is not None:
            return error
        problem = close(got, want, f"the gradient for features of shape {tuple(features.shape)}")
        if problem is not None:
            if isinstance(got, torch.Tensor) and got.shape == want.shape:
                got = got.detach().float()
                if torch.allclose(got, -want, atol=1e-5):
                    return failed("your gradient has the wrong sign: it is P − F. The loss grows as F moves away "
                                  "from P, so its gradient points from P towards F.", hint="d/dF ½ (F − P)² = F − P.")
                if torch.allclose(got, 2 * want, atol=1e-5):
                    return failed("your gradient is 2 (F − P): the ½ in the loss cancels the 2 from the square.",
                                  hint="d/dF ½ (F − P)² = F − P.")
            return problem
    return passed("∂L/∂F = F − P, exactly what autograd finds. Gatys et al.'s eq. 2 adds that it is 0 where F < 0 "
                  "when F is read after a ReLU: there the ReLU passes no gradient on to the pixels.")


_LAYERS = ("conv1_2", "conv2_2", "conv3_2", "conv4_2", "conv5_2")
_LAYER_FEEDBACK = {
    "conv2_2": "close, but one layer keeps even more: conv2_2 sits after one pooling, which already forgets where "
               "exactly in each 2x2 window a feature was.",
    "conv3_2": "no: after two poolings conv3_2 still gives back the image well, but not as exactly as a layer before "
               "any pooling.",
    "conv4_2": "no: conv4_2 keeps the arrangement of the image — which is why Gatys et al. use it for *content* — "
               "but not its exact pixels. Compare the pixel errors in the table of section 5.",
    "conv5_2": "no, the opposite: conv5_2's reconstruction loses the most detail (four poolings, 256 pixel "
               "positions per feature position).",
}


def most_detail_layer(answer: str) -> CheckResult:
    """Exercise: which of conv1_2 … conv5_2 gives back the exact pixels of the image most faithfully?"""
    choice = str(answer).strip().lower().replace("relu", "conv")  # relu1_2 and conv1_2: the same layer, either side of its ReLU
    if choice == "conv1_2":
        return passed("conv1_2 comes before any pooling and has 64 numbers per pixel: almost every image is "
                      "determined by its conv1_2 features, so the reconstruction is nearly the photo itself. "
                      "Each deeper layer keeps less of the pixels and relatively more of the arrangement.")
    if choice in _LAYER_FEEDBACK:
        return failed(_LAYER_FEEDBACK[choice], hint="look at the pixel-error column of the table in section 5.")
    return failed(f"answer with one of {', '.join(_LAYERS)} (you gave {answer!r}).")
