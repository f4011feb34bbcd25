"""Checkers for lesson 08 (beyond Gatys 2016): luminance, colour transfer, the guided Gram matrix.

Oracles: nstlib's own tested functions (``rgb_to_yiq``, ``colour_stats``, ``masked_gram_matrix``).
Each checker also recognises the usual wrong answers and says which one it saw.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from nstlib.check._core import CheckResult, call_safely, close, failed, passed, generator, same
from nstlib.colour import colour_stats, rgb_to_yiq
from nstlib.stats import masked_gram_matrix

__all__ = ["luminance_by_hand", "colour_transfer_by_hand", "masked_gram_by_hand"]


def luminance_by_hand(fn: Callable[[torch.Tensor], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(image)`` for (B, 3, H, W) RGB returns Y = 0.299 R + 0.587 G + 0.114 B as (B, 1, H, W)."""
    image = torch.rand(2, 3, 5, 6, generator=generator(0))
    want = rgb_to_yiq(image)[:, :1]
    got, error = call_safely(fn, image.clone())
    if error is not None:
        return error
    if isinstance(got, torch.Tensor) and got.shape == (2, 5, 6):
        got = got[:, None]
    if same(got, want):
        return passed("Y = 0.299 R + 0.587 G + 0.114 B, the luminance of YIQ (and of YCbCr, and of Pillow's 'L').")
    if same(got, image.mean(1, keepdim=True)):
        return failed("you averaged the three channels equally. The eye is most sensitive to green and least to blue, "
                      "so luminance weighs them 0.299, 0.587 and 0.114.", hint="0.299 * R + 0.587 * G + 0.114 * B.")
    if same(got, 0.299 * image[:, 2:] + 0.587 * image[:, 1:2] + 0.114 * image[:, :1]):
        return failed("you used the weights in the order B, G, R; tensors here are RGB (channel 0 is red).",
                      hint="image[:, 0] is R, image[:, 1] is G, image[:, 2] is B.")
    if isinstance(got, torch.Tensor) and got.shape == (2, 3, 5, 6):
        return failed("you returned three channels; the exercise asks for Y alone, shape (B, 1, H, W).",
                      hint="keep the channel dimension with keepdim=True or [:, None].")
    return close(got, want, "Y") or failed("Y differs.")


def colour_transfer_by_hand(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(source, target)`` returns source's pixels mapped by x' = A x + b so that their mean and
    covariance are target's (Gatys et al. 2017, §5.2, Cholesky: A = L_T L_S⁻¹, b = μ_T − A μ_S). No clamping."""
    g = generator(1)
    source = torch.rand(1, 3, 12, 10, generator=g) * torch.tensor([0.9, 0.5, 0.3])[:, None, None]
    source[:, 1] += 0.4 * source[:, 0]  # correlated channels, so a diagonal map is not enough
    target = torch.rand(1, 3, 8, 9, generator=g).flip(1) * 0.6 + 0.2
    target[:, 2] = 0.5 * target[:, 2] + 0.5 * target[:, 0]
    got, error = call_safely(fn, source.clone(), target.clone())
    if error is not None:
        return error
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(source.shape):
        shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
        return failed(f"the result should be the recoloured source, shape {tuple(source.shape)}; got {shape}.",
                      hint="apply A and b to every pixel of the source and reshape back to (1, 3, H, W).")
    (mu, cov), (mu_t, cov_t), (mu_s, cov_s) = colour_stats(got.detach()), colour_stats(target), colour_stats(source)
    mean_ok = torch.allclose(mu, mu_t, atol=1e-4)
    cov_ok = torch.allclose(cov, cov_t, atol=1e-4 * float(cov_t.abs().max()) + 1e-6)
    if mean_ok and cov_ok:
        chol = torch.linalg.cholesky(cov_t.double()) @ torch.linalg.inv(torch.linalg.cholesky(cov_s.double()))
        want = (chol.float() @ (source.flatten(2) - mu_s[:, :, None]) + mu_t[:, :, None]).reshape(source.shape)
        which = "Cholesky's A = L_T L_S⁻¹" if same(got, want, atol=1e-4) else \
            "a valid A (not Cholesky's: every A = L_T Q L_S⁻¹ with Q orthogonal works, e.g. the eigen one)"
        return passed(f"the recoloured source has the target's mean colour and colour covariance, using {which}.")
    if cov_ok:
        return failed("the covariance matches but the mean colour does not.",
                      hint="b = μ_T − A μ_S: after multiplying by A, shift by the target's mean.")
    if mean_ok and torch.allclose(cov.diagonal(dim1=1, dim2=2), cov_t.diagonal(dim1=1, dim2=2), rtol=1e-3):
        return failed("each channel has the target's variance, but the correlations between channels differ: "
                      "scaling channels separately (σ_T / σ_S) is not enough.",
                      hint="use the full 3×3 covariance: A = L_T L_S⁻¹ with Cholesky factors.")
    if mean_ok:
        return failed("the mean colour matches but the covariance does not. Check the order: A must first undo the "
                      "source's covariance (L_S⁻¹) and then apply the target's (L_T).",
                      hint="A = L_T @ inverse(L_S), with L = torch.linalg.cholesky(Σ) and Σ = (1/n) Σ_k (x_k − μ)(x_k − μ)ᵀ.")
    return failed("neither the mean colour nor the covariance of your result matches the target's.",
                  hint="compute μ and Σ over the pixels (x as a (3, n) matrix), then x' = A (x − μ_S) + μ_T.")


def masked_gram_by_hand(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(F, T)`` for features (1, N, H, W) and a guidance map (1, 1, H, W) returns the guided
    Gram matrix (F∘T)(F∘T)ᵀ / (N Σ_k T_k²), shape (1, N, N) (Gatys et al. 2017, §4)."""
    g = generator(2)
    feats = torch.rand(1, 6, 7, 8, generator=g)
    mask = torch.zeros(1, 1, 7, 8)
    mask[..., :, :3] = 1.0
    mask[..., :, 3] = 0.5  # a soft edge, as after downsampling
    want = masked_gram_matrix(feats, mask)
    got, error = call_safely(fn, feats.clone(), mask.clone())
    if error is not None:
        return error
    if same(got, want):
        return passed("your guided Gram matrix matches: features weighted by the mask, averaged over the region.")
    n, m = feats.shape[1], feats.shape[2] * feats.shape[3]
    fm = (feats * mask).flatten(2)
    raw = fm @ fm.transpose(1, 2)
    if same(got, raw / (n * m)):
        return failed("you divided by N·M, all positions of the image, instead of N·Σ T², the size of the region. "
                      "A small region would then get a small Gram matrix, as if its style were faint.",
                      hint="divide by N * (T ** 2).sum().")
    if same(got, raw, atol=1e-3):
        return failed("you returned the raw (F∘T)(F∘T)ᵀ; normalise it by N·Σ_k T_k².")
    weighted = (feats.flatten(2) * mask.flatten(2)) @ feats.flatten(2).transpose(1, 2) / (n * mask.sum())
    if same(got, weighted):
        return failed("you weighted by T once (F∘T)Fᵀ / (N Σ T). Gatys et al. multiply the features by the guidance "
                      "map, so both factors carry it: (F∘T)(F∘T)ᵀ, divided by N Σ T². (They agree for 0/1 masks.)")
    return close(got, want, "the guided Gram matrix") or failed("the guided Gram matrix differs.")


