"""Model answers for lesson 01 (CNN basics). For instructors; the notebook never imports this.

    >>> import nstlib as nst
    >>> nst.check.fc_params(fc_params).ok
    True
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

# Exercise 1. Every one of the 3·224·224 inputs meets every one of the 64·224·224 outputs with its own weight,
# and every output neuron has its own bias: 483,388,358,656 parameters. conv1_1 has 64·(3·3·3) + 64 = 1,792.
fc_params = (3 * 224 * 224) * (64 * 224 * 224) + 64 * 224 * 224


def max_pool_by_hand(x: torch.Tensor, size: int = 2, stride: int = 2) -> torch.Tensor:
    """Exercise 2. The largest value of each size×size window, windows ``stride`` apart.

    W_out = (W − F)/S + 1, rounded down: a window hanging over the edge does not count.
    """
    h_out = (x.shape[0] - size) // stride + 1
    w_out = (x.shape[1] - size) // stride + 1
    out = torch.empty(h_out, w_out)
    for i in range(h_out):
        for j in range(w_out):
            out[i, j] = x[i * stride:i * stride + size, j * stride:j * stride + size].max()
    return out


def recover_kernel(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Exercise 3. The F×F kernel K with y = conv2d(x, K): one equation patch · K = y[i, j] per output position.

    Because the kernel is shared, all (H − F + 1)(W − F + 1) equations are about the same F·F unknowns; least
    squares solves them together (and averages out noise on y).
    """
    k = x.shape[0] - y.shape[0] + 1                          # H_out = H − F + 1
    patches = F.unfold(x[None, None], k)[0].T                # (L, F·F): each patch row by row
    solution = torch.linalg.lstsq(patches, y.reshape(-1, 1)).solution
    return solution.reshape(k, k)


# Exercise 4. (a) and (e). A layer commutes with a shift when the neuron at p + s applies the same weights and
# bias to the shifted image that the neuron at p applied to the original: true for shared kernels with circular
# padding, for ReLU (it acts on each number alone) and so for their compositions (a), and for a 1×1 convolution
# (e). Stride 2 (b) and a 2×2/2 pool (c) compute only every other position: they commute with shifts by 2, not by 1.
# A per-position bias (d) is an unshared parameter. Zero padding (f) stays put while the image moves: the border differs.
shift_commuters = "ae"


def sharing_experiment(train: torch.Tensor, test: torch.Tensor) -> dict:
    """Exercise 5. Fit Sobel's G_x on ``train`` with a shared kernel and with an unshared (locally connected) layer,
    then measure both on ``test``.

    The shared layer has 9 parameters and one equation per output position (L of them): least squares must find
    the one kernel that explains them all, which is Sobel itself, so it is exact on any image. The unshared layer
    has 9 parameters per position and still one equation each: it fits the training image exactly in infinitely
    many ways, and the smallest, w_p = y_p · patch_p / |patch_p|², just memorises train's edge values y_p. On a new
    image it paints train's edges again: a relative error around 1. Sharing is a prior — the same feature matters
    everywhere — and where it holds it buys generalisation, not only memory.
    """
    sobel_x = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])

    def rel(pred: torch.Tensor, y: torch.Tensor) -> float:
        return float((pred - y).norm() / y.norm())

    p_train = F.unfold(train[None, None], 3)[0]             # (9, L): one column per output position
    p_test = F.unfold(test[None, None], 3)[0]
    y_train = F.conv2d(train[None, None], sobel_x[None, None]).flatten()
    y_test = F.conv2d(test[None, None], sobel_x[None, None]).flatten()

    shared = torch.linalg.lstsq(p_train.T, y_train[:, None]).solution[:, 0]     # 9 numbers
    unshared = p_train * (y_train / (p_train ** 2).sum(0))                       # (9, L): a kernel per position
    return {"shared_params": shared.numel(), "unshared_params": unshared.numel(),
            "shared_train": rel(shared @ p_train, y_train), "shared_test": rel(shared @ p_test, y_test),
            "unshared_train": rel((unshared * p_train).sum(0), y_train),
            "unshared_test": rel((unshared * p_test).sum(0), y_test)}
