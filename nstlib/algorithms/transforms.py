"""Feature transforms: AdaIN (Huang & Belongie 2017) and WCT (Li et al. 2017) on (B, N, H, W) feature maps.

Both give the photo's features the painting's statistics at one layer, in closed form, with nothing trained per
style: AdaIN each channel's mean and standard deviation, WCT the whole mean and covariance (lesson 9's μ and Σ).
Their papers decode the result with a trained decoder; lesson 10 decodes it by optimisation instead (the image
whose features match, found with :func:`nstlib.stylize`'s loop and ``extra_loss``).

    >>> c, s = torch.randn(1, 4, 5, 6, dtype=torch.float64), 3 * torch.randn(1, 4, 7, 7, dtype=torch.float64) + 1
    >>> out = wct(c, s)
    >>> bool(torch.allclose(out.mean(dim=(2, 3)), s.mean(dim=(2, 3))))
    True
"""

from __future__ import annotations

import torch

from nstlib.errors import InputError

__all__ = ["adain", "wct"]


def _check(content: torch.Tensor, style: torch.Tensor) -> None:
    if content.dim() != 4 or style.dim() != 4 or content.shape[:2] != style.shape[:2]:
        raise InputError(
            f"content and style features must be (B, N, H, W) with the same B and N, got {tuple(content.shape)} "
            f"and {tuple(style.shape)}."
        )


def adain(content: torch.Tensor, style: torch.Tensor, eps: float = 1e-5) -> torch.Tensor:
    """σ(s) (c − μ(c)) / σ(c) + μ(s): per image and channel over the positions, σ = √(var + eps) with the
    variance divided by the number of positions (Huang & Belongie 2017, eq. 8)."""
    _check(content, style)
    mu_c, mu_s = content.mean(dim=(2, 3), keepdim=True), style.mean(dim=(2, 3), keepdim=True)
    sd_c = (content.var(dim=(2, 3), keepdim=True, unbiased=False) + eps).sqrt()
    sd_s = (style.var(dim=(2, 3), keepdim=True, unbiased=False) + eps).sqrt()
    return sd_s * (content - mu_c) / sd_c + mu_s


def _power(cov: torch.Tensor, p: float, rel: float) -> torch.Tensor:
    """Σ^p = E Λ^p Eᵀ over the eigenvalues above ``rel`` × the largest (dead channels make Σ singular)."""
    values, vectors = torch.linalg.eigh(cov)
    keep = values > rel * values.max().clamp_min(1e-300)
    e = vectors[:, keep]
    return e @ torch.diag(values[keep] ** p) @ e.T


def wct(content: torch.Tensor, style: torch.Tensor, alpha: float = 1.0, rel: float = 1e-8) -> torch.Tensor:
    """Whiten each image's content features, colour them with the style's covariance, add the style's mean
    (Li et al. 2017): f_cs = Σ_s^½ Σ_c^-½ (f_c − μ_c) + μ_s, computed in float64; ``alpha`` blends
    α f_cs + (1 − α) f_c. Eigenvalues below ``rel`` × the largest are left out (a covariance's null space)."""
    _check(content, style)
    if not 0.0 <= alpha <= 1.0:
        raise InputError(f"alpha must be in [0, 1], got {alpha}.")
    out = []
    for fc_img, fs_img in zip(content.double(), style.double()):
        fc, fs = fc_img.flatten(1), fs_img.flatten(1)  # (N, M_c), (N, M_s)
        mu_c, mu_s = fc.mean(1, keepdim=True), fs.mean(1, keepdim=True)
        cov_c = (fc - mu_c) @ (fc - mu_c).T / fc.shape[1]
        cov_s = (fs - mu_s) @ (fs - mu_s).T / fs.shape[1]
        coloured = _power(cov_s, 0.5, rel) @ _power(cov_c, -0.5, rel) @ (fc - mu_c) + mu_s
        out.append(coloured.reshape(fc_img.shape))
    result = torch.stack(out).to(content.dtype)
    return alpha * result + (1 - alpha) * content
