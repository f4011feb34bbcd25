"""Reference answers for lesson 04 (Gram matrices and the style loss). For instructors.

Each function is what ``nst.check.<name>`` expects; tests/test_check_style.py feeds them to the checkers.
"""
from __future__ import annotations

import torch


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Exercise 1: raw Gram matrices G = F Fᵀ, one per image: (B, N, H, W) → (B, N, N)."""
    b, n, h, w = features.shape
    flat = features.reshape(b, n, h * w)  # F: (B, N, M), M = H·W positions
    return flat @ flat.transpose(1, 2)  # G_ij = Σ_k F_ik F_jk


def style_layer_loss(generated: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """Exercise 2: E_l for (1, N, H, W) generated and (1, N, H', W') style features.

    E_l = 1/(4 N²) Σ_ij (G_ij/M_F − A_ij/M_S)²: each Gram matrix is divided by its own number of
    positions. With M_F = M_S = M this is seed 001's E_l = 1/(4 N² M²) Σ (G − A)².
    """
    n = generated.shape[1]
    m_f = generated.shape[2] * generated.shape[3]
    m_s = style.shape[2] * style.shape[3]
    g = gram_matrix(generated)[0] / m_f
    a = gram_matrix(style)[0] / m_s
    return ((g - a) ** 2).sum() / (4 * n**2)
