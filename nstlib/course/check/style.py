"""Checkers for lesson 04 (Gram matrices and the style loss E_l).

Oracles: ``torch.einsum`` for G = F Fᵀ, Gatys et al.'s E_l = 1/(4 N_l² M_l²) Σ (G − A)² (*Image Style Transfer
Using Convolutional Neural Networks*, CVPR 2016, eq. 4) written out directly (= ‖G − A‖²_F / (4 N² M²), the
Frobenius norm of KDAG IIT Kharagpur's blog post *How art is generated from Algorithms?*), and small random
networks for the crop experiment and for the rolled and flipped copies (measured on the learner's own images and
network when the lesson passes them).
Wrong answers are compared with the usual mistakes (FᵀF, images of a batch mixed, a normalised Gram, a missing
¼ or 2, channels mixed instead of positions …) so that the feedback can say which one was made.

Exercise 1's checker (the style loss E_l by hand) lives in :mod:`._style_loss` and exercise 5's (rolled or flipped)
in :mod:`._style_copies`; this module exports them with the others.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
from torch.overrides import TorchFunctionMode

from nstlib.course.check._core import CheckResult, call_safely, close, exercise, failed, generator, passed, same
from nstlib.course.check._style_copies import gram_oracle, rolled_or_flipped, texture
from nstlib.course.check._style_loss import style_loss_by_hand

__all__ = ["style_loss_by_hand", "batch_gram", "loss_without_gram", "same_gram", "rolled_or_flipped", "crop_experiment"]


def _el(gen: torch.Tensor, sty: torch.Tensor) -> torch.Tensor:
    """Gatys et al.'s E_l for (1, N, H, W) features of equal size: ‖G − A‖²_F / (4 N² M²)."""
    n, m = gen.shape[1], gen.shape[2] * gen.shape[3]
    return (gram_oracle(gen)[0] - gram_oracle(sty)[0]).square().sum() / (4.0 * n**2 * m**2)


# ---------------------------------------------------------------------------------------------------- exercise 2
def _gram_cases() -> list[torch.Tensor]:
    g = generator(4)
    return [
        torch.rand(2, 5, 4, 6, generator=g),  # a batch of two, H ≠ W
        # T. Wang's 3×3 layer with 64 channels (*A Neural Algorithm of Artistic Style*, a presentation of Gatys et al.)
        torch.randint(0, 4, (1, 64, 3, 3), generator=g).float(),
        torch.randn(3, 7, 2, 9, generator=g).relu(),
    ]


@exercise(
    lesson=4,
    number=2,
    title="Gram matrices of a batch, images kept apart",
    level="one line",
    hint="name the indices: features[b, i, h, w] times features[b, j, h, w], summed over h and w but not over "
    "b — that is one torch.einsum (or reshape to (B, N, H·W) and use torch.bmm).",
)
def batch_gram(fn: Callable[[torch.Tensor], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(features)`` for (B, N, H, W) features returns the raw Gram matrices (B, N, N), one per image."""
    for features in _gram_cases():
        b, n, h, w = features.shape
        m = h * w
        want = gram_oracle(features)
        got, error = call_safely(fn, features.clone())
        if error is not None:
            return error
        where = f"For features of shape {tuple(features.shape)},"
        if not isinstance(got, torch.Tensor):
            return failed(
                f"{where} your function returned {type(got).__name__}, not a tensor.",
                hint="return the (B, N, N) tensor.",
            )
        shape = tuple(got.shape)
        if shape == (b, m, m) and m != n:
            return failed(
                f"{where} you returned a {m}×{m} matrix per image: that is FᵀF, the inner products of the "
                f"{m} positions. The Gram matrix compares the {n} channels: G = F Fᵀ, summed over positions."
            )
        if shape == (b * n, b * n) and b > 1:
            return failed(
                f"{where} you returned one {b * n}×{b * n} matrix: the {b} images of the batch were "
                "flattened together, so channels of different images were multiplied with each other (the "
                "PyTorch tutorial's gram does this). Each image needs its own N×N Gram matrix."
            )
        if shape == (n, n) and b > 1:
            sums = torch.einsum("bihw,bjhw->ij", features, features)
            if same(got, sums, atol=1e-4):
                return failed(
                    f"{where} you summed over the batch index b as well: one {n}×{n} matrix for all "
                    f"{b} images together, the sum of their Gram matrices. Keep b in the output: 'bij'."
                )
            return failed(
                f"{where} you returned a single {n}×{n} matrix; there should be one per image: ({b}, {n}, {n})."
            )
        mismatch = close(got, want, f"the Gram matrices for features of shape {tuple(features.shape)}")
        if mismatch is None:
            continue
        if shape == tuple(want.shape):
            for factor, name in (
                (n * m, "N·M (the C·H·W mean)"),
                (m, "M = H·W (the average over positions)"),
                (2 * n * m, "2·N·M"),
                (b * n * m, "B·N·M (the PyTorch tutorial's normalisation)"),
            ):
                if same(got * factor, want, atol=1e-4):
                    return failed(
                        f"{where} your Gram matrix is the right one divided by {name}. Here G is the raw "
                        "sum G_ij = Σ_k F_ik F_jk; the normalisations come with the loss."
                    )
        return mismatch
    return passed(
        "one raw G = F Fᵀ per image, for a batch of two, T. Wang's 3×3×64 layer and a batch of three: "
        "in einsum's words 'bihw,bjhw->bij' — b and i, j stay, the positions h, w are summed away."
    )


# ---------------------------------------------------------------------------------------------------- exercise 3
class _Shapes(TorchFunctionMode):
    """Records whether any torch call inside produced a tensor whose last two dimensions are (n, n)."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.n, self.formed = n, False

    def __torch_function__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor) and t.dim() >= 2 and tuple(t.shape[-2:]) == (self.n, self.n):
                self.formed = True
        return out


def _position_mistakes(gen: torch.Tensor, sty: torch.Tensor) -> list[tuple[str, torch.Tensor]]:
    n, m = gen.shape[1], gen.shape[2] * gen.shape[3]
    f, s = gen[0].reshape(n, m), sty[0].reshape(n, m)
    a, b, c = (f.T @ f).square().sum(), (f.T @ s).square().sum(), (s.T @ s).square().sum()
    scale = 4.0 * n**2 * m**2
    e = (a - 2 * b + c) / scale
    return [
        (
            "the cross term needs a 2: ‖FFᵀ − SSᵀ‖² = ‖FᵀF‖² − 2‖FᵀS‖² + ‖SᵀS‖², as (x − y)² = x² − 2xy + y²",
            (a - b + c) / scale,
        ),
        ("the cross term has the wrong sign: it is subtracted, − 2‖FᵀS‖²", (a + 2 * b + c) / scale),
        (
            "the norms were not squared: the identity holds for ‖·‖²_F, not for ‖·‖_F",
            (a.sqrt() - 2 * b.sqrt() + c.sqrt()) / scale,
        ),
        ("the factor ¼ is missing", 4 * e),
        ("you divided by 4·N²·M instead of 4·N²·M² (M not squared)", m * e),
        ("you divided by 4·N·M² instead of 4·N²·M² (N not squared)", n * e),
        ("you did not divide by 4·N²·M² at all: that is ‖G − A‖²_F itself", scale * e),
        ("you took the square root: E_l uses the *squared* Frobenius norm", e.sqrt() * scale**0.5 / scale),
        ("that is the mean convention (4/N²)·E_l, not Gatys et al.'s E_l", 4 * e / n**2),
    ]


@exercise(
    lesson=4,
    number=3,
    title="E_l without the N×N Gram matrices",
    level="a few lines",
    hint="write ‖X‖²_F = tr(XᵀX) for X = FFᵀ − SSᵀ, multiply out, and move factors around the trace with "
    "tr(AB) = tr(BA) until only FᵀF, FᵀS and SᵀS (all M×M) appear.",
)
def loss_without_gram(fn: Callable[[torch.Tensor, torch.Tensor], object]) -> CheckResult:
    """Exercise: ``fn(F, S)`` for (1, N, H, W) features of equal size returns E_l = ‖FFᵀ − SSᵀ‖²_F / (4 N² M²)
    computed from the M×M matrices FᵀF, FᵀS and SᵀS only, never forming an N×N matrix."""
    g = generator(42)
    cases = [
        (
            torch.randn(1, 300, 2, 3, generator=g, dtype=torch.float64).relu(),
            torch.randn(1, 300, 2, 3, generator=g, dtype=torch.float64).relu(),
        ),
        (
            torch.rand(1, 5, 3, 4, generator=g, dtype=torch.float64),
            torch.rand(1, 5, 3, 4, generator=g, dtype=torch.float64),
        ),
    ]
    for gen, sty in cases:
        n, m = gen.shape[1], gen.shape[2] * gen.shape[3]
        want = _el(gen, sty)
        watch = _Shapes(n)
        with watch:
            got, error = call_safely(fn, gen.clone(), sty.clone())
        if error is not None:
            return error
        where = f"For features of shape {tuple(gen.shape)} (N = {n}, M = {m}),"
        if isinstance(got, (int, float)) and not isinstance(got, bool):
            got = torch.tensor(float(got), dtype=torch.float64)
        if not isinstance(got, torch.Tensor) or got.numel() != 1:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            return failed(f"{where} your function returned {shape}; E_l is one number.")
        value = got.detach().double().reshape(())
        if not torch.isclose(value, want, rtol=1e-4, atol=1e-12):  # float32 answers pass too
            for text, candidate in _position_mistakes(gen, sty):
                if torch.isclose(value, candidate, rtol=1e-4, atol=1e-12):  # the slips differ by factors ≥ 2
                    return failed(f"{where} you gave {float(value):.6g}, expected E_l = {float(want):.6g}: {text}.")
            return failed(f"{where} you gave {float(value):.6g}, expected E_l = {float(want):.6g}.")
        if n > m and watch.formed:
            return failed(
                f"{where} the value is right, but your function formed a {n}×{n} matrix on the way (G, A, "
                f"or G − A). The exercise asks for the {m}×{m} route: with N = {n} channels and only M = {m} "
                "positions, that is the cheaper side."
            )
    return passed(
        "‖FFᵀ − SSᵀ‖²_F = ‖FᵀF‖²_F − 2‖FᵀS‖²_F + ‖SᵀS‖²_F, since tr(FFᵀSSᵀ) = tr(SᵀF FᵀS) = ‖FᵀS‖²_F. "
        "When a layer has more channels than positions — relu5_1 of a 96 px image: N = 512, M = 36 — the "
        "M×M matrices are 200 times smaller than the N×N ones. The Frobenius norm does not care which side "
        "you look from."
    )


# ---------------------------------------------------------------------------------------------------- exercise 4
def _rearranged(got: torch.Tensor, f: torch.Tensor) -> bool:
    """True when the columns of got are F's columns in some order, each possibly negated."""
    if got.shape != f.shape:
        return False
    distance = torch.cdist(got.abs().T.double(), f.abs().T.double())  # (M, M): column k of got against column l of F
    nearest = distance.min(dim=1)
    return bool((nearest.values < 1e-5).all()) and len(set(nearest.indices.tolist())) == f.shape[1]


@exercise(
    lesson=4,
    number=4,
    title="other features, the same Gram matrix",
    level="a function",
    hint="a shuffle of the columns is F P with P a permutation matrix, and F P Pᵀ Fᵀ = F Fᵀ because P Pᵀ = I. "
    "Which other M×M matrices have that property, and how can torch.linalg make you one?",
)
def same_gram(fn: Callable[[torch.Tensor], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(F)`` for an (N, M) feature matrix returns another (N, K) matrix with the same F Fᵀ that is
    not just F with its columns (positions) rearranged or negated."""
    g = generator(43)
    negative = False
    for n, m in ((3, 8), (6, 20)):
        f = torch.randn(n, m, generator=g).relu() + 0.1 * torch.rand(n, m, generator=g)
        want = f @ f.T
        got, error = call_safely(fn, f.clone())
        if error is not None:
            return error
        where = f"For F of shape ({n}, {m}),"
        if not isinstance(got, torch.Tensor) or got.dim() != 2:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            return failed(f"{where} your function returned {shape}; return a feature matrix (N rows, one per channel).")
        got = got.detach().float()
        if tuple(got.shape) == (n, n) and same(got, want, atol=1e-4):
            return failed(
                f"{where} you returned the Gram matrix G itself. The exercise asks for *features* F' whose "
                "Gram matrix F' F'ᵀ is G."
            )
        if got.shape[0] != n:
            return failed(
                f"{where} your matrix has {got.shape[0]} rows; the rows are the channels, so it needs {n} — "
                "only the number of columns (positions) is free."
            )
        gram = got @ got.T
        if not torch.allclose(gram, want, rtol=1e-4, atol=1e-4 * float(want.abs().max())):
            if got.shape == f.shape and same(got.T @ got, f.T @ f, atol=1e-4):
                return failed(
                    f"{where} your F' mixes the channels (rows), Q F: that keeps FᵀF, the positions' "
                    "inner products, but changes G = F Fᵀ into Q G Qᵀ. Mix the positions: multiply on the "
                    "right."
                )
            c = float((gram * want).sum() / (want * want).sum())
            if torch.allclose(gram, c * want, rtol=1e-4, atol=1e-4 * float(want.abs().max())):
                return failed(
                    f"{where} your Gram matrix is {c:.4g} × G: scaling features by s scales G by s². "
                    "Keep the length of each row."
                )
            largest = float((gram - want).abs().max())
            return failed(
                f"{where} F' F'ᵀ differs from F Fᵀ (largest difference {largest:.3g}). "
                "If you multiplied F by a matrix Q on the right, Q must be orthogonal: Q Qᵀ = I."
            )
        if _rearranged(got, f):
            return failed(
                f"{where} your F' is F with its columns reordered (or negated): that is section 7's shuffle "
                "of positions. Find features that are really different — each new column a mixture of "
                "several old ones."
            )
        negative = negative or bool((got < -1e-6).any())
    tail = (
        (
            " Your F' has negative entries, so no ReLU layer could produce it; features that come from an image are "
            "a smaller family, but still a large one — the freedom a texture synthesis explores."
        )
        if negative
        else " Every entry of your F' is ≥ 0, as ReLU features are: a feature map that some image might produce."
    )
    return passed(
        "F' F'ᵀ = F Fᵀ with F' really different from F: every orthogonal mixing of positions F Q (and even "
        "factors of another width, such as Cholesky's N×N one) has the same Gram matrix." + tail
    )


# ---------------------------------------------------------------------------------------------------- exercise 6
@functools.lru_cache(maxsize=1)
def _tiny_network(layer: str):
    from nstlib.net.vgg import VGGFeatures

    return VGGFeatures("vgg16", layers=(layer,), weights="random:0", device="cpu")


@exercise(
    lesson=4,
    number=6,
    title="how large must a style image be?",
    level="design an experiment",
    hint="for each s: a = image[..., :s, :s], b = image[..., :s, s:2*s], c = other[..., :s, :s]; features "
    "with net(·)[layer]; the ratio E_l(a, b) / E_l(a, c), with E_nst from section 5. For the design, set "
    "each layer's numbers beside its receptive field (printed in section 7).",
)
def crop_experiment(fn: Callable[..., dict]) -> CheckResult:
    """Exercise: ``fn(net, image, other, layer, sizes)`` returns {s: E_l(a, b) / E_l(a, c)} for two side-by-side s×s
    crops a, b of ``image`` and the top-left s×s crop c of ``other``, features from ``net(·)[layer]``."""
    g = generator(44)
    layer, sizes = "relu2_1", (8, 16, 32)
    image, other = texture(32, 64, 3, (0.6, 0.4, 0.3), g), texture(32, 32, 5, (0.3, 0.5, 0.7), g)
    net = _tiny_network(layer)
    want, content, raw = {}, {}, {}
    with torch.no_grad():
        for s in sizes:
            a, b, c = (net(x)[layer] for x in (image[..., :s, :s], image[..., :s, s : 2 * s], other[..., :s, :s]))
            want[s], raw[s] = float(_el(a, b) / _el(a, c)), float(_el(a, b))
            content[s] = float((a - b).square().sum() / (a - c).square().sum())
    got, error = call_safely(fn, net, image.clone(), other.clone(), layer, sizes)
    if error is not None:
        return error
    if not isinstance(got, dict) or sorted(got) != sorted(sizes):
        keys = sorted(got) if isinstance(got, dict) else type(got).__name__
        return failed(f"return a dict with one entry per crop size, keys {list(sizes)}; got {keys}.")
    try:
        values = {s: float(got[s]) for s in sizes}
    except (TypeError, ValueError):
        return failed("each value should be one number, the ratio E_l(a, b) / E_l(a, c) for that crop size.")

    def matches(table: dict) -> bool:
        return all(abs(values[s] - table[s]) <= 1e-3 * abs(table[s]) + 1e-12 for s in sizes)

    if matches(want):
        drop = want[sizes[0]] / want[sizes[-1]]
        return passed(
            f"your measurement matches, on a small random network and a synthetic texture: the ratio falls "
            f"from {want[sizes[0]]:.3f} at {sizes[0]} px to {want[sizes[-1]]:.3f} at {sizes[-1]} px "
            f"({drop:.0f} times). A Gram matrix is an average over M positions, an estimate from a sample; "
            "two samples of one texture differ by less the more positions they hold. Now run it on the "
            "lesson's network: deep layers have fewer positions per pixel and larger structures, so they "
            "need larger crops before two pieces of one painting agree."
        )
    if all(abs(values[s]) < 1e-6 for s in sizes):  # 0 up to rounding; the true ratios are 0.05 or more
        return failed(
            "every ratio is 0: your crops a and b are the same pixels. Take b right next to a: image[..., :s, s:2*s]."
        )
    if all(abs(values[s] * want[s] - 1) < 1e-3 for s in sizes):
        return failed(
            "your ratios are upside down: E_l(a, c) / E_l(a, b). Put the two pieces of the same image on "
            "top, so that 0 means 'the same style' and 1 'as different as another image'."
        )
    if matches(raw):
        return failed(
            "you returned E_l(a, b) itself. On its own it has no scale (it depends on the network and the "
            "layer); divide by E_l(a, c), the distance to another texture, as a yardstick."
        )
    if matches(content):
        return failed(
            "you compared the feature maps position by position (a content loss): two different pieces "
            "of one texture are far apart that way. Compare their Gram matrices: E_l."
        )
    s = sizes[0]
    return failed(
        f"for s = {s} you gave {values[s]:.4g}, expected {want[s]:.4g}. Check the crops: a = image[..., :s, "
        ":s], b = image[..., :s, s:2*s] (right next to a), c = other[..., :s, :s]."
    )
