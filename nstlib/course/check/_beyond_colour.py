"""Checkers for lesson 08 (controlling style transfer), exercises 1 and 2: colour put back afterwards, and the
symmetric-root colour map.

Oracles: nstlib's tested colour functions (``rgb_to_yiq``, ``yiq_to_rgb``, ``colour_stats``, ``match_colour``,
``combine_luminance``) and float64 eigendecompositions. Each checker also recognises the usual wrong answers and says
which one it saw. :mod:`nstlib.course.check.beyond` exports them with the lesson's other checkers.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from nstlib.algorithms.colour import colour_stats, combine_luminance, rgb_to_yiq, yiq_to_rgb
from nstlib.course.check._core import CheckResult, call_safely, exercise, failed, generator, mismatch, passed, same

__all__ = ["keep_colours", "colour_transfer_sym"]


def _image_pair(seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = generator(seed)
    return torch.rand(1, 3, 6, 7, generator=g), torch.rand(1, 3, 6, 7, generator=g)


# ------------------------------------------------------------------------------------------- exercise 1
@exercise(
    lesson=8,
    number=1,
    title="the photo's colours, put back afterwards",
    level="one line",
    hint="go to YIQ with nst.rgb_to_yiq, take channel 0 (Y) from one image and channels 1: (I, Q) from the "
    "other (torch.cat along dim=1), and come back with nst.yiq_to_rgb. Which image holds the brushwork?",
)
def keep_colours(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """``fn(result, content)``: the RGB image with ``result``'s luminance Y and ``content``'s chroma I, Q."""
    result, content = _image_pair(10)
    yr, yc = rgb_to_yiq(result), rgb_to_yiq(content)
    want = yiq_to_rgb(torch.cat([yr[:, :1], yc[:, 1:]], dim=1))
    got, error = call_safely(fn, result.clone(), content.clone())
    if error is not None:
        return error
    if same(got, want) or same(got, want.clamp(0, 1)) or same(got, combine_luminance(result, content)):
        return passed(
            "Y from the stylised result, I and Q from the photo: the brushwork's light and dark with the "
            "photo's colours. Unlike luminance-only transfer, the style's colours shaped the strokes "
            "before you took them out — compare the two pictures."
        )
    if same(got, yiq_to_rgb(torch.cat([yc[:, :1], yr[:, 1:]], dim=1))):
        return failed(
            "you kept the photo's luminance and the result's chroma — the other way round. The strokes "
            "are light and dark (Y); the colours to keep are the photo's I and Q."
        )
    if same(got, torch.cat([yr[:, :1], yc[:, 1:]], dim=1)):
        return failed("your image is still in YIQ (channel 0 is Y): convert it back with nst.yiq_to_rgb.")
    if same(got, result) or same(got, content):
        which = "stylised result" if same(got, result) else "photo"
        return failed(f"you returned the {which} unchanged.")
    if same(got, content + (result.mean(1, keepdim=True) - content.mean(1, keepdim=True))):
        return failed(
            "you moved every pixel's mean of R, G, B to the result's. Brightness in YIQ weighs the "
            "channels 0.299, 0.587, 0.114, so the chroma you kept is not the photo's I and Q."
        )
    return mismatch(got, want, "the recombined image")


# ------------------------------------------------------------------------------------------- exercise 2
def _sym(matrix: torch.Tensor, power: float) -> torch.Tensor:
    values, vectors = torch.linalg.eigh(matrix.double())
    return vectors @ torch.diag(values.clamp_min(1e-300) ** power) @ vectors.T


def _colour_case() -> tuple[torch.Tensor, torch.Tensor]:
    g = generator(1)
    source = torch.rand(1, 3, 12, 10, generator=g) * torch.tensor([0.9, 0.5, 0.3])[:, None, None]
    source[:, 1] += 0.4 * source[:, 0]  # correlated channels, so neither a diagonal map nor Cholesky is symmetric
    target = torch.rand(1, 3, 8, 9, generator=g).flip(1) * 0.6 + 0.2
    target[:, 2] = 0.5 * target[:, 2] + 0.5 * target[:, 0]
    return source, target


def _affine(a: torch.Tensor, source: torch.Tensor, mu_s: torch.Tensor, mu_t: torch.Tensor) -> torch.Tensor:
    x = source[0].flatten(1).double()
    return (a @ (x - mu_s[:, None]) + mu_t[:, None]).float().reshape(source.shape)


@exercise(
    lesson=8,
    number=2,
    title="colour transfer with symmetric square roots",
    level="a few lines",
    hint="A = Σ_T^{1/2} Σ_S^{-1/2}: one eigendecomposition per covariance, Σ = U diag(λ) Uᵀ ⇒ "
    "Σ^p = U diag(λ^p) Uᵀ. Work on the (3, n) matrix of pixels in float64, covariances with 1/n, "
    "and b = μ_T − A μ_S.",
)
def colour_transfer_sym(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """``fn(source, target)``: source's pixels mapped by x' = A (x − μ_S) + μ_T with A = Σ_T^{1/2} Σ_S^{-1/2}."""
    source, target = _colour_case()
    (mu_s, cov_s), (mu_t, cov_t) = (
        (m[0].double(), c[0].double()) for m, c in (colour_stats(source), colour_stats(target))
    )
    want = _affine(_sym(cov_t, 0.5) @ _sym(cov_s, -0.5), source, mu_s, mu_t)
    got, error = call_safely(fn, source.clone(), target.clone())
    if error is not None:
        return error
    if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(source.shape):
        shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
        return failed(
            f"the result should be the recoloured source, shape {tuple(source.shape)}; got {shape}.",
            hint="apply A and b to every pixel of the source and reshape back to (1, 3, H, W).",
        )
    if not torch.isfinite(got).all():
        return failed(
            "your result holds NaN or inf. torch.sqrt on a covariance takes the root of each entry "
            "(and its off-diagonal entries can be negative); a matrix power needs the eigenvalues."
        )
    if same(got, want, atol=1e-4):
        return passed(
            "A = Σ_T^{1/2} Σ_S^{-1/2}: the recoloured source has the target's mean and covariance, since "
            "A Σ_S Aᵀ = Σ_T^{1/2} (Σ_S^{-1/2} Σ_S Σ_S^{-1/2}) Σ_T^{1/2} = Σ_T. Cholesky's L_T L_S⁻¹ passes "
            "the "
            "same test; both are Σ_T^{1/2} Q Σ_S^{-1/2} with Q orthogonal — they differ by a rotation of "
            "the whitened colours, which the mean and covariance cannot see."
        )
    mu, cov = (t[0].double() for t in colour_stats(got.detach().float()))
    scale = float(cov_t.abs().max())
    mean_ok = torch.allclose(mu, mu_t, atol=1e-4)
    cov_ok = torch.allclose(cov, cov_t, atol=1e-4 * scale)
    cholesky = torch.linalg.cholesky(cov_t) @ torch.linalg.inv(torch.linalg.cholesky(cov_s))
    if same(got, _affine(cholesky, source, mu_s, mu_t), atol=1e-4):
        return failed(
            "that is the Cholesky map of the lesson, A = L_T L_S⁻¹. It does match the covariance, but this "
            "exercise asks for the other one, built from symmetric square roots."
        )
    root_s = _sym(cov_s, 0.5)
    optimal = _sym(cov_s, -0.5) @ _sym(root_s @ cov_t @ root_s, 0.5) @ _sym(cov_s, -0.5)
    if same(got, _affine(optimal, source, mu_s, mu_t), atol=1e-4):
        return failed(
            "that is the symmetric map Σ_S^{-1/2}(Σ_S^{1/2} Σ_T Σ_S^{1/2})^{1/2} Σ_S^{-1/2} — the cheapest "
            "one (lesson 9 meets it again), and a valid recolouring, but not A = Σ_T^{1/2} Σ_S^{-1/2}."
        )
    if same(got, _affine(_sym(cov_t, 0.5) @ _sym(cov_s, 0.5), source, mu_s, mu_t), atol=1e-4):
        return failed(
            "you multiplied by Σ_S^{+1/2}. The source's covariance must first be undone (whitened) with "
            "Σ_S^{-1/2}, then the target's put on with Σ_T^{1/2}."
        )
    if same(got, _affine(_sym(cov_s, -0.5) @ _sym(cov_t, 0.5), source, mu_s, mu_t), atol=1e-4):
        return failed(
            "the order is reversed: A acts on x − μ_S, so the factor applied first (whitening, Σ_S^{-1/2}) "
            "stands on the right: A = Σ_T^{1/2} Σ_S^{-1/2}."
        )
    if mean_ok and not cov_ok:
        ratio = float(torch.trace(cov) / torch.trace(cov_t))
        n_s, n_t = source[0, 0].numel(), target[0, 0].numel()
        if abs(ratio - (n_t / (n_t - 1)) / (n_s / (n_s - 1))) < 2e-4 and torch.allclose(
            cov, cov_t * ratio, atol=1e-4 * scale
        ):
            return failed(
                "you divided by n − 1 (torch.cov's default). The two images have different numbers of "
                "pixels, so the factors do not cancel: use 1/n for both covariances."
            )
        if torch.allclose(cov.diagonal(), cov_t.diagonal(), rtol=1e-3):
            return failed(
                "each channel has the target's variance, but the correlations between channels differ: "
                "scaling the channels one by one is not enough."
            )
        return failed("the mean colour matches but the covariance does not.")
    if cov_ok and not mean_ok:
        return failed(
            "the covariance matches but the mean colour does not.",
            hint="after multiplying the centred pixels by A, add the target's mean μ_T.",
        )
    return mismatch(got, want, "the recoloured source", rtol=1e-4, atol=1e-4)
