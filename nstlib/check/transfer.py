"""Checkers for lesson 05 (style transfer): the total-variation loss and the two loss conventions.

Oracles: :func:`nstlib.tv_loss` (p=1) and analytic images (a constant image has TV 0, a checkerboard
of 0s and 1s has TV 1); for the conventions, the seeds' sums ½ Σ (F − P)² and
E_l = 1/(4 N² M²) Σ (G − A)² (seeds 000–002) computed directly next to the torchvision-era means.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from nstlib.check._core import CheckResult, call_safely, failed, passed
from nstlib.losses import content_loss, gram_matrix, style_loss, tv_loss

__all__ = ["total_variation", "loss_conventions"]


def _tv_cases() -> list[tuple[str, torch.Tensor]]:
    generator = torch.Generator().manual_seed(6)
    yy, xx = torch.meshgrid(torch.arange(6), torch.arange(8), indexing="ij")
    checker = ((yy + xx) % 2).float().expand(1, 3, 6, 8).clone()
    ramp = torch.linspace(0, 1, 9).expand(1, 3, 5, 9).clone()
    return [
        ("a constant grey image", torch.full((1, 3, 4, 5), 0.5)),
        ("a 6×8 checkerboard of 0s and 1s", checker),
        ("a horizontal ramp from 0 to 1", ramp),
        ("a random 7×11 image", torch.rand(1, 3, 7, 11, generator=generator)),
        ("a random 12×5 image", torch.rand(1, 3, 12, 5, generator=generator)),
    ]


def _tv_mistakes(image: torch.Tensor) -> list[tuple[str, float]]:
    dy = image[:, :, 1:, :] - image[:, :, :-1, :]
    dx = image[:, :, :, 1:] - image[:, :, :, :-1]
    wrap_y = image.roll(1, dims=2) - image
    wrap_x = image.roll(1, dims=3) - image
    return [
        ("the ½ is missing (you added the two means without averaging them)", float(dy.abs().mean() + dx.abs().mean())),
        ("you squared the differences: that is the p = 2 (Mahendran & Vedaldi) variant; here p = 1, absolute values",
         float(0.5 * (dy.square().mean() + dx.square().mean()))),
        ("you summed the absolute differences instead of averaging them", float(0.5 * (dy.abs().sum() + dx.abs().sum()))),
        ("only the vertical neighbours (along H) were counted", float(0.5 * dy.abs().mean())),
        ("only the horizontal neighbours (along W) were counted", float(0.5 * dx.abs().mean())),
        ("only the vertical neighbours (along H) were counted", float(dy.abs().mean())),
        ("only the horizontal neighbours (along W) were counted", float(dx.abs().mean())),
        ("the differences wrap around the border (torch.roll compares the last row with the first); "
         "slice instead: x[:, :, 1:] - x[:, :, :-1]", float(0.5 * (wrap_y.abs().mean() + wrap_x.abs().mean()))),
        ("the signed differences were averaged, so ups and downs cancel; take the absolute value first",
         float(0.5 * (dy.mean() + dx.mean()))),
    ]


def total_variation(fn: Callable[[torch.Tensor], object]) -> CheckResult:
    """Exercise: ``fn(image)`` for a (1, 3, H, W) image returns ½ (mean |Δy| + mean |Δx|), as nst.tv_loss(p=1)."""
    for what, image in _tv_cases():
        want = float(tv_loss(image, p=1))
        got, error = call_safely(fn, image.clone())
        if error is not None:
            return error
        if isinstance(got, torch.Tensor):
            if got.numel() != 1:
                return failed(f"For {what} your function returned a tensor of shape {tuple(got.shape)}; the loss is "
                              "one number.", hint="average over every difference, in both directions, to one number.")
            got = float(got.detach())
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            return failed(f"For {what} your function returned {type(got).__name__}; return a number or a 1-element tensor.")
        if abs(got - want) <= 1e-5 * max(1.0, abs(want)):
            continue
        for text, candidate in _tv_mistakes(image):
            if abs(got - candidate) <= 1e-5 * max(1.0, abs(candidate)) and abs(candidate - want) > 1e-6:
                return failed(f"For {what} you gave {got:.6g}, expected {want:.6g}: {text}.",
                              hint="compare each pixel with its neighbour below and its neighbour to the right by "
                                   "slicing (x[:, :, 1:, :] - x[:, :, :-1, :]); average the absolute differences "
                                   "in each direction, then take the mean of the two.")
        return failed(f"For {what} you gave {got:.6g}, expected {want:.6g}.",
                      hint="½ (mean |x[i+1, j] − x[i, j]| + mean |x[i, j+1] − x[i, j]|) over all channels.")
    return passed("Your total variation matches nst.tv_loss: 0 for a flat image, 1 for a checkerboard, and the "
                  "right value for ramps and random images of any shape.")


def loss_conventions(content_factor: Callable[[int, int], float], style_factor: Callable[[int, int], float]) -> CheckResult:
    """Exercise: the factors that turn nstlib's means into the seeds' sums at a layer with N channels, M positions.

    ``content_factor(N, M)`` · mean (F − P)² = ½ Σ (F − P)²  → N·M/2;
    ``style_factor(N, M)`` · mean (Ĝ − Â)² (Ĝ = G/(N M)) = E_l = 1/(4 N² M²) Σ (G − A)²  → N²/4.
    """
    generator = torch.Generator().manual_seed(7)
    for n, h, w in ((3, 2, 2), (64, 43, 64), (512, 5, 8), (128, 7, 3)):
        m = h * w
        f = torch.randn(1, n, h, w, generator=generator, dtype=torch.float64).relu()
        p = torch.randn(1, n, h, w, generator=generator, dtype=torch.float64).relu()
        gatys_c = content_loss(f, p, reduction="gatys")
        mean_c = content_loss(f, p, reduction="mean")
        gatys_s = style_loss(gram_matrix(f, "gatys"), gram_matrix(p, "gatys"), reduction="gatys")
        mean_s = style_loss(gram_matrix(f, "chw"), gram_matrix(p, "chw"), reduction="mean")
        for name, fn, mean, gatys, sensible in (
                ("content_factor", content_factor, mean_c, gatys_c, {
                    n * m: "you forgot the ½ in ½ Σ (F − P)²", m / 2: "N is missing: the mean runs over all N·M entries",
                    n / 2: "M is missing: the mean runs over all N·M entries", 2 / (n * m): "the factor is upside down",
                    0.5: "a mean is a sum divided by the number of entries, N·M"}),
                ("style_factor", style_factor, mean_s, gatys_s, {
                    n**2: "the ¼ is missing", n / 4: "N must be squared", 4 / n**2: "the factor is upside down",
                    n**2 * m**2 / 4: "the M² cancels: both conventions divide by it (E_l explicitly, the mean "
                                     "through Ĝ = G/(N M))", 0.25: "N² is missing"})):
            got, error = call_safely(fn, n, m)
            if error is not None:
                return error
            if isinstance(got, torch.Tensor) and got.numel() == 1:
                got = float(got)
            if isinstance(got, bool) or not isinstance(got, (int, float)):
                return failed(f"{name}({n}, {m}) returned {type(got).__name__}; return a number.")
            if abs(got * float(mean) - float(gatys)) <= 1e-6 * abs(float(gatys)):
                continue
            why = next((text for value, text in sensible.items() if abs(got - value) <= 1e-9 * max(1.0, abs(value))), "")
            return failed(f"{name}({n}, {m}) returned {got:.6g}, but the seeds' sum is {float(gatys / mean):.6g} × "
                          f"nstlib's mean here{': ' + why if why else ''}.",
                          hint="write both losses out as sums over the same squared differences and divide one by "
                               "the other; for the style, remember that Ĝ = G/(N·M).")
    return passed("content: ½ Σ (F − P)² = (N·M/2) · mean (F − P)²; style: E_l = (N²/4) · mean (Ĝ − Â)². The content "
                  "factor grows with the image (M), the style factor does not — so Gatys' α/β depends on the image size.")
