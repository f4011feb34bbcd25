"""Reference answers for lesson 09 (style statistics): for instructors, not shown in the notebook."""
from __future__ import annotations

import torch


def mean_cov_by_hand(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """μ = mean over positions, Σ = (1/M) (F − μ)(F − μ)ᵀ for a feature matrix F (N × M)."""
    mu = f.mean(dim=1)
    centred = f - mu[:, None]
    return mu, centred @ centred.T / f.shape[1]


def sqrtm_by_hand(s: torch.Tensor) -> torch.Tensor:
    """U diag(√λ) Uᵀ from the eigen-decomposition S = U diag(λ) Uᵀ."""
    values, vectors = torch.linalg.eigh(s)
    return vectors @ torch.diag(values.clamp_min(0).sqrt()) @ vectors.T


def w2_by_hand(mu1: torch.Tensor, cov1: torch.Tensor, mu2: torch.Tensor, cov2: torch.Tensor) -> torch.Tensor:
    """W₂² = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₂^½ Σ₁ Σ₂^½)^½."""
    root2 = sqrtm_by_hand(cov2.double())
    cross = sqrtm_by_hand(root2 @ cov1.double() @ root2)
    return ((mu1 - mu2).double().square().sum() + torch.trace(cov1.double()) + torch.trace(cov2.double())
            - 2 * torch.trace(cross))
