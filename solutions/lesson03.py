"""Reference answers for lesson 03 (content reconstruction). For instructors; the notebook never imports this."""
from __future__ import annotations

import torch


def content_loss_by_hand(F: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """L_content = ½ Σ_ij (F_ij − P_ij)² (seeds 000 and 002; Gatys et al. 2016, eq. 1)."""
    return 0.5 * ((F - P) ** 2).sum()


def content_gradient(F: torch.Tensor, P: torch.Tensor) -> torch.Tensor:
    """∂L/∂F = F − P: the ½ cancels the 2 of the square (Gatys et al. 2016, eq. 2, before the ReLU's mask)."""
    return F - P


most_detail_layer = "relu1_2"  # (conv1_2, the same layer before its ReLU, is accepted too)
