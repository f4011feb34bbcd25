"""Model answers for lesson 08 (controlling style transfer): for instructors, shown by ``nst.check.NAME.solution()``."""
from __future__ import annotations

import torch
import torch.nn.functional as F

import nstlib as nst


# Exercise 1. Y carries the strokes (light and dark), I and Q the colours: take Y from the stylised result and
# I, Q from the photo. nst.combine_luminance(result, content) does the same and clamps to [0, 1].
def keep_colours(result: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    return nst.yiq_to_rgb(torch.cat([nst.rgb_to_yiq(result)[:, :1], nst.rgb_to_yiq(content)[:, 1:]], dim=1))


# Exercise 2. Why both maps match the covariance: x' = A(x − μ_S) + μ_T has covariance A Σ_S Aᵀ.
#   symmetric roots: Σ_T^{1/2} Σ_S^{-1/2} Σ_S Σ_S^{-1/2} Σ_T^{1/2} = Σ_T^{1/2} I Σ_T^{1/2} = Σ_T;
#   Cholesky:        L_T L_S⁻¹ (L_S L_Sᵀ) L_S⁻ᵀ L_Tᵀ = L_T L_Tᵀ = Σ_T.
# Each first whitens the source (covariance I), then puts on the target's covariance; whitening is unique only up to
# a rotation, so every A = Σ_T^{1/2} Q Σ_S^{-1/2} with Q orthogonal works — the two maps are two choices of Q.
def colour_transfer_sym(source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    def power(cov: torch.Tensor, p: float) -> torch.Tensor:
        values, vectors = torch.linalg.eigh(cov)
        return vectors @ torch.diag(values ** p) @ vectors.T

    xs, xt = source[0].flatten(1).double(), target[0].flatten(1).double()  # (3, n): one column per pixel
    mu_s, mu_t = xs.mean(1, keepdim=True), xt.mean(1, keepdim=True)
    cov_s = (xs - mu_s) @ (xs - mu_s).T / xs.shape[1]
    cov_t = (xt - mu_t) @ (xt - mu_t).T / xt.shape[1]
    a = power(cov_t, 0.5) @ power(cov_s, -0.5)
    return (a @ (xs - mu_s) + mu_t).float().reshape(source.shape)


# Exercise 3. T_k is how much of position k belongs to the region; dividing by the mass Σ T_k makes G a weighted
# average of F_k F_kᵀ (on the style's scale however small the region, unchanged if the mask is scaled).
def soft_region_gram(features: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    n = features.shape[1]
    t = F.interpolate(mask, size=features.shape[-2:], mode="area").flatten(2)  # (1, 1, M): share of each cell
    f = features.flatten(2)                                                     # (1, N, M)
    return (f * t) @ f.transpose(1, 2) / (n * t.sum())


# Exercise 4. Luminance-only: I, Q come from the photo, which has none, so the result is grey whatever the style.
# The photo's colour covariance is σ² 11ᵀ (every pixel on the grey line): rank 1, so histogram matching hands the
# transfer a grey style (Cholesky works only thanks to nst.match_colour's small ridge eps). The plain transfer takes
# the painting's colours from the relu1_1 Gram matrix: its result is coloured — the way to colourise an old photo.
grey_photo = {"luminance_chroma": 0.0, "covariance_rank": 1, "recoloured_style_grey": True,
              "plain_transfer_grey": False}


# Exercise 5. The measure: the autocorrelation of the grey, mean-removed image is 1 at shift 0 and falls as the shift
# leaves a stroke; the radius where its ring average drops below ½ is a stroke size in pixels. It doubles when the
# image is resized 2×, and dividing by the value at 0 makes it blind to contrast.
#
# The experiment (in the notebook, after section 3):
#     sizes_style = {s: stroke_size(nst.resize_image(style, round(max(content.shape[-2:]) * s)))
#                    for s in scales_shown}
#     sizes_result = {s: stroke_size(r.image) for s, r in zip(scales_shown, by_scale)}
#     for s in scales_shown:
#         print(f"style_scale {s}: style {sizes_style[s]:.2f} px, transfer {sizes_result[s]:.2f} px")
#     print(f"content alone: {stroke_size(content):.2f} px")
# What it shows (HED's VGG-16, 192 px, 80 steps): the style measures 0.85, 1.38 and 3.18 px at style_scale 0.5, 1
# and 2, the transfers 0.79, 1.13 and 2.97 px — the transferred strokes follow the style's size closely. The photo
# alone measures 5.2 px, so the results' numbers are the strokes', not the cat's. The style does not quite double
# from 0.5 to 1: its finest strokes are about a pixel wide, where the pixel grid sets the measure. At 96 px, 30 steps
# (quick mode) the differences drown (transfers 0.88, 0.69, 1.23 px): judge at laptop size or larger. Controls worth
# adding: two seeds per setting (the spread), and the measure on a crop of the background, where nothing but strokes.
def stroke_size(image: torch.Tensor) -> float:
    grey = nst.rgb_to_yiq(image)[0, 0].double()
    x = grey - grey.mean()
    ac = torch.fft.irfft2(torch.fft.rfft2(x).abs().square(), s=x.shape)
    ac = ac / ac[0, 0]                                   # 1 at shift 0, whatever the contrast
    h, w = x.shape
    dy = torch.arange(h).double()
    dx = torch.arange(w).double()
    dy, dx = torch.minimum(dy, h - dy), torch.minimum(dx, w - dx)   # the FFT's shifts wrap around
    r = (dy[:, None] ** 2 + dx[None, :] ** 2).sqrt()
    prev_r, prev_c = 0.0, 1.0
    for radius in range(1, min(h, w) // 2):
        c = ac[(r >= radius - 0.5) & (r < radius + 0.5)].mean().item()
        if c < 0.5:                                      # interpolate between the two rings around ½
            return prev_r + (prev_c - 0.5) / (prev_c - c) * (radius - prev_r)
        prev_r, prev_c = radius, c
    return float(min(h, w) // 2)
