"""Checkers for lesson 04 (Gram matrices and the style loss E_l).

Oracles: ``torch.einsum`` for G = F Fᵀ, and the seeds' formula E_l = 1/(4 N_l² M_l²) Σ (G − A)²
(seed 001) written out directly. Wrong answers are compared with the usual mistakes (a
normalised Gram, FᵀF, images of a batch mixed, a missing ¼, a mean instead of a sum …) so the
feedback can say which one was made.
"""
from __future__ import annotations

from collections.abc import Callable

import torch

from nstlib.check._core import CheckResult, call_safely, close, failed, passed

__all__ = ["gram_matrix", "style_layer_loss"]


def _gram_oracle(features: torch.Tensor) -> torch.Tensor:
    """G_ij = Σ_k F_ik F_jk per image: (B, N, H, W) → (B, N, N)."""
    return torch.einsum("bihw,bjhw->bij", features, features)


def _gram_cases() -> list[torch.Tensor]:
    generator = torch.Generator().manual_seed(4)
    seed_example = torch.randint(0, 4, (1, 64, 3, 3), generator=generator).float()  # seed 001: 3×3, 64 channels
    return [
        seed_example,
        torch.rand(2, 5, 4, 6, generator=generator),  # a batch of two, H ≠ W
        torch.randn(3, 7, 2, 9, generator=generator).relu(),
    ]


def gram_matrix(fn: Callable[[torch.Tensor], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(features)`` for (B, N, H, W) features returns the raw Gram matrices (B, N, N)."""
    for features in _gram_cases():
        b, n, h, w = features.shape
        m = h * w
        want = _gram_oracle(features)
        got, error = call_safely(fn, features.clone())
        if error is not None:
            return error
        where = f"For features of shape {tuple(features.shape)},"
        if not isinstance(got, torch.Tensor):
            return failed(f"{where} your function returned {type(got).__name__}, not a tensor.",
                          hint="return the (B, N, N) tensor, e.g. from torch.bmm or the @ operator.")
        shape = tuple(got.shape)
        if shape == (b, m, m) and m != n:
            return failed(f"{where} you returned a {m}×{m} matrix per image: that is FᵀF, the inner products "
                          f"of the {m} positions. The Gram matrix compares the {n} channels: G = F Fᵀ.",
                          hint="reshape to F of shape (B, N, H*W), then multiply F by its transpose on the right.")
        if shape == (b * n, b * n) and b > 1:
            return failed(f"{where} you returned one {b * n}×{b * n} matrix: the {b} images of the batch were "
                          "flattened together, so channels of different images were multiplied with each other "
                          "(the PyTorch tutorial's gram does this). Each image needs its own N×N Gram matrix.",
                          hint="reshape to (B, N, H*W) — keep the batch dimension — and use torch.bmm.")
        if shape == (n, n) and b > 1:
            return failed(f"{where} you returned a single {n}×{n} matrix; there should be one per image: ({b}, {n}, {n}).",
                          hint="keep the batch dimension: features.reshape(B, N, H*W), then torch.bmm.")
        if shape == (n, n) and b == 1 and torch.allclose(got.detach().float(), want[0], rtol=1e-4, atol=1e-4):
            continue  # a batch of one without the batch dimension is tolerated here, caught by the next case
        mismatch = close(got, want, f"the Gram matrix for features of shape {tuple(features.shape)}")
        if mismatch is None:
            continue
        if shape == tuple(want.shape):
            got_f = got.detach().float()
            for factor, name in ((n * m, "N·M (the C·H·W mean)"), (m, "M = H·W (the average over positions)"),
                                 (2 * n * m, "2·N·M"), (b * n * m, "B·N·M (the PyTorch tutorial's normalisation)")):
                if torch.allclose(got_f * factor, want, rtol=1e-4, atol=1e-4):
                    return failed(f"{where} your Gram matrix is the right one divided by {name}. In this "
                                  "exercise G is the raw sum G_ij = Σ_k F_ik F_jk; the normalisations come later.",
                                  hint="leave out the division.")
        return mismatch
    return passed("G = F Fᵀ per image, with the seeds' 3×3×64 example and batches of several images: "
                  "every entry is the sum over positions of the product of two channels.")


def _el_oracle(gen: torch.Tensor, sty: torch.Tensor) -> torch.Tensor:
    """E_l = 1/(4 N²) Σ_ij (G_ij/M_F − A_ij/M_S)²; for M_F = M_S = M this is seed 001's 1/(4 N² M²) Σ (G − A)²."""
    n = gen.shape[1]
    m_f, m_s = gen.shape[2] * gen.shape[3], sty.shape[2] * sty.shape[3]
    diff = _gram_oracle(gen)[0] / m_f - _gram_oracle(sty)[0] / m_s
    return diff.square().sum() / (4.0 * n**2)


def _el_mistakes(gen: torch.Tensor, sty: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    _, n, h, w = gen.shape
    m_f, m_s = h * w, sty.shape[2] * sty.shape[3]
    e = _el_oracle(gen, sty)
    g, a = _gram_oracle(gen)[0], _gram_oracle(sty)[0]
    mistakes = [
        ("the factor ¼ is missing", 4 * e),
        ("you took the mean of (Ĝ − Â)² with Ĝ = G/(N·M): that is the torchvision-era convention, "
         "which equals (4/N²)·E_l", 4 * e / n**2),
        ("you divided by 4·N instead of 4·N² (N not squared)", n * e),
        ("the differences were not squared (Σ |·| instead of Σ (·)²)",
         (g / m_f - a / m_s).abs().sum() / (4.0 * n**2)),
        ("you took the square root (a Frobenius norm); E_l uses the squared norm",
         (g / m_f - a / m_s).square().sum().sqrt() / (4.0 * n**2)),
    ]
    if m_f == m_s:
        mistakes += [
            ("you divided by 4·N²·M instead of 4·N²·M² (M not squared)", m_f * e),
            ("the differences were not squared (Σ |G − A| instead of Σ (G − A)²)",
             (g - a).abs().sum() / (4.0 * n**2 * m_f**2)),
            (f"M looks like the height or width alone ({h} or {w}); M_l is the number of positions H·W = {m_f}",
             e * m_f**2 / h**2),
            (f"M looks like the height or width alone ({h} or {w}); M_l is the number of positions H·W = {m_f}",
             e * m_f**2 / w**2),
        ]
    else:
        mistakes += [
            (f"you used the generated image's M = {m_f} for both Gram matrices — the seeds' formula as it "
             f"stands, which assumes equal sizes. The style features have M = {m_s} positions, so A is a sum "
             "over a different number of terms", (g - a).square().sum() / (4.0 * n**2 * m_f**2)),
            (f"you used the style image's M = {m_s} for both Gram matrices; the generated features have "
             f"M = {m_f} positions", (g - a).square().sum() / (4.0 * n**2 * m_s**2)),
            ("you did not divide by M at all", (g - a).square().sum() / (4.0 * n**2)),
        ]
    return mistakes


def style_layer_loss(fn: Callable[[torch.Tensor, torch.Tensor], object]) -> CheckResult:
    """Exercise: ``fn(F, S)`` for generated features (1, N, H, W) and style features (1, N, H', W') returns
    E_l = 1/(4 N²) Σ (G/M_F − A/M_S)², which is seed 001's 1/(4 N² M²) Σ (G − A)² when both have M positions."""
    generator = torch.Generator().manual_seed(5)
    cases = [
        (torch.rand(1, 3, 2, 2, generator=generator), torch.rand(1, 3, 2, 2, generator=generator)),
        (torch.randn(1, 16, 5, 7, generator=generator).relu(), torch.randn(1, 16, 5, 7, generator=generator).relu()),
        (torch.randn(1, 64, 3, 3, generator=generator).relu(), torch.randn(1, 64, 3, 3, generator=generator).relu()),
        (torch.randn(1, 8, 4, 6, generator=generator).relu(), torch.randn(1, 8, 8, 12, generator=generator).relu()),
        (torch.randn(1, 5, 6, 3, generator=generator).relu(), torch.randn(1, 5, 2, 5, generator=generator).relu()),
    ]
    for gen, sty in cases:
        want = _el_oracle(gen, sty)
        got, error = call_safely(fn, gen.clone(), sty.clone())
        if error is not None:
            return error
        sizes = (f"generated {tuple(gen.shape)} and style {tuple(sty.shape)}" if gen.shape != sty.shape
                 else f"shape {tuple(gen.shape)}")
        where = f"For features of {sizes},"
        if isinstance(got, (int, float)) and not isinstance(got, bool):
            got = torch.tensor(float(got))
        if not isinstance(got, torch.Tensor):
            return failed(f"{where} your function returned {type(got).__name__}; E_l is a single number.",
                          hint="return a tensor with one element (or a float).")
        if got.numel() != 1:
            return failed(f"{where} your function returned a tensor of shape {tuple(got.shape)}; E_l is one number "
                          "per layer.", hint="sum the squared differences over both indices i and j.")
        value = got.detach().double().reshape(())
        if torch.isclose(value, want.double(), rtol=1e-4, atol=1e-12):
            continue
        for text, candidate in _el_mistakes(gen, sty):
            if torch.isclose(value, candidate.double(), rtol=1e-4, atol=1e-12):
                return failed(f"{where} you gave {float(value):.6g}, expected {float(want):.6g}: {text}.",
                              hint="E_l = ((G / M_F - A / M_S)**2).sum() / (4 * N**2), with G, A the raw Gram "
                                   "matrices and M_F, M_S = H*W of each feature map.")
        return failed(f"{where} you gave {float(value):.6g}, expected E_l = {float(want):.6g}.",
                      hint="compute G = F Fᵀ and A = S Sᵀ (raw), divide each by its own number of positions, "
                           "then Σ (·)² / (4 N²).")
    zero, error = call_safely(fn, cases[1][0].clone(), cases[1][0].clone())
    if error is None and isinstance(zero, (torch.Tensor, float, int)) and abs(float(zero)) > 1e-9:
        return failed(f"E_l of a feature map with itself should be 0, your function gave {float(zero):.6g}.")
    return passed("E_l = 1/(4 N_l² M_l²) Σ (G − A)² on layers of equal size, exactly the seeds' formula, and "
                  "with each Gram matrix divided by its own M when the style image has another size.")
