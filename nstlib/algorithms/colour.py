"""Colour control for style transfer (Gatys, Ecker, Bethge, Hertzmann & Shechtman 2017).

"Controlling perceptual factors in neural style transfer" (CVPR 2017), section 5, gives two ways to
keep the *content's* colours while taking the style's brush work:

1. **Luminance-only transfer** — run the transfer on the luminance channel Y only (YIQ colour
   space), then put the content's chroma (I, Q) back:  result = YIQ⁻¹(Y_result, I_content, Q_content).
   Before the transfer the style's luminance is matched to the content's mean and spread,
   L_S' = σ_C / σ_S · (L_S − μ_S) + μ_C.                                      (Gatys et al. 2017, §5.1)
2. **Colour histogram matching** — recolour the style image first, so that its pixels x_S have the
   content's mean μ_C and covariance Σ_C:  x_S' = A x_S + b,  b = μ_C − A μ_S,  A Σ_S Aᵀ = Σ_C.
   Two choices of A (§5.2): Cholesky, A = L_C L_S⁻¹ (Σ = L Lᵀ), and the "image analogies" one,
   A = Σ_C^{1/2} Σ_S^{-1/2} (symmetric square roots from an eigen-decomposition).

    >>> from nstlib.images import load_image
    >>> content = load_image("images/tubingen.jpg", size=48)
    >>> style = load_image("images/starry_night.jpg", size=48)
    >>> style_recoloured = match_colour(style, content)      # the painting in the photo's colours
    >>> style_recoloured.shape == style.shape
    True
    >>> result = stylize_luminance(content, style, steps=3, progress=False)   # a real run: size 256, steps=300
    >>> result.image.shape == content.shape
    True
"""

from __future__ import annotations

from typing import Any, Literal

import torch

from nstlib.errors import InputError
from nstlib.images import check_image, resize_image

__all__ = [
    "rgb_to_yiq",
    "yiq_to_rgb",
    "rgb_to_ycbcr",
    "ycbcr_to_rgb",
    "luminance",
    "combine_luminance",
    "match_luminance",
    "colour_stats",
    "match_colour",
    "stylize_luminance",
]

ColourSpace = Literal["yiq", "ycbcr"]

# NTSC YIQ (FCC 1953 coefficients), the space Gatys et al. (2017) work in. Rows: Y, I, Q.
_YIQ = torch.tensor(
    [[0.299, 0.587, 0.114], [0.595716, -0.274453, -0.321263], [0.211456, -0.522591, 0.311135]], dtype=torch.float64
)
# ITU-R BT.601 YCbCr for values in [0, 1] with Cb, Cr centred on 0 (JPEG's matrix without the +0.5 offset).
_YCBCR = torch.tensor(
    [[0.299, 0.587, 0.114], [-0.168736, -0.331264, 0.5], [0.5, -0.418688, -0.081312]], dtype=torch.float64
)
_MATRICES = {"yiq": _YIQ, "ycbcr": _YCBCR}


def _matrix(space: str, inverse: bool, like: torch.Tensor) -> torch.Tensor:
    if space not in _MATRICES:
        raise InputError(f"space must be 'yiq' or 'ycbcr', got {space!r}.")
    m = _MATRICES[space]
    return (torch.linalg.inv(m) if inverse else m).to(like.device, like.dtype)


def _apply(matrix: torch.Tensor, image: torch.Tensor) -> torch.Tensor:
    return torch.einsum("ij,bjhw->bihw", matrix, image)  # a 3x3 matrix on every pixel


def rgb_to_yiq(image: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] → (B, 3, H, W) YIQ: Y = 0.299 R + 0.587 G + 0.114 B, I, Q (NTSC).

    >>> rgb_to_yiq(torch.ones(1, 3, 1, 1)).flatten().round(decimals=4).tolist()
    [1.0, 0.0, 0.0]
    """
    return _apply(_matrix("yiq", False, image), check_image(image))


def yiq_to_rgb(yiq: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_yiq` (no clamping: out-of-gamut colours stay visible to the caller)."""
    return _apply(_matrix("yiq", True, yiq), yiq)


def rgb_to_ycbcr(image: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB → Y, Cb, Cr (ITU-R BT.601, chroma centred on 0)."""
    return _apply(_matrix("ycbcr", False, image), check_image(image))


def ycbcr_to_rgb(ycbcr: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_ycbcr` (no clamping)."""
    return _apply(_matrix("ycbcr", True, ycbcr), ycbcr)


def _to_space(image: torch.Tensor, space: str) -> torch.Tensor:
    return _apply(_matrix(space, False, image), check_image(image))


def luminance(image: torch.Tensor, space: ColourSpace = "yiq") -> torch.Tensor:
    """The luminance Y = 0.299 R + 0.587 G + 0.114 B as a grey (B, 3, H, W) image (Y in every channel).

    Returning three equal channels lets the grey image go through VGG, which expects RGB input.
    (Y is the same row in YIQ and YCbCr; ``space`` is accepted for symmetry.)
    """
    y = _to_space(image, space)[:, :1]
    return y.expand(-1, 3, -1, -1).clamp(0.0, 1.0).contiguous()


def combine_luminance(luma: torch.Tensor, colour: torch.Tensor, space: ColourSpace = "yiq") -> torch.Tensor:
    """Take Y from ``luma`` and the chroma (I, Q or Cb, Cr) from ``colour``; back to RGB, clamped to [0, 1].

    This is the last step of luminance-only transfer: Y from the stylised result, chroma from the
    content. ``luma`` is resized to ``colour``'s size if they differ. Pixels whose combination falls
    outside the RGB cube are clamped, so only their chroma can change.
    """
    colour = check_image(colour)
    luma = check_image(luma, "luma")
    if luma.shape[-2:] != colour.shape[-2:]:
        h, w = colour.shape[-2:]
        luma = resize_image(luma, (h, w))
    y = _to_space(luma, space)[:, :1]
    chroma = _to_space(colour, space)[:, 1:]
    mixed = torch.cat([y, chroma.expand(y.shape[0], -1, -1, -1)], dim=1)
    return _apply(_matrix(space, True, mixed), mixed).clamp(0.0, 1.0)


def match_luminance(style: torch.Tensor, content: torch.Tensor) -> torch.Tensor:
    """The style's luminance, shifted and scaled to the content's mean and standard deviation.

    L_S' = σ_C / σ_S · (L_S − μ_S) + μ_C  (Gatys et al. 2017, §5.1), returned as a grey 3-channel image.
    """
    ls = luminance(style)[:, :1]
    lc = luminance(content)[:, :1]
    dims = (1, 2, 3)
    mu_s, sd_s = ls.mean(dim=dims, keepdim=True), ls.std(dim=dims, keepdim=True)
    mu_c, sd_c = lc.mean(dim=dims, keepdim=True), lc.std(dim=dims, keepdim=True)
    scaled = (ls - mu_s) * (sd_c / sd_s.clamp_min(1e-8)) + mu_c
    return scaled.expand(-1, 3, -1, -1).clamp(0.0, 1.0).contiguous()


def colour_stats(image: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean colour μ (B, 3) and colour covariance Σ = 1/n Σ_k (x_k − μ)(x_k − μ)ᵀ (B, 3, 3) over the n pixels."""
    image = check_image(image)
    pixels = image.flatten(2)  # (B, 3, n)
    mu = pixels.mean(dim=2)
    centred = pixels - mu[:, :, None]
    return mu, centred @ centred.transpose(1, 2) / pixels.shape[2]


def _sym_power(matrix: torch.Tensor, power: float) -> torch.Tensor:
    """Σ^p for a symmetric positive-definite Σ via Σ = U Λ Uᵀ ⇒ Σ^p = U Λ^p Uᵀ."""
    values, vectors = torch.linalg.eigh(matrix)
    return vectors @ torch.diag_embed(values.clamp_min(1e-12) ** power) @ vectors.transpose(-1, -2)


def match_colour(
    source: torch.Tensor,
    target: torch.Tensor,
    method: Literal["cholesky", "eigen"] = "cholesky",
    eps: float = 1e-7,
    clamp: bool = True,
) -> torch.Tensor:
    """Recolour ``source`` so its pixels have ``target``'s mean colour and colour covariance.

    x' = A x + b with b = μ_T − A μ_S and A Σ_S Aᵀ = Σ_T (Gatys et al. 2017, §5.2):

    * ``"cholesky"``: A = L_T L_S⁻¹, where Σ = L Lᵀ.
    * ``"eigen"`` (the "image analogies" variant): A = Σ_T^{1/2} Σ_S^{-1/2}.

    In style transfer call it as ``match_colour(style, content)`` and use the result as the style.
    ``eps`` × the mean variance is added to the diagonal of both covariances, so a grey image
    (singular Σ) still works; raise it to tame noise in images with nearly no colour.
    ``clamp=False`` returns the exact affine map, which may leave [0, 1]; statistics match exactly then.

    Returns (B, 3, H_S, W_S): ``source``'s shape. ``target`` with batch size 1 serves every source image.
    """
    source, target = check_image(source, "source"), check_image(target, "target")
    if method not in ("cholesky", "eigen"):
        raise InputError(f"method must be 'cholesky' or 'eigen', got {method!r}.")
    work = torch.float64  # 3x3 decompositions: double precision costs nothing and avoids drift
    mu_s, cov_s = (t.to(work) for t in colour_stats(source))
    mu_t, cov_t = (t.to(work) for t in colour_stats(target))
    eye = torch.eye(3, dtype=work, device=source.device)
    ridge = lambda cov: cov + eye * (eps * cov.diagonal(dim1=1, dim2=2).mean(1) + 1e-12)[:, None, None]  # noqa: E731
    cov_s, cov_t = ridge(cov_s), ridge(cov_t)
    if method == "cholesky":
        chol_s, chol_t = torch.linalg.cholesky(cov_s), torch.linalg.cholesky(cov_t)
        a = chol_t @ torch.linalg.inv(chol_s)
    else:
        a = _sym_power(cov_t, 0.5) @ _sym_power(cov_s, -0.5)
    a = a.expand(source.shape[0], 3, 3)
    b = mu_t - (a @ mu_s[:, :, None])[:, :, 0]
    pixels = source.flatten(2).to(work)  # (B, 3, n)
    out = (a @ pixels + b[:, :, None]).reshape(source.shape).to(source.dtype)
    return out.clamp(0.0, 1.0) if clamp else out


def stylize_luminance(
    content: torch.Tensor,
    style: torch.Tensor,
    *,
    space: ColourSpace = "yiq",
    match: bool = True,
    **stylize_options: Any,
) -> Any:
    """Luminance-only style transfer: stylise Y, keep the content's colours (Gatys et al. 2017, §5.1).

    1. Y_C = luminance(content); Y_S = luminance(style), matched to Y_C's mean and σ when ``match``.
    2. result_Y = :func:`nstlib.stylize` (Y_C, Y_S, **stylize_options)  — both as grey RGB images.
    3. result = combine_luminance(result_Y, content): Y from step 2, chroma from the content.

    Returns the :class:`~nstlib.TransferResult` of step 2 with ``.image`` replaced by the colour
    result; the grey result of step 2 is kept in ``result.settings["luminance_image"]``.
    """
    from nstlib.algorithms.transfer import stylize  # late import: transfer may import this module's neighbours

    content = check_image(content, "content")
    style = check_image(style, "style")
    y_content = luminance(content, space)
    y_style = match_luminance(style, content) if match else luminance(style, space)
    result = stylize(y_content, y_style, **stylize_options)
    grey = result.image
    result.image = combine_luminance(grey, content.to(grey.device), space)
    result.settings.update(colour="luminance", colour_space=space, luminance_matched=match, luminance_image=grey)
    return result
