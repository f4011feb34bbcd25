"""Reference answers for lesson 07 (DeepDream). For instructors.

Each function is what ``nst.check.<name>`` expects; tests/test_check_dream.py feeds them to the checkers.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def dream_objective(features: dict[str, torch.Tensor]) -> torch.Tensor:
    """Exercise 1: L = Σ_l mean(A_l) (seed 004: each layer normalised by its size, then added)."""
    return sum(activation.mean() for activation in features.values())


def dream_step(image: torch.Tensor, grad: torch.Tensor, step_size: float) -> torch.Tensor:
    """Exercise 2: one normalised ascent step, x ← clip_[0,1](x + η g / mean|g|), mean|g| per image."""
    scale = grad.abs().mean(dim=(1, 2, 3), keepdim=True) + 1e-8
    return (image + step_size * grad / scale).clamp(0.0, 1.0)


def octave_pyramid(size: tuple[int, int], octaves: int, octave_scale: float) -> list[tuple[int, int]]:
    """Exercise 3: (round(H / s^k), round(W / s^k)) for k = octaves−1, …, 0: smallest first."""
    h, w = size
    return [(round(h / octave_scale**k), round(w / octave_scale**k)) for k in range(octaves - 1, -1, -1)]


def carry_detail(dreamed: torch.Tensor, base: torch.Tensor, next_base: torch.Tensor) -> torch.Tensor:
    """Exercise 4: the next octave starts at next_base + upsample(dreamed − base), clipped to [0, 1]."""
    detail = F.interpolate(dreamed - base, size=next_base.shape[-2:], mode="bilinear", align_corners=False)
    return (next_base + detail).clamp(0.0, 1.0)
