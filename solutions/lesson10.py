"""Reference answers for lesson 10 (the feed-forward transfer network): for instructors."""
from __future__ import annotations

import torch


def instance_norm_by_hand(x: torch.Tensor, eps: float) -> torch.Tensor:
    """(x − mean) / √(var + eps), statistics per image and channel over H and W (biased variance)."""
    mean = x.mean(dim=(2, 3), keepdim=True)
    var = x.var(dim=(2, 3), keepdim=True, unbiased=False)
    return (x - mean) / torch.sqrt(var + eps)


def transfer_net_sizes(h: int) -> list[int]:
    """Heights after 9×9/1 (pad 4), 3×3/2 (pad 1), 3×3/2 (pad 1): (W − F + 2P) // S + 1 each time."""
    sizes = []
    for kernel, stride in ((9, 1), (3, 2), (3, 2)):
        h = (h - kernel + 2 * (kernel // 2)) // stride + 1
        sizes.append(h)
    return sizes
