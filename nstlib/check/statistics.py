"""Checkers for lesson 09 (style statistics): mean and covariance, the matrix square root, W2 between Gaussians.

Oracles: ``nstlib.mean_covariance`` and ``nstlib.gaussian_w2`` (tested against analytic Gaussians) and an
eigendecomposition in float64. Each checker also recognises the usual wrong answers and says which one it saw.
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F

from nstlib.check._core import CheckResult, call_safely, close, failed, passed, generator, same
from nstlib.stats import gaussian_w2, mean_covariance

__all__ = ["mean_cov_by_hand", "sqrtm_by_hand", "w2_by_hand"]


def mean_cov_by_hand(fn: Callable[[torch.Tensor], tuple[torch.Tensor, torch.Tensor]]) -> CheckResult:
    """Exercise: ``fn(F)`` for a feature matrix F (N × M) returns (μ (N,), Σ (N, N)) with
    μ = (1/M) Σ_k F_k and Σ = (1/M) Σ_k (F_k − μ)(F_k − μ)ᵀ."""
    feats = torch.rand(1, 5, 4, 6, generator=generator(3)) + 0.5
    f = feats[0].flatten(1)
    mu, cov = (t[0] for t in mean_covariance(feats))
    got, error = call_safely(fn, f.clone())
    if error is not None:
        return error
    if not isinstance(got, (tuple, list)) or len(got) != 2:
        return failed("return two things, (mu, cov): the mean vector and the covariance matrix.")
    g_mu, g_cov = got
    if not same(g_mu, mu):
        if isinstance(g_mu, torch.Tensor) and g_mu.shape == (f.shape[1],):
            return failed("your mean is over the channels, giving one number per position; average over positions "
                          "(dim=1) to get one mean per channel.", hint="F.mean(dim=1).")
        return close(g_mu, mu, "mu") or failed("mu differs.")
    if same(g_cov, cov):
        return passed("μ and Σ match; and N·Ĝ = Σ + μμᵀ ties them to the Gram matrix.")
    m = f.shape[1]
    if same(g_cov, cov * m / (m - 1)):
        return failed("you divided by M − 1 (the unbiased estimate, torch.cov's default). Here Σ is the covariance of "
                      "the M positions themselves, divided by M, so that N·Ĝ = Σ + μμᵀ holds exactly.",
                      hint="torch.cov(F, correction=0), or divide by M.")
    if same(g_cov, f @ f.T / m):
        return failed("that is G/M = F Fᵀ / M, the Gram matrix averaged over positions: it still contains μμᵀ. "
                      "Subtract the mean from every position first.", hint="Fc = F - mu[:, None]; Σ = Fc @ Fc.T / M.")
    if isinstance(g_cov, torch.Tensor) and g_cov.shape == (m, m):
        return failed(f"your covariance is {m}×{m} (positions × positions); it should be N×N (channels × channels).",
                      hint="Fc @ Fc.T, not Fc.T @ Fc.")
    return close(g_cov, cov, "cov") or failed("cov differs.")


_W2_CASES = [  # (μ₁, Σ₁, μ₂, Σ₂): diagonal, 1-D, and non-commuting 2×2 and 3×3
    (torch.tensor([0.0, 1.0]), torch.diag(torch.tensor([1.0, 4.0])), torch.tensor([1.0, 1.0]),
     torch.diag(torch.tensor([9.0, 1.0]))),
    (torch.tensor([2.0]), torch.tensor([[4.0]]), torch.tensor([-1.0]), torch.tensor([[0.25]])),
    (torch.zeros(2), torch.tensor([[2.0, 0.9], [0.9, 1.0]]), torch.tensor([0.5, 0.0]),
     torch.tensor([[1.0, -0.4], [-0.4, 3.0]])),
    (torch.tensor([0.1, 0.2, 0.3]), torch.tensor([[1.0, 0.3, 0.1], [0.3, 2.0, -0.5], [0.1, -0.5, 1.5]]),
     torch.zeros(3), torch.tensor([[2.0, -0.7, 0.0], [-0.7, 1.0, 0.2], [0.0, 0.2, 0.5]])),
]


def _root(s: torch.Tensor) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(s.double())
    return (vectors @ torch.diag(values.clamp_min(0).sqrt()) @ vectors.T).to(s.dtype)


def w2_by_hand(fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(mu1, cov1, mu2, cov2)`` returns the squared Wasserstein-2 distance between two Gaussians,
    W₂² = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₂^½ Σ₁ Σ₂^½)^½."""
    for k, (m1, s1, m2, s2) in enumerate(_W2_CASES):
        want = float(gaussian_w2(m1, s1, m2, s2))
        got, error = call_safely(fn, m1.clone(), s1.clone(), m2.clone(), s2.clone())
        if error is not None:
            return error
        try:
            value = float(got)
        except (TypeError, ValueError, RuntimeError):
            return failed(f"return one number (a 0-d tensor or float); got {type(got).__name__}.")
        if abs(value - want) <= 1e-4 * max(1.0, abs(want)):
            continue
        label = ["two diagonal covariances", "a 1-D case", "a 2×2 non-commuting case", "a 3×3 case"][k]
        if abs(value - want ** 0.5) <= 1e-4 * max(1.0, want ** 0.5):
            return failed(f"on {label} you returned W₂ = {value:.5g}; the exercise asks for the square, W₂² = {want:.5g}.")
        naive = float((m1 - m2).square().sum() + (_root(s1) - _root(s2)).square().sum())
        if abs(value - naive) <= 1e-4 * max(1.0, naive):
            return failed(f"on {label} you computed ‖μ₁ − μ₂‖² + ‖Σ₁^½ − Σ₂^½‖²_F = {value:.5g}, but W₂² = {want:.5g}. "
                          "That shortcut is right only when Σ₁ and Σ₂ commute (e.g. both diagonal).",
                          hint="use the trace form with the cross term tr (Σ₂^½ Σ₁ Σ₂^½)^½.")
        if abs(value - (want - float((m1 - m2).square().sum()))) <= 1e-4 * max(1.0, want):
            return failed(f"on {label} the mean term is missing: add ‖μ₁ − μ₂‖².")
        return failed(f"on {label} you returned {value:.6g}, expected W₂² = {want:.6g}.",
                      hint="matrix square roots come from eigh: U diag(√λ) Uᵀ (not torch.sqrt, which works entry by entry).")
    return passed(f"W₂² matches on all {len(_W2_CASES)} cases, including covariances that do not commute.")


def sqrtm_by_hand(fn: Callable[[torch.Tensor], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(S)`` returns the symmetric positive semi-definite square root of a symmetric PSD S."""
    a = torch.randn(4, 4, generator=generator(4), dtype=torch.float64)
    s = a @ a.T + 0.5 * torch.eye(4, dtype=torch.float64)
    got, error = call_safely(fn, s.clone())
    if error is not None:
        return error
    want = _root(s)
    if isinstance(got, torch.Tensor) and not torch.isfinite(got).all():
        return failed("your result contains NaN: torch.sqrt takes the root of every entry separately, and the "
                      "off-diagonal entries of S can be negative. (R R would not be S anyway.)",
                      hint="eigen-decompose S = U diag(λ) Uᵀ (torch.linalg.eigh) and return U diag(√λ) Uᵀ.")
    if same(got, want, atol=1e-6):
        return passed("R is symmetric, R R = S, and its eigenvalues are √λ ≥ 0: the principal square root.")
    if same(got, s.sqrt(), atol=1e-6) or same(got, s.abs().sqrt(), atol=1e-6):
        return failed("torch.sqrt takes the root of every entry separately; R R then is not S.",
                      hint="eigen-decompose S = U diag(λ) Uᵀ (torch.linalg.eigh) and return U diag(√λ) Uᵀ.")
    if isinstance(got, torch.Tensor) and got.shape == s.shape:
        g = got.detach().double()
        if torch.allclose(g @ g.T, s, atol=1e-6) and not torch.allclose(g, g.T, atol=1e-6):
            return failed("your R satisfies R Rᵀ = S (a Cholesky factor, perhaps) but is not symmetric; the W₂ formula "
                          "needs the symmetric root with R R = S.", hint="U diag(√λ) Uᵀ from torch.linalg.eigh.")
        if torch.allclose(g @ g, s, atol=1e-6):
            return failed("R R = S, but R is not the positive semi-definite root (some eigenvalue of R is negative).",
                          hint="take √λ of the non-negative eigenvalues, not ±.")
    return close(got, want, "the square root") or failed("the square root differs.")


