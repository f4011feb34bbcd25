"""Style statistics beyond the Gram matrix, several styles at once, and spatial control with masks.

At layer l a feature map is F (N × M): N channels, M = H·W positions. With position weights ω_k
(ω_k = 1/M for the whole image; ω_k = T_k² / Σ T² for a guidance mask T, see below):

* mean            μ = Σ_k ω_k F_k                                  (N)
* covariance      Σ = Σ_k ω_k (F_k − μ)(F_k − μ)ᵀ                  (N × N)
* Gram (chw)      Ĝ = Σ_k ω_k F_k F_kᵀ / N = (Σ + μ μᵀ) / N        — the Gram matrix mixes both

Three style statistics, each a distance between the result's statistics and the style's:

* ``"gram"``      mean_ij (Ĝ − Â)²  — Gatys et al. (2016); exactly what :func:`nstlib.stylize` uses.
* ``"mean_cov"``  ½ (‖μ − μ_S‖² / ‖μ_S‖² + ‖Σ − Σ_S‖²_F / ‖Σ_S‖²_F) · r — mean and covariance matched
  separately (a Gram loss can trade one for the other).
* ``"w2"``        W₂²(N(μ, Σ), N(μ_S, Σ_S)) / W₂²(δ₀, N(μ_S, Σ_S)) · r — the Wasserstein-2 distance
  between the Gaussians with those moments (closed form below; Mroueh 2019 used it for style transfer).

r = mean_ij Â² is the Gram loss of an all-zero feature map; dividing by each statistic's own distance
from an all-zero map and multiplying by r calibrates the three, so one style weight β means a similar
pull for each. (All three are zero exactly when the statistic matches.)

W₂² between Gaussians (Dowson & Landau 1982; Olkin & Pukelsheim 1982):
    W₂² = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₂^{1/2} Σ₁ Σ₂^{1/2})^{1/2}.
In the loss the last trace is computed as the nuclear norm (sum of singular values) of
B = Σ₂^{1/2} F̃ diag(√ω), since B Bᵀ = Σ₂^{1/2} Σ₁ Σ₂^{1/2}; taking it from the smaller of BᵀB and
B Bᵀ keeps the gradient bounded when Σ₁ is singular (fewer positions than channels).

Masks (Gatys, Ecker, Bethge, Hertzmann & Shechtman 2017, §4 "spatial control"): a guidance map T_r
(downsampled to each layer) multiplies the features, F_r = F ∘ T_r, and each region r gets its own
style target; the guided Gram (F ∘ T)(F ∘ T)ᵀ / (N Σ T²) is the Gram above with ω = T² / Σ T².
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import torch
import torch.nn.functional as F

from nstlib.errors import InputError
from nstlib.loss.functional import gram_matrix, style_loss
from nstlib.net.vgg import VGGFeatures

__all__ = ["STYLE_STATS", "mean_covariance", "masked_gram_matrix", "sqrtm_psd", "gaussian_w2", "StyleTerms"]

StyleStat = Literal["gram", "mean_cov", "w2"]
STYLE_STATS: tuple[str, ...] = ("gram", "mean_cov", "w2")
_EPS = 1e-12


def _position_weights(features: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """ω (B or 1, M): 1/M everywhere, or T² / Σ T² for a mask already at the features' size."""
    b, _, h, w = features.shape
    if mask is None:
        return features.new_full((1, h * w), 1.0 / (h * w))
    t2 = mask.to(features.dtype).flatten(1).square()  # (B or 1, M)
    return t2 / t2.sum(dim=1, keepdim=True).clamp_min(_EPS)


def mean_covariance(features: torch.Tensor, mask: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-channel mean μ (B, N) and covariance Σ = Σ_k ω_k (F_k − μ)(F_k − μ)ᵀ (B, N, N).

    ``features`` (B, N, H, W); ``mask`` (B or 1, 1, H, W) or None (ω_k = 1/M: the biased covariance).

    >>> mu, cov = mean_covariance(torch.tensor([[[[0., 2.]]]]))
    >>> mu.tolist(), cov.tolist()
    ([[1.0]], [[[1.0]]])
    """
    if features.dim() != 4:
        raise InputError(f"mean_covariance expects features (B, N, H, W), got {tuple(features.shape)}.")
    flat = features.flatten(2)  # (B, N, M)
    omega = _position_weights(features, mask)[:, None, :]  # (B or 1, 1, M)
    mu = (flat * omega).sum(dim=2)
    centred = flat - mu[:, :, None]
    return mu, (centred * omega) @ centred.transpose(1, 2)


def masked_gram_matrix(features: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """Guided Gram matrix (F ∘ T)(F ∘ T)ᵀ / (N Σ_k T_k²) (Gatys et al. 2017, §4), shape (B, N, N).

    With ``mask=None`` (or an all-ones mask) it equals ``gram_matrix(features, normalize="chw")``.
    """
    n = features.shape[1]
    flat = features.flatten(2)
    omega = _position_weights(features, mask)[:, None, :]
    return (flat * omega) @ flat.transpose(1, 2) / n


def sqrtm_psd(matrix: torch.Tensor) -> torch.Tensor:
    """Symmetric square root of a symmetric positive semi-definite matrix: U Λ^{1/2} Uᵀ from Σ = U Λ Uᵀ.

    Negative eigenvalues from round-off are clamped to 0. Works on batches (..., N, N).
    """
    values, vectors = torch.linalg.eigh(matrix)
    return vectors @ torch.diag_embed(values.clamp_min(0).sqrt()) @ vectors.transpose(-1, -2)


def gaussian_w2(
    mu1: torch.Tensor, cov1: torch.Tensor, mu2: torch.Tensor, cov2: torch.Tensor, squared: bool = True
) -> torch.Tensor:
    """Wasserstein-2 distance between N(μ₁, Σ₁) and N(μ₂, Σ₂) in closed form.

    W₂² = ‖μ₁ − μ₂‖² + tr Σ₁ + tr Σ₂ − 2 tr (Σ₂^{1/2} Σ₁ Σ₂^{1/2})^{1/2}   (Dowson & Landau 1982).
    For commuting (e.g. diagonal) covariances it reduces to ‖μ₁ − μ₂‖² + ‖Σ₁^{1/2} − Σ₂^{1/2}‖²_F.
    Computed in float64; μ (..., N), Σ (..., N, N); returns (...) — W₂² by default, W₂ with ``squared=False``.
    """
    work, dtype = torch.float64, mu1.dtype
    mu1, cov1, mu2, cov2 = (t.to(work) for t in (mu1, cov1, mu2, cov2))
    root2 = sqrtm_psd(cov2)
    cross = sqrtm_psd(root2 @ cov1 @ root2)
    diag = lambda m: m.diagonal(dim1=-2, dim2=-1).sum(-1)  # noqa: E731  trace over the last two dims
    w2 = ((mu1 - mu2).square().sum(-1) + diag(cov1) + diag(cov2) - 2 * diag(cross)).clamp_min(0)
    return (w2 if squared else w2.sqrt()).to(dtype)


def _nuclear_norm(b: torch.Tensor) -> torch.Tensor:
    """Σ of the singular values of each (N, M) matrix of a batch, = Σ √λ(BᵀB or BBᵀ, the smaller one).

    Eigenvalues of the small Gram matrix in float64 are faster than an SVD on a CPU; the ones below
    1e-10 · λ_max (round-off, and the zero that centring always leaves) are clamped, so they get no
    gradient, and for the others ∂/∂B stays bounded (|B v| = √λ cancels the 1/(2√λ)).
    """
    small = b @ b.transpose(1, 2) if b.shape[1] <= b.shape[2] else b.transpose(1, 2) @ b
    values = torch.linalg.eigvalsh(small.double())
    floor = (values.amax(dim=-1, keepdim=True) * 1e-10).clamp_min(1e-30).detach()
    return torch.maximum(values, floor).sqrt().sum(-1).to(b.dtype)


def _resize_mask(mask: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Area-average a (B or 1, 1, H, W) mask down (or bilinearly up) to ``size``."""
    if tuple(mask.shape[-2:]) == tuple(size):
        return mask
    mode = "area" if size[0] <= mask.shape[-2] and size[1] <= mask.shape[-1] else "bilinear"
    return F.interpolate(mask, size=size, mode=mode, **({"align_corners": False} if mode == "bilinear" else {}))


def _as_mask(mask: object, index: int) -> torch.Tensor:
    if not isinstance(mask, torch.Tensor):
        raise InputError(
            f"masks[{index}] must be a tensor of shape (H, W) or (1, 1, H, W) in [0, 1], got {type(mask).__name__}."
        )
    m = mask.float()
    while m.dim() < 4:
        m = m.unsqueeze(0)
    if m.dim() != 4 or m.shape[1] != 1:
        raise InputError(f"masks[{index}] must have shape (H, W), (1, H, W) or (B, 1, H, W); got {tuple(mask.shape)}.")
    if not torch.isfinite(m).all() or m.min() < 0 or m.max() > 1:
        raise InputError(f"masks[{index}] must hold values in [0, 1] (1 = this style, 0 = not).")
    if m.max() == 0:
        raise InputError(
            f"masks[{index}] is empty (all zeros): its style would apply nowhere. Drop it or fix the mask."
        )
    return m


class StyleTerms:
    """The style part of a transfer objective: styles, blend weights, masks and one statistic.

    L_style = Σ_i b_i Σ_l w_l L_stat(x restricted to region i, style i, layer l)
    with b_i the blend weights (default 1/K for K styles without masks, 1 each with masks).

    For the Gram statistic, Σ_i b_i ‖G − A_i‖² = (Σ_i b_i) ‖G − Ā‖² + const with Ā = Σ b_i A_i / Σ b_i:
    blending losses is matching the blended Gram matrix (same gradient).

    Args:
        style_features: one ``{layer: (1, N, H, W)}`` dict per style image.
        layer_weights: ``{layer: w_l}``.
        stat: ``"gram"`` (default), ``"mean_cov"`` or ``"w2"``.
        blend: b_i, one per style.
        masks: one per style, any resolution (resized to each layer); None applies every style everywhere.
    """

    def __init__(
        self,
        style_features: Sequence[Mapping[str, torch.Tensor]],
        layer_weights: Mapping[str, float],
        stat: StyleStat = "gram",
        blend: Sequence[float] | None = None,
        masks: Sequence[torch.Tensor] | None = None,
    ) -> None:
        if stat not in STYLE_STATS:
            raise InputError(f"style statistic must be one of {STYLE_STATS}, got {stat!r}.")
        k = len(style_features)
        if k == 0:
            raise InputError("Give at least one style image.")
        if blend is None:
            blend = [1.0] * k if masks is not None else [1.0 / k] * k
        if len(blend) != k:
            raise InputError(f"{k} style image(s) but {len(blend)} blend weight(s): give one weight per style.")
        if masks is not None and len(masks) != k:
            raise InputError(
                f"{k} style image(s) but {len(masks)} mask(s): give one mask per style (repeat a "
                "style to use it in two regions)."
            )
        self.stat, self.blend, self.layer_weights = stat, [float(b) for b in blend], dict(layer_weights)
        self.masks = None if masks is None else [_as_mask(m, i) for i, m in enumerate(masks)]
        self._mask_cache: dict[tuple[int, tuple[int, int]], torch.Tensor] = {}
        self.targets: list[dict[str, dict[str, torch.Tensor]]] = []
        with torch.no_grad():
            for feats in style_features:
                self.targets.append({n: self._target(feats[n]) for n in self.layer_weights})

    @classmethod
    def from_images(
        cls, vgg: VGGFeatures, styles: Sequence[torch.Tensor], layer_weights: Mapping[str, float], **options: object
    ) -> StyleTerms:
        """Run ``vgg`` on each style image (no gradients) and build the targets."""
        with torch.no_grad():
            feats = [vgg(s) for s in styles]
        return cls(feats, layer_weights, **options)  # type: ignore[arg-type]

    def _target(self, f: torch.Tensor) -> dict[str, torch.Tensor]:
        gram = gram_matrix(f, normalize="chw")
        target = {"gram": gram, "ref": gram.square().mean()}
        if self.stat != "gram":
            mu, cov = mean_covariance(f)
            target.update(mu=mu, cov=cov)
            if self.stat == "mean_cov":
                target.update(mu_norm=mu.square().sum().clamp_min(_EPS), cov_norm=cov.square().sum().clamp_min(_EPS))
            else:
                target.update(
                    root=sqrtm_psd(cov.double()).to(f.dtype),
                    zero_w2=(mu.square().sum() + cov.diagonal(dim1=1, dim2=2).sum()).clamp_min(_EPS),
                )
        return target

    def _mask_at(self, i: int, size: tuple[int, int], like: torch.Tensor) -> torch.Tensor | None:
        if self.masks is None:
            return None
        key = (i, size)
        if key not in self._mask_cache:
            self._mask_cache[key] = _resize_mask(self.masks[i].to(like.device), size).to(like.dtype)
        return self._mask_cache[key]

    def distance(self, f: torch.Tensor, target: Mapping[str, torch.Tensor], mask: torch.Tensor | None) -> torch.Tensor:
        """L_stat of one layer for a (B, N, H, W) feature map against a target from :meth:`_target`; (B,)."""
        if self.stat == "gram":  # bf16 features: their Gram matrix in bf16's matmul, compared in float32
            gram = gram_matrix(f, normalize="chw") if mask is None else masked_gram_matrix(f.float(), mask)
            return style_loss(gram.float(), target["gram"], per_image=True)
        f = f.float()
        if self.stat == "mean_cov":
            mu, cov = mean_covariance(f, mask)
            rel = (mu - target["mu"]).square().sum(1) / target["mu_norm"] + (cov - target["cov"]).square().sum(
                (1, 2)
            ) / target["cov_norm"]
            return 0.5 * rel * target["ref"]
        flat = f.flatten(2)
        omega = _position_weights(f, mask)  # (B or 1, M)
        mu = (flat * omega[:, None, :]).sum(2)
        centred = (flat - mu[:, :, None]) * omega.sqrt()[:, None, :]  # F̃ diag(√ω): (B, N, M)
        trace_cov = centred.square().sum((1, 2))
        cross = _nuclear_norm(target["root"] @ centred)  # tr (Σ_S^½ Σ Σ_S^½)^½
        w2 = (mu - target["mu"]).square().sum(1) + trace_cov + target["cov"].diagonal(dim1=1, dim2=2).sum() - 2 * cross
        return w2 / target["zero_w2"] * target["ref"]

    def __call__(
        self, feats: Mapping[str, torch.Tensor], style_weight: float | torch.Tensor = 1.0
    ) -> dict[str, torch.Tensor]:
        """``{"style:<layer>": β w_l Σ_i b_i L_stat,i,l}``, each of shape (B,), for the current features.

        β is ``style_weight``: a float, or a tensor of shape (B,) with one value per image.
        """
        terms: dict[str, torch.Tensor] = {}
        for n, w in self.layer_weights.items():
            f = feats[n]
            total = None
            for i, (b, target) in enumerate(zip(self.blend, self.targets)):
                part = b * self.distance(f, target[n], self._mask_at(i, (f.shape[-2], f.shape[-1]), f))
                total = part if total is None else total + part
            assert total is not None  # at least one style: __init__ checks it
            terms[f"style:{n}"] = style_weight * w * total
        return terms
