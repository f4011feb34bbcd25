"""Checkers for lesson 09 (style statistics), exercises 1 and 3: W₂ to an empty feature map, and the cheapest map
between two Gaussians; with the small numeric helpers the lesson's other checkers share.

Oracles: ``nstlib.mean_covariance`` and ``nstlib.gaussian_w2`` (tested against analytic Gaussians), float64
eigendecompositions and hand-computed numbers. Each checker also recognises the usual wrong answers and says which one
it saw. :mod:`nstlib.course.check.statistics` exports them with the lesson's other checkers.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import SupportsFloat, SupportsIndex

import torch

from nstlib.course.check._core import CheckResult, call_safely, exercise, failed, generator, passed
from nstlib.loss.stats import gaussian_w2

__all__ = ["w2_to_zero", "w2_map", "psd_power", "one_number", "within"]


def psd_power(s: torch.Tensor, power: float = 0.5) -> torch.Tensor:
    """Σ^power of a symmetric positive semi-definite matrix, in float64 (eigenvalues floored at 1e-300)."""
    values, vectors = torch.linalg.eigh(s.double())
    return vectors @ torch.diag(values.clamp_min(1e-300) ** power) @ vectors.T


def _psd(n: int, seed: int) -> torch.Tensor:
    a = torch.randn(n, n, generator=generator(seed), dtype=torch.float64)
    return a @ a.T / n + 0.3 * torch.eye(n, dtype=torch.float64)


def one_number(got: object) -> float | CheckResult:
    """``got`` as a float, or the feedback when it is not one number."""
    try:
        if not isinstance(got, (SupportsFloat, SupportsIndex, str)):
            raise TypeError  # as float() would; checking first lets mypy see a number below
        return float(got)
    except (TypeError, ValueError, RuntimeError):
        return failed(f"return one number (a float or a 0-d tensor); got {type(got).__name__}.")


def within(a: float, b: float, rel: float = 1e-5) -> bool:
    """True when ``a`` is ``b`` to ``rel`` of max(1, |b|): relative for large numbers, absolute near 0."""
    return abs(a - b) <= rel * max(1.0, abs(b))


# ------------------------------------------------------------------------------------------- exercise 1
@exercise(
    lesson=9,
    number=1,
    title="how far is an empty feature map?",
    level="one line",
    hint="an all-zero feature map is the Gaussian with μ = 0 and Σ = 0 (all its mass at one point). Put that "
    "into the W₂² formula of section 2: the cross term has a zero inside.",
)
def w2_to_zero(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """``fn(mu, cov)`` = W₂²(δ₀, N(μ, Σ)) = ‖μ‖² + tr Σ, the denominator that calibrates ``stat="w2"``."""
    cases = [
        (torch.randn(4, generator=generator(20), dtype=torch.float64), _psd(4, 21)),
        (torch.tensor([1.5], dtype=torch.float64), torch.tensor([[0.36]], dtype=torch.float64)),
        (torch.rand(6, generator=generator(22), dtype=torch.float64) + 0.5, _psd(6, 23)),
    ]
    for mu, cov in cases:
        want = float(mu.square().sum() + torch.trace(cov))
        got, error = call_safely(fn, mu.clone(), cov.clone())
        if error is not None:
            return error
        value = one_number(got)
        if isinstance(value, CheckResult):
            return value
        if within(value, want):
            continue
        m2, tr = float(mu.square().sum()), float(torch.trace(cov))
        named = [
            (math.sqrt(want), "that is W₂ itself; the exercise asks for its square, W₂²."),
            (tr, "the mean term is missing: an empty map is ‖μ‖² away from the mean, too."),
            (m2, "only the mean term: the spread costs tr Σ (the sum of the variances)."),
            (
                m2 + float(cov.norm()),
                "you used the Frobenius norm ‖Σ‖_F; the formula has tr Σ, the sum of the variances.",
            ),
            (
                m2 + float(cov.sum()),
                "you summed every entry of Σ, covariances included; only the diagonal (the trace) belongs here.",
            ),
            (math.sqrt(m2) + tr, "‖μ‖ should be squared."),
            (
                m2 + float(torch.trace(psd_power(cov))),
                "you used tr Σ^{1/2}; with Σ₁ = 0 the cross term vanishes and tr Σ is left.",
            ),
            (
                m2 + tr - 2 * float(torch.trace(psd_power(cov))),
                "the cross term tr (Σ₂^{1/2} Σ₁ Σ₂^{1/2})^{1/2} has Σ₁ = 0 inside: it is 0, not tr Σ^{1/2}.",
            ),
        ]
        for wrong, why in named:
            if within(value, wrong):
                return failed(f"for μ of length {len(mu)} you returned {value:.6g}, expected {want:.6g}: {why}")
        return failed(f"for μ of length {len(mu)} you returned {value:.6g}, expected {want:.6g}.")
    return passed(
        "W₂²(δ₀, N(μ, Σ)) = ‖μ‖² + tr Σ — and since N Ĝ = Σ + μμᵀ, that is N · tr Ĝ: the trace of the "
        "style's own Gram matrix, the same number the Gram loss's calibration r is built from."
    )


# ------------------------------------------------------------------------------------------- exercise 3
_MAP_CASES = [  # (μ₁, Σ₁, μ₂, Σ₂): covariances that do not commute, so the shortcuts differ
    (
        torch.tensor([0.0, 1.0]),
        torch.tensor([[2.0, 0.9], [0.9, 1.0]]),
        torch.tensor([0.5, 0.0]),
        torch.tensor([[1.0, -0.4], [-0.4, 3.0]]),
    ),
    (
        torch.tensor([0.1, 0.2, 0.3]),
        torch.tensor([[1.0, 0.3, 0.1], [0.3, 2.0, -0.5], [0.1, -0.5, 1.5]]),
        torch.tensor([1.0, 0.0, -1.0]),
        torch.tensor([[2.0, -0.7, 0.0], [-0.7, 1.0, 0.2], [0.0, 0.2, 0.5]]),
    ),
]


@exercise(
    lesson=9,
    number=3,
    title="the cheapest map between two Gaussians",
    level="a function",
    hint="the cheapest map is x ↦ A x + b with A symmetric positive definite and A Σ₁ A = Σ₂. Multiply that "
    "equation by Σ₁^{1/2} on both sides: Σ₁^{1/2} A Σ₁^{1/2} squared is Σ₁^{1/2} Σ₂ Σ₁^{1/2}.",
)
def w2_map(fn: Callable[..., tuple[torch.Tensor, torch.Tensor]]) -> CheckResult:
    """``fn(mu1, cov1, mu2, cov2)`` returns (A, b): x ↦ A x + b maps N(μ₁, Σ₁) onto N(μ₂, Σ₂) and moves the mass by
    E‖A x + b − x‖² = W₂², the least any map can."""
    for m1, s1, m2, s2 in _MAP_CASES:
        m1, s1, m2, s2 = (t.double() for t in (m1, s1, m2, s2))
        n = len(m1)
        got, error = call_safely(fn, m1.clone(), s1.clone(), m2.clone(), s2.clone())
        if error is not None:
            return error
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return failed("return two things, (A, b): the matrix and the shift of x ↦ A x + b.")
        a, b = got
        if (
            not isinstance(a, torch.Tensor)
            or tuple(a.shape) != (n, n)
            or not isinstance(b, torch.Tensor)
            or b.numel() != n
        ):
            return failed(f"A should be an {n}×{n} tensor and b a tensor of {n} numbers.")
        a, b = a.detach().double(), b.detach().double().flatten()
        case = f"in the {n}-D case"
        mean = a @ m1 + b
        if not torch.allclose(mean, m2, atol=1e-5):
            return failed(
                f"{case} your map sends the mean μ₁ to {[round(v, 4) for v in mean.tolist()]}, not μ₂ = "
                f"{m2.tolist()}: choose b = μ₂ − A μ₁."
            )
        pushed = a @ s1 @ a.T
        w2 = float(gaussian_w2(m1, s1, m2, s2))
        eye = torch.eye(n, dtype=torch.float64)
        cost = float((mean - m1).square().sum() + torch.trace((a - eye) @ s1 @ (a - eye).T))
        if not torch.allclose(pushed, s2, atol=1e-5):
            if torch.allclose(a, torch.diag(a.diagonal())) and torch.allclose(
                pushed.diagonal(), s2.diagonal(), atol=1e-5
            ):
                return failed(
                    f"{case} you scaled each coordinate on its own: the variances match, the correlations "
                    "do not. A must mix the coordinates."
                )
            return failed(
                f"{case} A Σ₁ Aᵀ is not Σ₂ (it differs by up to {float((pushed - s2).abs().max()):.3g}): "
                "your map does not produce the second Gaussian."
            )
        if cost > w2 * (1 + 1e-5) + 1e-9:
            chol = torch.linalg.cholesky(s2) @ torch.linalg.inv(torch.linalg.cholesky(s1))
            eig = psd_power(s2) @ psd_power(s1, -0.5)
            name = (
                "Cholesky's A = L₂ L₁⁻¹"
                if torch.allclose(a, chol, atol=1e-5)
                else "the symmetric-root map Σ₂^{1/2} Σ₁^{-1/2}"
                if torch.allclose(a, eig, atol=1e-5)
                else "your A"
            )
            return failed(
                f"{case} {name} does map N(μ₁, Σ₁) onto N(μ₂, Σ₂) — lesson 8 recoloured with such maps — but "
                f"it moves the mass by E‖Ax + b − x‖² = {cost:.5g}, more than W₂² = {w2:.5g}. The cheapest "
                "A is symmetric" + (" (yours is not)." if not torch.allclose(a, a.T, atol=1e-6) else ".")
            )
    return passed(
        "A is symmetric, A Σ₁ A = Σ₂, and the mean squared move equals W₂² exactly: the optimal transport "
        "map "
        "between the two Gaussians. Used on pixels, it is the recolouring that changes the colours least."
    )
