"""Lesson 04's first exercise, the style loss E_l by hand: its checker and ``.works``, which the lesson uses to decide
whether section 5's tables and gradient check, and section 8's texture syntheses, run the learner's function or
nstlib's.

Oracle: :func:`nstlib.style_loss` of ``gram_matrix(F, normalize="gatys")`` against A / (2 N M), reduction="gatys",
which is E_l = 1/(4 N_l² M_l²) Σ_ij (G_ij − A_ij)² with the raw G = F Fᵀ per image and the raw target A (Gatys et al.
2016, eq. 4), summed over the images of a batch as nstlib does; and autograd, whose ∂E_l/∂F must be the oracle's
(eq. 6). The cases have N, M and N·M all different, and a batch of two images, so that each usual slip (a missing ¼,
a wrong N·M, the mean, a normalised G against the raw A, one Gram matrix for the whole batch, one image of it …)
gives its own number.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from nstlib.course.check._core import (
    CheckResult,
    call_safely,
    close,
    exercise,
    failed,
    generator,
    not_a_loss,
    passed,
    same,
)
from nstlib.loss.functional import gram_matrix, style_loss

__all__ = ["style_loss_by_hand"]

_Slip = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def _cases() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """(F, A): non-negative features (as ReLU layers give) and one painting's raw Gram matrix (1, N, N)."""
    g = generator(40)
    shapes = [(1, 3, 2, 5), (1, 6, 3, 7), (1, 16, 5, 6), (2, 5, 3, 4)]  # the last: a batch of two images
    cases = []
    for shape in shapes:
        features = torch.randn(shape, generator=g).relu() + 0.1 * torch.rand(shape, generator=g)
        painting = torch.randn((1, *shape[1:]), generator=g).relu() + 0.1 * torch.rand((1, *shape[1:]), generator=g)
        cases.append((features, gram_matrix(painting)))
    return cases


def _oracle(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    n, m = features.shape[1], features.shape[2] * features.shape[3]
    return style_loss(gram_matrix(features, normalize="gatys"), target / (2 * n * m), reduction="gatys")


def _raw(features: torch.Tensor) -> torch.Tensor:
    b, n, h, w = features.shape
    flat = features.reshape(b, n, h * w)
    return flat @ flat.transpose(1, 2)  # (B, N, N)


def _sizes(features: torch.Tensor) -> tuple[int, int, int]:
    b, n, h, w = features.shape
    return b, n, h * w


def _squares(features: torch.Tensor, target: torch.Tensor, divisor: float = 1.0) -> torch.Tensor:
    return (_raw(features) / divisor - target).square().sum()


def _mixed(kind: str, per: str) -> _Slip:
    """E_l from one Gram matrix of the whole batch: F reshaped to (N, B·M) directly ("reshape") or after moving the
    channels first ("channels"), divided with M = H·W ("image") or the batch's B·H·W ("batch")."""

    def slip(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        b, n, m = _sizes(features)
        flat = features.reshape(n, -1) if kind == "reshape" else features.transpose(0, 1).reshape(n, -1)
        positions = m if per == "image" else b * m
        return ((flat @ flat.T)[None] - target).square().sum() / (4 * n**2 * positions**2)

    return slip


# (what the learner's number is, what it means), in the order they are tried; the batch's own slips come first.
_BATCH: list[tuple[_Slip, str]] = [
    (
        lambda f, a: _oracle(f[:1], a),
        "is E_l of the first image only (F[0]? sections 2 and 3 took features[0] of a single image). Keep the batch: "
        "reshape to (B, N, M) and sum over every image, as nst.style_loss does",
    ),
    (
        lambda f, a: _oracle(f, a) / f.shape[0],
        "averages the images' E_l; the loss of a batch is the *sum* of its images' losses, as in nst.style_loss "
        "(then one image's loss does not depend on how many others share its batch)",
    ),
    *(
        (
            _mixed(kind, per),
            "comes from one Gram matrix of the whole batch: an (N, B·M) reshape puts the positions of both images "
            "into one F, so channels of different images are multiplied with each other. Each image needs its own "
            "N×N Gram matrix: reshape to (B, N, M) and multiply by its transpose (flat @ flat.transpose(1, 2))",
        )
        for kind in ("channels", "reshape")
        for per in ("image", "batch")
    ),
    (
        lambda f, a: _oracle(f, a) / f.shape[0] ** 2,
        "divides by (B·M)²: M_l counts the positions H·W of *one* image, not of the whole batch",
    ),
]


def _normalised(scale: float, divided: bool) -> _Slip:
    """Σ (G/d − A)² with G divided by d = scale·N·M (d = M for scale 0) but A raw; ``divided``: then over 4·N²·M²."""

    def slip(features: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        _, n, m = _sizes(features)
        squares = _squares(features, target, scale * n * m if scale else float(m))
        return squares / (4 * n**2 * m**2) if divided else squares

    return slip


_NORMALISED = (
    "compares G/({name}) with the raw target A: A here is the raw Gram matrix (nst.gram_matrix with no normalize), "
    "so use the raw G = F Fᵀ too and divide the sum of squares by 4·N²·M² — or divide A by 2·N·M as well "
    '(nst.gram_matrix(F, normalize="gatys") against A / (2·N·M))'
)

_SLIPS: list[tuple[_Slip, str]] = [
    (lambda f, a: 4 * _oracle(f, a), "is Σ (G − A)²/(N²·M²): the ¼ is missing (it cancels the 2·2 of the derivative)"),
    (
        lambda f, a: 2 * _oracle(f, a),
        "is Σ (G − A)²/(2·N²·M²): the factor is ¼, not ½ — one 2 from the square, one from G",
    ),
    (lambda f, a: _sizes(f)[2] * _oracle(f, a), "divides by 4·N²·M, not 4·N²·M²: square M too"),
    (lambda f, a: _sizes(f)[1] * _oracle(f, a), "divides by 4·N·M², not 4·N²·M²: square N too"),
    (
        lambda f, a: _sizes(f)[1] * _sizes(f)[2] * _oracle(f, a),
        "divides by 4·N·M: N·M once instead of squared, (N·M)² = N²·M²",
    ),
    (lambda f, a: _sizes(f)[1] ** 2 * _oracle(f, a), "divides by 4·M² only: the N² is missing"),
    (lambda f, a: _sizes(f)[2] ** 2 * _oracle(f, a), "divides by 4·N² only: the M² is missing"),
    (lambda f, a: _squares(f, a), "is Σ (G − A)² itself: divide it by 4·N²·M²"),
    (lambda f, a: _squares(f, a) / 4, "is ¼ Σ (G − A)²: divide by N²·M² too"),
    (
        lambda f, a: _oracle(f, a) / _sizes(f)[1] ** 2,
        "takes the *mean* of (G − A)² over the N² entries before dividing by 4·N²·M²: E_l *sums* the squares",
    ),
    (
        lambda f, a: 4 * _oracle(f, a) / _sizes(f)[1] ** 2,
        "is (4/N²)·E_l, the C·H·W-mean convention (nst.style_loss's default, section 6) — not Gatys et al.'s E_l",
    ),
    *(
        (_normalised(divisor, extra), _NORMALISED.format(name=name))
        for name, divisor in (("2·N·M", 2.0), ("N·M", 1.0), ("M", 0.0))
        for extra in (False, True)
    ),
]


def _slip(value: float, features: torch.Tensor, target: torch.Tensor, want: float) -> str | None:
    """The known mistake that gives ``value`` for these features, if one does."""
    slips = (_BATCH if features.shape[0] > 1 else []) + _SLIPS
    f, a = features.double(), target.double()
    for wrong, text in slips:
        candidate = float(wrong(f, a))
        if abs(candidate - want) > 1e-3 * abs(want) and abs(value - candidate) <= 1e-4 * abs(candidate):
            return text
    return None


_SHAPES = (
    "G − A needs one N×N Gram matrix per image, of A's shape (1, N, N): G = F Fᵀ with F reshaped to (B, N, M) — not "
    "FᵀF (M×M), and not a reshape to (B·N, M), which multiplies channels of different images"
)


@exercise(
    lesson=4,
    number=1,
    title="the style loss E_l",
    level="a few lines",
    hint="reshape F to (B, N, M) with M = H·W, make one Gram matrix per image with flat @ flat.transpose(1, 2), "
    "square G − A entry by entry, add up everything (.sum() with no dim: every image of the batch too) and divide "
    "by 4·N²·M². Keep it a torch tensor: no .item(), no float(), no .detach().",
)
def style_loss_by_hand(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(F, A)`` = E_l = 1/(4 N² M²) Σ (G − A)² (Gatys et al. 2016, eq. 4) for (B, N, H, W) features F,
    G = F Fᵀ per image (raw) and the painting's raw Gram matrix A (1, N, N), summed over the batch, as a
    differentiable 0-d tensor."""
    for features, target in _cases():
        b, n, m = _sizes(features)
        where = f"for features of shape {tuple(features.shape)} (N = {n}, M = {m})" + (
            " — a batch of two images —" if b > 1 else ""
        )
        want = _oracle(features, target)
        probe = features.clone().requires_grad_(True)
        got, error = call_safely(fn, probe, target.clone())
        if error is not None:
            if "size of tensor" in error.message or "shape" in error.message:
                later = " It worked for one image: does it keep the images of the batch apart?" if b > 1 else ""
                return failed(f"{where} {error.message.rstrip('.')}.{later} {_SHAPES}.")
            return error
        problem = not_a_loss(got, where, "both channel indices i, j and the images of the batch")
        if problem is not None:
            return problem
        assert isinstance(got, torch.Tensor)
        value, expected = float(got.detach()), float(want)
        if not torch.isfinite(got.detach()):
            return failed(f"{where} your loss is {value}; expected {expected:.6g}.")
        if abs(value - expected) > 1e-4 * abs(expected):
            why = _slip(value, features, target, expected)
            if why is not None:
                return failed(f"{where} your loss {why}.")
            return failed(
                f"{where} your loss is {value:.6g}, expected E_l = Σ (G − A)²/(4·N²·M²) = {expected:.6g} "
                f"({value / expected:.4g} × the expected value)."
            )
        (grad,) = torch.autograd.grad(got, probe, allow_unused=True)
        if grad is None:
            return failed(f"{where} your loss does not depend on F: autograd finds no path from it back to F.")
        oracle = features.clone().requires_grad_(True)
        (right,) = torch.autograd.grad(_oracle(oracle, target), oracle)
        if not bool(grad.any()):
            return failed(
                f"{where} the value is right, but autograd's ∂(your loss)/∂F is zero everywhere: it was computed from "
                "a copy of F cut off from the graph (.detach(), .data, torch.no_grad()). Compute it from F itself."
            )
        if same(grad, 0.5 * right):
            return failed(
                f"{where} the value is right, but autograd's ∂(your loss)/∂F is half the expected one: one of the two "
                "factors of G = F Fᵀ is detached (.detach() or .data), so autograd follows only one of its two paths "
                "back to F."
            )
        problem = close(grad, right, f"{where} autograd's ∂(your loss)/∂F")
        if problem is not None:
            return problem
    return passed(
        "E_l = Σ (G − A)²/(4·N²·M²) with one raw G = F Fᵀ per image, a 0-d tensor whose gradient autograd finds to be "
        "Gatys' eq. 6, (G − A) F/(N²·M²). For a batch it adds every image's E_l, as "
        "nst.style_loss does. Section 5's tables, its gradient check and section 8's textures now run your function."
    )
