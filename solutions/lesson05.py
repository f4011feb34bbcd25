"""Reference answers for lesson 05 (style transfer). For instructors.

Each function is what ``nst.check.<name>`` expects; tests/test_check_transfer.py feeds them to the checkers.
"""
from __future__ import annotations

import torch


def total_variation(image: torch.Tensor) -> torch.Tensor:
    """Exercise 1: L_TV = ½ (mean |x[i+1, j] − x[i, j]| + mean |x[i, j+1] − x[i, j]|) for (1, 3, H, W)."""
    dy = image[:, :, 1:, :] - image[:, :, :-1, :]  # vertical neighbours, (1, 3, H-1, W)
    dx = image[:, :, :, 1:] - image[:, :, :, :-1]  # horizontal neighbours, (1, 3, H, W-1)
    return 0.5 * (dy.abs().mean() + dx.abs().mean())


def content_factor(n: int, m: int) -> float:
    """Exercise 2a: ½ Σ (F − P)² = (N·M/2) · mean (F − P)², since the mean divides by the N·M entries."""
    return n * m / 2


def style_factor(n: int, m: int) -> float:
    """Exercise 2b: E_l = 1/(4 N² M²) Σ (G − A)² and mean (G/(NM) − A/(NM))² = Σ (G − A)² / (N⁴ M²), so N²/4."""
    return n**2 / 4
