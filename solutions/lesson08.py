"""Reference answers for lesson 08 (colour, several styles, regions): for instructors, not shown in the notebook."""
from __future__ import annotations

import torch


def luminance_by_hand(image: torch.Tensor) -> torch.Tensor:
    """Y = 0.299 R + 0.587 G + 0.114 B, kept as (B, 1, H, W)."""
    r, g, b = image[:, 0:1], image[:, 1:2], image[:, 2:3]
    return 0.299 * r + 0.587 * g + 0.114 * b


def colour_transfer_by_hand(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """x' = A (x − μ_S) + μ_T with A = L_T L_S⁻¹ (Cholesky; Gatys et al. 2017, §5.2)."""
    xs = source[0].flatten(1).double()  # (3, n)
    xt = target[0].flatten(1).double()
    mu_s, mu_t = xs.mean(1, keepdim=True), xt.mean(1, keepdim=True)
    cov_s = (xs - mu_s) @ (xs - mu_s).T / xs.shape[1]
    cov_t = (xt - mu_t) @ (xt - mu_t).T / xt.shape[1]
    a = torch.linalg.cholesky(cov_t) @ torch.linalg.inv(torch.linalg.cholesky(cov_s))
    return (a @ (xs - mu_s) + mu_t).float().reshape(source.shape)


def masked_gram_by_hand(features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(F∘T)(F∘T)ᵀ / (N Σ T²) for (1, N, H, W) features and a (1, 1, H, W) guidance map."""
    n = features.shape[1]
    f = (features * mask).flatten(2)  # (1, N, M)
    return f @ f.transpose(1, 2) / (n * mask.square().sum())
