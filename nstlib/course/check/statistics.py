"""Checkers for lesson 09 (style statistics): W₂ to an empty feature map, a different feature map with the same
Gaussian, the cheapest map between two Gaussians, which distance vanishes, and a distance's noise floor.

Oracles: ``nstlib.mean_covariance``, ``nstlib.gaussian_w2`` and ``nstlib.gram_matrix`` (tested against analytic
Gaussians), float64 eigendecompositions, and hand-computed numbers. Each checker also recognises the usual wrong
answers and says which one it saw.

Exercises 1 and 3 (W₂ between Gaussians) live in :mod:`._statistics_w2`; this module exports them with
the others.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from nstlib.course.check._core import CheckResult, NotAnswered, call_safely, exercise, failed, generator, passed
from nstlib.course.check._statistics_w2 import one_number, psd_power, w2_map, w2_to_zero, within
from nstlib.loss.stats import gaussian_w2, mean_covariance

__all__ = ["w2_to_zero", "same_gaussian", "w2_map", "which_vanish", "floor_and_gap"]

STATS = ("gram", "mean_cov", "w2")


# ------------------------------------------------------------------------------------------- exercise 2
def _skewed(n: int, m: int, seed: int) -> torch.Tensor:
    g = generator(seed)
    f = -torch.log(torch.rand(n, m, generator=g, dtype=torch.float64))  # exponential: far from symmetric
    return torch.randn(n, n, generator=g, dtype=torch.float64).abs() @ f / n + 0.1


def _moments(f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    mu, cov = mean_covariance(f[None, :, None, :])
    return mu[0], cov[0]


@exercise(
    lesson=9,
    number=2,
    title="a different feature map with the same Gaussian",
    level="a few lines",
    hint="any map x ↦ μ + Q (x − μ) keeps the mean; it keeps Σ when Q Σ Qᵀ = Σ. One Q works for every Σ. "
    "(Reordering the columns does not count: the statistics ignore the order anyway.)",
)
def same_gaussian(fn: Callable[[torch.Tensor], torch.Tensor]) -> CheckResult:
    """``fn(F)`` for F (N, M) returns F' (N, M') with F's mean and covariance but other feature vectors."""
    for n, m, seed in ((3, 40, 30), (5, 64, 31)):
        f = _skewed(n, m, seed)
        got, error = call_safely(fn, f.clone())
        if error is not None:
            return error
        if not isinstance(got, torch.Tensor) or got.dim() != 2 or got.shape[0] != n:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            return failed(f"return a feature matrix with {n} rows (channels) and one column per position; got {shape}.")
        g = got.detach().double()
        if not torch.isfinite(g).all():
            return failed("your feature matrix holds NaN or inf.")
        mu, cov = _moments(f)
        mu2, cov2 = _moments(g)
        scale = float(cov.abs().max())
        mean_ok = torch.allclose(mu2, mu, atol=1e-6 * float(mu.abs().max()) + 1e-9)
        cov_ok = torch.allclose(cov2, cov, atol=1e-6 * scale)
        gram_ok = torch.allclose(g @ g.T / g.shape[1], f @ f.T / m, atol=1e-6 * float((f @ f.T / m).abs().max()))
        nearest = torch.cdist(g.T, f.T).min(dim=1).values  # each of your positions: distance to F's nearest
        if mean_ok and cov_ok and bool((nearest < 1e-3 * math.sqrt(scale)).all()):
            return failed(
                "every column of yours is one of F's own feature vectors (reordered or repeated). The "
                "statistics never look at the order of positions; find a map whose feature vectors differ."
            )
        if mean_ok and cov_ok:
            continue
        if gram_ok:
            return failed(
                "your map has F's Gram matrix but not its mean and covariance (like −F, or F with the sign "
                "of some columns flipped): the Gram matrix mixes the two, and this exercise asks for both."
            )
        if cov_ok:
            return failed(
                "the covariance matches but the mean moved: after transforming the centred vectors, add μ back."
            )
        if mean_ok:
            return failed(
                "the mean matches but the covariance does not: Q (x − μ) has covariance Q Σ Qᵀ, which "
                "equals Σ only for special Q."
            )
        return failed("neither the mean nor the covariance of your feature matrix is F's.")
    negative = bool((g < 0).any())  # in the last case's feature matrix
    return passed(
        "same μ, same Σ — so the same Gram matrix, a mean_cov loss of 0 and W₂ = 0 — yet other feature "
        "vectors."
        + (
            " Some of yours are negative, which no ReLU feature map can produce: the Gaussian "
            "model does not know that features are ≥ 0."
            if negative
            else ""
        )
    )


# ------------------------------------------------------------------------------------------- exercise 4
def _gram(f: torch.Tensor) -> torch.Tensor:
    return f @ f.T / (f.shape[0] * f.shape[1])


def _distances(f1: torch.Tensor, f2: torch.Tensor) -> dict[str, float]:
    (mu1, s1), (mu2, s2) = _moments(f1), _moments(f2)
    return {
        "gram": float((_gram(f1) - _gram(f2)).square().sum()),
        "mean_cov": float((mu1 - mu2).square().sum() + (s1 - s2).square().sum()),
        "w2": float(gaussian_w2(mu1, s1, mu2, s2)),
    }


def _vanish_pairs() -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    g = generator(40)
    raw = _skewed(2, 60, 41)
    f = raw - raw.mean(1, keepdim=True) + torch.tensor([[1.0], [2.0]], dtype=torch.float64)  # μ = (1, 2) exactly
    z = torch.randn(2, 60, generator=g, dtype=torch.float64)
    z = z - z.mean(1, keepdim=True)
    iso = psd_power(z @ z.T / z.shape[1], -0.5) @ z  # mean 0, covariance I exactly: an isotropic cloud
    c, s = math.cos(math.pi / 6), math.sin(math.pi / 6)
    rotation = torch.tensor([[c, -s], [s, c]], dtype=torch.float64)
    return {
        "shuffled": (f, f[:, torch.randperm(60, generator=g)]),
        "negated": (f, -f),
        "rotated": (iso, rotation @ iso),
    }


_VANISH_KEYS = {
    "shuffled": "a set",
    "negated": "a set",
    "rotated": "a set",
    "w2_negated": "a number",
    "w2_rotated": "a number",
}
_WHY = {
    "shuffled": "Every statistic here averages over positions, so reordering them changes none: all three vanish.",
    "negated": "(−F)(−F)ᵀ = F Fᵀ, so the Gram matrix cannot tell F from −F; but the mean flips to −μ, which mean_cov "
    "and w2 both see. Only gram vanishes.",
    "rotated": "An isotropic cloud (mean 0, Σ = I) looks the same after any rotation: R I Rᵀ = I and R·0 = 0. All "
    "three "
    "vanish, although every single feature vector moved.",
}


def _as_set(value: object) -> set[str] | None:
    if isinstance(value, str):
        value = {value} if value else set()
    if not isinstance(value, (set, frozenset, list, tuple)):
        return None
    return {str(v).strip().lower().replace("-", "_") for v in value}


@exercise(
    lesson=9,
    number=4,
    title="which distance vanishes?",
    level="predict and explain",
    hint="write each pair's μ and Σ (and F Fᵀ) in terms of the first map's; a statistic vanishes when what "
    "it compares is equal. For the numbers, section 2's shortcut ‖Δμ‖² + ‖Σ₁^{1/2} − Σ₂^{1/2}‖²_F holds when the "
    "two covariances commute (both diagonal, say): check that they do before you use it.",
)
def which_vanish(predictions: dict) -> CheckResult:
    """``predictions``: for the pairs "shuffled", "negated", "rotated" the set of statistics (of "gram", "mean_cov",
    "w2") that are zero; "w2_negated" (μ = (1, 2)) and "w2_rotated" (diag(4, 1) turned by 90°) as numbers."""
    if not isinstance(predictions, dict):
        return failed(f"answer with a dict with the keys {', '.join(_VANISH_KEYS)}; got {type(predictions).__name__}.")
    if all(predictions.get(k, ...) is Ellipsis for k in _VANISH_KEYS):
        raise NotAnswered
    missing = [k for k in _VANISH_KEYS if predictions.get(k, ...) is Ellipsis]
    if missing:
        return failed(
            "fill in every prediction; still missing: " + ", ".join(f"{k} ({_VANISH_KEYS[k]})" for k in missing) + "."
        )
    wrong = []
    for name, (f1, f2) in _vanish_pairs().items():
        said = _as_set(predictions[name])
        if said is None or not said <= set(STATS):
            return failed(
                f"{name}: give a set of statistic names from {', '.join(STATS)} (set() if none vanishes); "
                "got "
                f"{predictions[name]!r}."
            )
        d = _distances(f1, f2)
        scale = max(_distances(f1, torch.zeros_like(f1)).values())
        zero = {s for s in STATS if d[s] < 1e-9 * scale}
        if said != zero:
            wrong.append(
                f"{name}: you said {sorted(said) or 'none'}, measured zero: {sorted(zero) or 'none'}. " + _WHY[name]
            )
    for key, want, why in (
        (
            "w2_negated",
            20.0,
            "the covariances are equal (negating does not change the spread), so only the mean "
            "term is left: ‖μ − (−μ)‖² = 4‖μ‖² = 4 · (1 + 4) = 20.",
        ),
        (
            "w2_rotated",
            2.0,
            "turned by 90°, diag(4, 1) becomes diag(1, 4); both are diagonal, so they commute and "
            "W₂² = ‖Σ₁^{1/2} − Σ₂^{1/2}‖²_F = (2 − 1)² + (1 − 2)² = 2. A rotation of a cloud that "
            "is "
            "not round does move it.",
        ),
    ):
        value = one_number(predictions[key])
        if isinstance(value, CheckResult):
            return failed(f"{key}: give a number; got {predictions[key]!r}.")
        if not within(value, want, 1e-3):
            wrong.append(f"{key}: you said {value:g}, it is {want:g}: {why}")
    if wrong:
        verb = "is" if len(wrong) == 1 else "are"
        return failed(f"{len(wrong)} of 5 predictions {verb} off:\n• " + "\n• ".join(wrong))
    return passed(
        "all five right. The Gram matrix is blind to a sign flip, all three are blind to the order of "
        "positions and to rotating a round cloud, and W₂ measures how far the mass must move: 20 for the "
        "flipped mean, 2 for the turned ellipse."
    )


# ------------------------------------------------------------------------------------------- exercise 5
def _pointwise_features(image: torch.Tensor) -> torch.Tensor:
    """A fixed 1×1 convolution and a ReLU: 8 channels per pixel, no neighbourhood, so no edge effects."""
    weight = torch.randn(8, 3, generator=generator(50), dtype=torch.float64)
    bias = torch.randn(8, 1, 1, generator=generator(51), dtype=torch.float64) * 0.3
    return torch.relu(torch.einsum("oc,bchw->bohw", weight, image.double()) + bias)


def _halves(image: torch.Tensor) -> dict[str, torch.Tensor]:
    h, w = image.shape[-2:]
    return {
        "left": image[..., : w // 2],
        "right": image[..., w // 2 :],
        "top": image[..., : h // 2, :],
        "bottom": image[..., h // 2 :, :],
        "whole": image,
    }


def _w2_images(a: torch.Tensor, b: torch.Tensor) -> float:
    (mu1, s1), (mu2, s2) = (mean_covariance(_pointwise_features(x)) for x in (a, b))
    return float(gaussian_w2(mu1[0], s1[0], mu2[0], s2[0]))


def _floor_case() -> dict[str, torch.Tensor]:
    g = generator(52)
    tile = torch.rand(1, 3, 8, 8, generator=g)
    smooth = torch.nn.functional.interpolate(
        torch.rand(1, 3, 4, 4, generator=g), size=(16, 16), mode="bicubic", align_corners=False
    ).clamp(0, 1)
    other = (torch.rand(1, 3, 16, 16, generator=g) * torch.tensor([0.3, 0.9, 0.5])[:, None, None]).flip(-1)
    return {"tiled": tile.repeat(1, 1, 2, 2), "style": smooth, "other": other}


@exercise(
    lesson=9,
    number=5,
    title="the noise floor of a style distance",
    level="design an experiment",
    hint="cut the style into two halves (left/right or top/bottom): two samples of the same texture. Their W₂² "
    "(nst.gaussian_w2 of nst.mean_covariance of the features) is the floor; the gap compares a half of "
    "the style with a half of the other image, so both see the same number of positions.",
)
def floor_and_gap(fn: Callable[..., tuple[float, float]]) -> CheckResult:
    """``fn(feature_fn, style, other)`` returns (floor, gap): W₂² between the feature Gaussians of two halves of the
    style, and between the style's and the other image's (same number of positions); ``feature_fn(image)`` gives
    (1, N, h, w) features."""
    case = _floor_case()
    results: dict[str, tuple[float, float]] = {}
    for name in ("tiled", "style"):
        got, error = call_safely(fn, _pointwise_features, case[name].clone(), case["other"].clone())
        if error is not None:
            return error
        if not isinstance(got, (tuple, list)) or len(got) != 2:
            return failed("return two numbers, (floor, gap).")
        pair = [one_number(v) for v in got]
        problems = [p for p in pair if isinstance(p, CheckResult)]
        if problems:
            return problems[0]
        first, second = [v for v in pair if not isinstance(v, CheckResult)]  # both numbers now
        results[name] = (first, second)
    (t_floor, t_gap), (floor, gap) = results["tiled"], results["style"]
    style, other = _halves(case["style"]), _halves(case["other"])
    floors = {
        "left and right": _w2_images(style["left"], style["right"]),
        "top and bottom": _w2_images(style["top"], style["bottom"]),
    }
    # "Exactly 0" is a W₂² of the style with itself: 0 in exact arithmetic, but the matrix square roots inside
    # gaussian_w2 leave some 1e-13 on one CPU and 0 on another. So 0 means: below a millionth of the smallest true
    # floor between halves of this style (0.47 here), far below any floor computed from two different pieces.
    if abs(floor) <= 1e-6 * min(floors.values()):
        return failed(
            "your floor is exactly 0 for a style whose halves differ: did you compare the whole style with "
            "itself? Two *different* pieces of the same texture show how much a distance varies by chance."
        )
    if abs(t_floor) > 1e-6 * max(abs(t_gap), 1e-12):
        return failed(
            f"for a style made of four identical tiles your floor is {t_floor:.3g}, not 0. Its left and "
            "right "
            "halves (and its top and bottom) are identical, so their distance must vanish: compare two "
            "halves of the image, not other pieces."
        )
    if any(within(floor, math.sqrt(v), 1e-4) for v in floors.values()):
        return failed("your floor looks like W₂, not W₂²: report the squared distance (nst.gaussian_w2's default).")
    split = next((k for k, v in floors.items() if within(floor, v, 1e-4)), None)
    if split is None:
        return failed(
            f"your floor is {floor:.5g}; W₂² between the halves of the style is "
            f"{floors['left and right']:.5g} "
            f"(left and right) or {floors['top and bottom']:.5g} (top and bottom)."
        )
    gaps = {(p, q): _w2_images(style[p], other[q]) for p in style for q in other}
    match = next((k for k, v in gaps.items() if within(gap, v, 1e-4)), None)
    if match is None:
        return failed(
            f"your gap ({gap:.5g}) is not W₂² between the features of (a piece of) the style and (a piece "
            "of) "
            "the other image."
        )
    if "whole" in match:
        return failed(
            f"your gap compares the {match[0]} style with the {match[1]} other image; the floor compares "
            "halves. Compare halves with halves: the fewer positions, the larger a distance is by chance, "
            "so unequal pieces would bias the comparison."
        )
    return passed(
        f"floor (the {split} halves) {floor:.4g}, gap {gap:.4g}: a ratio of {gap / floor:.3g}. A distance "
        "means something only where the gap is well above the floor. Now run it on each layer, for the "
        "trained network and a random one."
    )
