"""Reference answers for lesson 01 (CNN basics). For instructors; the notebook never imports this.

    >>> import nstlib as nst
    >>> nst.check.conv_output_size(conv_output_size).ok
    True
"""
from __future__ import annotations

import torch


def conv_output_size(W: int, F: int, P: int, S: int) -> int:
    """W_out = (W − F + 2P)/S + 1 (seed 003), rounded down: a kernel never hangs over the padded edge."""
    return (W - F + 2 * P) // S + 1


def conv2d_by_hand(image: torch.Tensor, kernel: torch.Tensor, stride: int = 1) -> torch.Tensor:
    """Cross-correlation of an (H, W) image with a (k, k) kernel, no padding, explicit loops."""
    k = kernel.shape[0]
    h_out = (image.shape[0] - k) // stride + 1
    w_out = (image.shape[1] - k) // stride + 1
    out = torch.zeros(h_out, w_out)
    for i in range(h_out):
        for j in range(w_out):
            patch = image[i * stride:i * stride + k, j * stride:j * stride + k]
            out[i, j] = (patch * kernel).sum()
    return out


def max_pool_by_hand(x: torch.Tensor, size: int = 2, stride: int = 2) -> torch.Tensor:
    """Largest value of each size x size window, windows ``stride`` apart; W_out = (W − F)/S + 1."""
    h_out = (x.shape[0] - size) // stride + 1
    w_out = (x.shape[1] - size) // stride + 1
    out = torch.empty(h_out, w_out)
    for i in range(h_out):
        for j in range(w_out):
            out[i, j] = x[i * stride:i * stride + size, j * stride:j * stride + size].max()
    return out


def stacked_3x3(C: int, n: int) -> tuple[int, int, int]:
    """(receptive field, weights of n stacked 3x3 C→C convs, weights of one C→C conv with the same field)."""
    field = 2 * n + 1
    return field, n * 3 * 3 * C * C, field * field * C * C
