"""The losses of neural style transfer as pure functions, in Gatys et al.'s notation.

Notation (L. A. Gatys, A. S. Ecker & M. Bethge, *Image Style Transfer Using Convolutional Neural
Networks*, CVPR 2016): at layer l there are N_l feature maps (channels), each of M_l = H_l · W_l
positions. F is the generated image's feature matrix (N_l × M_l), P the content image's, G = F Fᵀ
and A the Gram matrices of the generated and style images.

Two conventions are used in practice, and every function takes it as an explicit argument:

* ``"gatys"`` — the paper's sums: content ½ Σ (F − P)², style E_l = 1/(4 N_l² M_l²) Σ (G − A)².
* ``"mean"`` — the torchvision-era averages that :func:`nstlib.stylize` uses (see its docstring for
  the anchor): content mean (F − P)², style mean (Ĝ − Â)² with Ĝ = G / (N_l M_l).

They differ only by a constant factor per layer, which is absorbed by α, β and w_l.
"""

from __future__ import annotations

from typing import Literal

import torch

from nstlib.errors import InputError

__all__ = ["gram_matrix", "content_loss", "style_loss", "tv_loss"]

GramNorm = Literal["gatys", "chw", "hw"] | None
Reduction = Literal["mean", "sum", "gatys"]


def _reduce(squared: torch.Tensor, reduction: str, per_image: bool, half: bool) -> torch.Tensor:
    """Reduce a (B, ...) tensor of squared differences over everything but the batch."""
    flat = squared.flatten(1)
    if reduction == "mean":
        per = flat.mean(dim=1)
    elif reduction == "sum":
        per = flat.sum(dim=1)
    elif reduction == "gatys":
        per = flat.sum(dim=1) * (0.5 if half else 1.0)
    else:
        raise InputError(f"reduction must be 'mean', 'sum' or 'gatys', got {reduction!r}.")
    return per if per_image else per.sum()


class _Gram(torch.autograd.Function):
    """G = F Fᵀ with the backward in one matmul: ∂L/∂F = (∂L/∂G + ∂L/∂Gᵀ) F.

    Autograd's own backward of ``bmm(F, Fᵀ)`` takes two matmuls (one per operand) and adds them;
    this gives the same gradient for a third less work (nstlib.bench.run, BENCHMARKS.md). Channels_last
    features arrive as X = Fᵀ, (B, M, N), a view of their memory, so that the gradient keeps their layout.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, positions_first: bool) -> torch.Tensor:  # (B, N, M) or (B, M, N) -> (B, N, N)
        ctx.save_for_backward(x)
        ctx.positions_first = positions_first
        return torch.bmm(x.transpose(1, 2), x) if positions_first else torch.bmm(x, x.transpose(1, 2))

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        (x,) = ctx.saved_tensors
        sym = (grad + grad.transpose(1, 2)).to(x.dtype)
        return (torch.bmm(x, sym) if ctx.positions_first else torch.bmm(sym, x)), None  # X S = (S F)ᵀ, S symmetric


def gram_matrix(features: torch.Tensor, normalize: GramNorm = None) -> torch.Tensor:
    """Gram matrices G = F Fᵀ of a batch of feature maps, one per image.

    ``features`` (B, N, H, W) is reshaped to F of shape (B, N, M) with M = H·W, and
    G_ij = Σ_k F_ik F_jk (Gatys et al. 2016, eq. 3). Images of a batch are never mixed.

    ``normalize``:
        * ``None`` — the raw F Fᵀ.
        * ``"gatys"`` — F Fᵀ / (2 N M), so that ``style_loss(G, A, reduction="gatys")``, a plain
          Σ (G − A)², equals Gatys et al.'s E_l = 1/(4 N² M²) Σ (G_raw − A_raw)² exactly.
        * ``"chw"`` — F Fᵀ / (N M), the C·H·W mean of the torchvision-era implementations.
        * ``"hw"`` — F Fᵀ / M, the average over positions (TensorFlow's tutorial).

    Returns (B, N, N).

    >>> gram_matrix(torch.ones(1, 2, 2, 2))[0]
    tensor([[4., 4.],
            [4., 4.]])
    """
    if features.dim() != 4:
        raise InputError(f"gram_matrix expects features of shape (B, C, H, W), got {tuple(features.shape)}.")
    b, n, h, w = features.shape
    m = h * w
    positions_first = n > 1 and features.is_contiguous(memory_format=torch.channels_last)
    # F as (B, N, M); channels_last maps as X = Fᵀ, (B, M, N), a view with plain strides (bf16 matmuls on CPUs
    # copy a (B, N, M) view of that memory first, which costs more than the product itself: BENCHMARKS.md)
    x = features.permute(0, 2, 3, 1).reshape(b, m, n) if positions_first else features.reshape(b, n, m)
    if features.requires_grad and torch.is_grad_enabled():
        gram = _Gram.apply(x, positions_first)  # (B, N, N), same values, cheaper backward
    else:
        gram = torch.bmm(x.transpose(1, 2), x) if positions_first else torch.bmm(x, x.transpose(1, 2))
    if normalize is None:
        return gram
    divisor = {"gatys": 2.0 * n * m, "chw": float(n * m), "hw": float(m)}.get(normalize)
    if divisor is None:
        raise InputError(f"normalize must be None, 'gatys', 'chw' or 'hw', got {normalize!r}.")
    return gram / divisor


def content_loss(
    features: torch.Tensor, target: torch.Tensor, reduction: Reduction = "mean", per_image: bool = False
) -> torch.Tensor:
    """Content loss between the generated image's features F and the content image's P.

    * ``reduction="gatys"`` — L_content = ½ Σ_ij (F_ij − P_ij)²  (Gatys et al. 2016, eq. 1).
    * ``reduction="mean"`` — mean (F − P)², the MSE of the torchvision-era implementations.
    * ``reduction="sum"`` — Σ (F − P)².

    ``target`` may have batch size 1 and is then compared with every image of the batch. The result
    is summed over the batch, or returned per image (shape (B,)) with ``per_image=True``.

    >>> content_loss(torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2), reduction="gatys")
    tensor(2.)
    """
    if features.shape[1:] != target.shape[1:]:
        raise InputError(
            f"content_loss: features {tuple(features.shape)} and target {tuple(target.shape)} differ in shape."
        )
    return _reduce((features - target).square(), reduction, per_image, half=True)


def style_loss(
    gram: torch.Tensor, target_gram: torch.Tensor, reduction: Reduction = "mean", per_image: bool = False
) -> torch.Tensor:
    """Style loss of one layer between Gram matrices G (generated) and A (style).

    * ``reduction="gatys"`` with grams from ``gram_matrix(..., normalize="gatys")`` —
      E_l = 1/(4 N_l² M_l²) Σ_ij (G_ij − A_ij)²  (Gatys et al. 2016, eq. 4).
      Summed over layers with weights w_l it gives L_style = Σ_l w_l E_l.
    * ``reduction="mean"`` with grams from ``normalize="chw"`` — mean (G − A)² over the N_l² entries,
      the torchvision-era convention.
    * ``reduction="sum"`` — Σ (G − A)² of whatever grams you pass.

    ``target_gram`` may have batch size 1; see :func:`content_loss` for ``per_image``.

    >>> style_loss(torch.zeros(1, 2, 2), torch.ones(1, 2, 2), reduction="sum")
    tensor(4.)
    """
    if gram.shape[1:] != target_gram.shape[1:]:
        raise InputError(
            f"style_loss: Gram matrices {tuple(gram.shape)} and {tuple(target_gram.shape)} differ in shape."
        )
    return _reduce((gram - target_gram).square(), reduction, per_image, half=False)


def tv_loss(image: torch.Tensor, p: int = 1, per_image: bool = False) -> torch.Tensor:
    """Total variation: how much neighbouring pixels differ (small for smooth images).

    ``p=1``: ½ (mean |x_{i+1,j} − x_{i,j}| + mean |x_{i,j+1} − x_{i,j}|), the anisotropic form of
    d2l's chapter that :func:`nstlib.stylize` uses; ``p=2``: the same with squared differences
    (Mahendran & Vedaldi 2015's β = 2 regulariser). Bhuiyan's thesis (*Generate Artistic Image
    Using Deep Learning*, KUET 2019) adds this "variation loss" to the total.

    >>> tv_loss(torch.zeros(1, 3, 4, 4))
    tensor(0.)
    """
    if p not in (1, 2):
        raise InputError(f"tv_loss: p must be 1 or 2, got {p}.")
    dy = image[:, :, 1:, :] - image[:, :, :-1, :]
    dx = image[:, :, :, 1:] - image[:, :, :, :-1]
    if p == 1:
        dy, dx = dy.abs(), dx.abs()
    else:
        dy, dx = dy.square(), dx.square()
    per = 0.5 * (dy.flatten(1).mean(dim=1) + dx.flatten(1).mean(dim=1))
    return per if per_image else per.sum()
