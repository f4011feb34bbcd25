"""Checker for lesson 01 (CNN basics), exercise 5: does weight sharing generalise?

Oracle: Sobel's G_x fitted here in float64, by one shared 3×3 kernel (least squares) and by an unshared, locally
connected layer (the smallest kernel per position), each measured on the training image and on a test image.
:mod:`nstlib.course.check.basics` exports it with the lesson's other checkers.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from nstlib.course.check._core import CheckResult, as_number, call_safely, exercise, failed, generator, passed

__all__ = ["sharing_experiment"]


# ---------------------------------------------------------------------------------------------- exercise 5
_SOBEL_X = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
_KEYS = ("shared_params", "unshared_params", "shared_train", "shared_test", "unshared_train", "unshared_test")


def _sharing_oracle(train: torch.Tensor, test: torch.Tensor) -> dict[str, float]:
    """Shared 3×3 kernel by least squares; unshared: one 3×3 kernel per position, the smallest that fits exactly."""

    def target(x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x.double()[None, None], _SOBEL_X.double()[None, None]).flatten()

    def rel(pred: torch.Tensor, y: torch.Tensor) -> float:
        return float((pred - y).norm() / y.norm())

    p_train, p_test = F.unfold(train.double()[None, None], 3)[0], F.unfold(test.double()[None, None], 3)[0]  # (9, L)
    y_train, y_test = target(train), target(test)
    shared = torch.linalg.lstsq(p_train.T, y_train[:, None]).solution[:, 0]
    unshared = p_train * (y_train / (p_train**2).sum(0))  # (9, L): w_p = y_p · patch_p / |patch_p|²
    return {
        "shared_params": 9,
        "unshared_params": int(p_train.numel()),
        "shared_train": rel(shared @ p_train, y_train),
        "shared_test": rel(shared @ p_test, y_test),
        "unshared_train": rel((unshared * p_train).sum(0), y_train),
        "unshared_test": rel((unshared * p_test).sum(0), y_test),
        "_abs_unshared_test": float(((unshared * p_test).sum(0) - y_test).norm()),
    }


@exercise(
    lesson=1,
    number=5,
    title="does weight sharing generalise?",
    level="design an experiment",
    hint="target: y = F.conv2d(x, sobel_x) without padding. Shared: one 3x3 kernel for all positions, fitted "
    "as in exercise 3. Unshared: each output position p has its own 3x3 kernel w_p and just ONE equation, "
    "patch_p · w_p = y_p: pick the smallest w_p that solves it. Fit both on train, then apply the same "
    "weights to test's patches.",
)
def sharing_experiment(fn: Callable[[torch.Tensor, torch.Tensor], dict]) -> CheckResult:
    """Exercise: ``fn(train, test)`` on two (H, W) grey images returns the dict of ``_KEYS``: parameter counts and
    relative errors |ŷ − y| / |y| of a shared kernel and an unshared (locally connected) layer, both fitted on train
    to reproduce Sobel's G_x, on train and on test."""
    g = generator(6)
    train, test = torch.rand(12, 14, generator=g), torch.rand(12, 14, generator=g)
    want = _sharing_oracle(train, test)
    got, error = call_safely(fn, train.clone(), test.clone())
    if error is not None:
        return error
    if not isinstance(got, dict):
        return failed(f"return a dict with the keys {', '.join(_KEYS)}; got {type(got).__name__}.")
    missing = [k for k in _KEYS if k not in got]
    if missing:
        return failed(f"your dict lacks {', '.join(missing)} (it needs all of {', '.join(_KEYS)}).")
    numbers = {k: as_number(got[k]) for k in _KEYS}
    bad = [k for k, v in numbers.items() if v is None]
    if bad:
        return failed(f"{', '.join(bad)} should be numbers.")
    values = {k: v for k, v in numbers.items() if v is not None}  # all of them: every answer is a number
    n_out = want["unshared_params"] // 9
    if values["shared_params"] != 9:
        return failed(
            f"the shared layer has one 3x3 kernel (no bias here): 9 parameters, not {values['shared_params']:g}."
        )
    if values["unshared_params"] != want["unshared_params"]:
        why = (
            " You counted a kernel per INPUT pixel; there is one per OUTPUT position."
            if values["unshared_params"] == 9 * train.numel()
            else " That is one kernel; the unshared layer has its own at every output position."
            if values["unshared_params"] == 9
            else ""
        )
        return failed(
            f"for a 12x14 image the unshared layer has a 3x3 kernel at each of the {n_out} output positions: "
            f"{want['unshared_params']} parameters, not {values['unshared_params']:g}.{why}"
        )
    if values["shared_train"] > 1e-3 or values["shared_test"] > 1e-3:
        return failed(
            f"your shared kernel leaves relative errors {values['shared_train']:.3g} (train) and "
            f"{values['shared_test']:.3g} (test); Sobel IS a 3x3 kernel, so least squares finds it exactly "
            "and both errors are about 0.",
            hint="fit it as in exercise 3: lstsq on all the patches.",
        )
    if values["unshared_train"] > 1e-3:
        return failed(
            f"your unshared layer has relative error {values['unshared_train']:.3g} on the training image. "
            "With 9 unknowns and one equation per position it can fit the training image exactly.",
            hint="w_p = y_p · patch_p / |patch_p|² solves patch_p · w_p = y_p.",
        )
    u_test, u_want = values["unshared_test"], want["unshared_test"]
    if u_test < 0.05:
        return failed(
            f"your unshared layer has relative error {u_test:.3g} on the test image, as if it had seen it: "
            "did you evaluate it on the training image, or fit it on the test image? Fit on train, apply "
            "the same per-position kernels to test's patches."
        )
    if abs(u_test - want["_abs_unshared_test"]) < 0.02 * want["_abs_unshared_test"]:
        return failed(
            f"unshared_test = {u_test:.3g} looks like the absolute error |ŷ − y|; the exercise asks for the "
            "relative one, |ŷ − y| / |y|, so that the two images can be compared."
        )
    note = (
        ""
        if abs(u_test - u_want) < 0.05 * u_want
        else f" (your unshared fit is not the smallest one, which gives {u_want:.2f} here, but any exact fit fails too)"
    )
    return passed(
        f"both layers fit the training image perfectly, but on the new image the shared kernel stays exact "
        f"while the unshared layer's error is {u_test:.2f}{note}. With 9 numbers and {n_out} equations the "
        f"shared kernel cannot memorise the training image, so it has to find the rule (Sobel); with "
        f"{want['unshared_params']} numbers for {n_out} equations the unshared layer memorises this image's "
        "edges and paints them onto the next one. Sharing is an assumption — the same feature matters "
        "everywhere — and where it holds it lets a CNN learn from few examples."
    )
