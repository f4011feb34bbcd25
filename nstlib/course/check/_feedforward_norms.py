"""Checkers for lesson 10 (feed-forward transfer), exercises 2 and 3: conditional and adaptive instance normalisation.

Oracle: the instance-norm statistics written out (mean and biased variance over H and W, ε = 1e-5). Each checker
also recognises the usual wrong answers and says which one it saw. :mod:`nstlib.course.check.feedforward` exports
them with the lesson's other checkers.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from nstlib.course.check._core import CheckResult, call_safely, exercise, failed, generator, mismatch, passed, same

__all__ = ["cond_instance_norm", "adain"]


_EPS = 1e-5

# ---------------------------------------------------------------- exercise 2: conditional instance norm


def _normalised(x: torch.Tensor, dims: tuple[int, ...] = (2, 3), unbiased: bool = False) -> torch.Tensor:
    return (x - x.mean(dims, keepdim=True)) / (x.var(dims, keepdim=True, unbiased=unbiased) + _EPS).sqrt()


@exercise(
    lesson=10,
    number=2,
    title="one network, many styles: conditional instance norm",
    level="a few lines",
    hint="normalise as in section 3 (statistics per image and channel, over H and W only), then pick each "
    "image's rows: gamma[style] has shape (B, C); add two singleton dimensions so it broadcasts over H, W.",
)
def cond_instance_norm(fn: Callable[..., torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(x, style, gamma, beta)`` = γ[style_b, c] · IN(x)_bchw + β[style_b, c] (Dumoulin et al. 2017),
    x (B, C, H, W), style (B,) integer indices, gamma and beta (S, C); ε = 1e-5."""
    g = generator(10)
    x = torch.randn(3, 4, 5, 6, generator=g) * torch.tensor([1.0, 3.0, 0.5, 2.0]).view(1, 4, 1, 1) + 1.5
    style = torch.tensor([3, 0, 3])
    gamma = torch.rand(5, 4, generator=g) * 2 + 0.5
    beta = torch.randn(5, 4, generator=g)
    got, error = call_safely(fn, x.clone(), style.clone(), gamma.clone(), beta.clone())
    if error is not None:
        return error

    def cin(
        xhat: torch.Tensor, rows: torch.Tensor, gam: torch.Tensor = gamma, bet: torch.Tensor = beta
    ) -> torch.Tensor:
        return gam[rows][:, :, None, None] * xhat + bet[rows][:, :, None, None]

    xhat = _normalised(x)
    want = cin(xhat, style)
    if same(got, want, atol=1e-4):
        return passed(
            "each image got its own style's γ and β. In Dumoulin et al.'s network every convolution is "
            "shared by all styles; a new style costs only these 2C numbers per normalisation layer."
        )
    mistakes = [
        (
            cin(xhat, torch.zeros_like(style)),
            "every image got row 0 of the tables: pick row style[b] for image b (gamma[style] is a (B, C) table).",
        ),
        (
            cin(xhat, torch.arange(3)),
            "you took row b of the tables for image b; the row to take is style[b], the "
            "style that image should be painted in.",
        ),
        (
            cin(_normalised(x, (0, 2, 3)), style),
            "you normalised with batch statistics (over the batch too); each image "
            "must be normalised with its own mean and variance, over H and W.",
        ),
        (cin(x, style), "you scaled and shifted x itself: normalise it first, (x − μ)/√(σ² + ε)."),
        (
            gamma[style][:, :, None, None] * (xhat + beta[style][:, :, None, None]),
            "you added β before scaling by γ: γ · x̂ + β, not γ · (x̂ + β).",
        ),
        (cin(xhat, style, beta, gamma), "γ and β are swapped: gamma scales, beta shifts."),
        (
            cin(_normalised(x, unbiased=True), style),
            "you used the unbiased variance (divided by H·W − 1); instance norm divides by H·W.",
        ),
    ]
    for wrong, diagnosis in mistakes:
        if same(got, wrong, atol=1e-4):
            return failed(diagnosis)
    return mismatch(got, want, "the normalised tensor", rtol=1e-3, atol=1e-4)


# ---------------------------------------------------------------- exercise 3: AdaIN


def _mean_std(
    t: torch.Tensor, dims: tuple[int, ...] = (2, 3), unbiased: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    return t.mean(dims, keepdim=True), (t.var(dims, keepdim=True, unbiased=unbiased) + _EPS).sqrt()


@exercise(
    lesson=10,
    number=3,
    title="AdaIN: instance norm with the style's statistics",
    level="a function",
    hint="compute μ and σ = √(var + ε) per image and channel for the content and for the style separately "
    "(dims 2 and 3, keepdim=True, unbiased=False); the style's H′ × W′ need not match the content's.",
)
def adain(fn: Callable[..., torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(content, style)`` = σ_s · (c − μ_c) / σ_c + μ_s per image and channel (Huang & Belongie 2017),
    content (B, C, H, W), style (B, C, H′, W′), σ = √(biased var + 1e-5)."""
    g = generator(11)
    content = torch.rand(2, 3, 4, 5, generator=g) * torch.tensor([1.0, 4.0, 0.3]).view(1, 3, 1, 1)
    style = torch.randn(2, 3, 6, 3, generator=g) * torch.tensor([2.0, 0.5, 3.0]).view(1, 3, 1, 1) + torch.tensor(
        [5.0, -1.0, 0.5]
    ).view(1, 3, 1, 1)
    got, error = call_safely(fn, content.clone(), style.clone())
    if error is not None:
        return error
    mu_c, sd_c = _mean_std(content)
    mu_s, sd_s = _mean_std(style)
    want = sd_s * (content - mu_c) / sd_c + mu_s

    def pooled(dims: tuple[int, ...]) -> torch.Tensor:  # the same formula with statistics over other dimensions
        (m_c, s_c), (m_s, s_s) = _mean_std(content, dims), _mean_std(style, dims)
        return s_s * (content - m_c) / s_c + m_s

    if same(got, want, atol=1e-4):
        return passed(
            "every (image, channel) of the output now has the style's mean and standard deviation. "
            "AdaIN is instance norm whose γ and β are read off the style image (σ_s, μ_s): no table of "
            "styles to learn, so one decoder serves any painting — and WCT (section 8) goes further by "
            "matching the whole covariance, not only its diagonal."
        )
    if isinstance(got, torch.Tensor) and tuple(got.shape) == tuple(style.shape):
        return failed(
            "your output has the style's shape: you swapped the arguments, normalising the style and giving "
            "it the content's statistics. The content keeps its arrangement; the style lends its statistics."
        )
    mistakes = [
        (
            sd_s**2 * (content - mu_c) / sd_c**2 + mu_s,
            "you used variances where the standard deviations belong: scale by σ_s/σ_c = √(var_s + ε)/√(var_c + ε).",
        ),
        (content - mu_c + mu_s, "only the means match: divide by the content's σ and multiply by the style's."),
        (sd_s * (content - mu_c) / sd_c, "the standard deviations match, but you did not add the style's mean back."),
        (
            _mean_std(style, unbiased=True)[1] * (content - mu_c) / _mean_std(content, unbiased=True)[1] + mu_s,
            "you used the unbiased variance (torch.std's and torch.var's default divides by M − 1); the exercise divides "
            "by M, as instance norm does.",
        ),
        (
            pooled((0, 2, 3)),
            "those are batch statistics (over the batch too): each image's statistics are its own, over H and W only.",
        ),
        (
            pooled((1, 2, 3)),
            "you took one mean and σ over all channels (layer norm): style lives in the per-channel "
            "statistics, so reduce over H and W only.",
        ),
    ]
    for wrong, diagnosis in mistakes:
        if same(got, wrong, atol=1e-4):
            return failed(diagnosis)
    return mismatch(got, want, "the AdaIN output", rtol=1e-3, atol=1e-4)
