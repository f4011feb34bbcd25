"""Checkers for lesson 05 (style transfer): α/β at another image size, features read by hooks despite in-place
ReLUs, what rescaling the whole loss does to three optimisers, and the two-seeds experiment.

Oracles: Gatys et al.'s sums (½ Σ (F − P)² grows with the positions M, E_l does not); a tiny convolutional
network run module by module with copies; tiny optimisations of one fixed objective with torch's own L-BFGS
(as nstlib runs it), Adam and gradient descent; :func:`nstlib.stylize` on 32 px images with random weights.

The two core exercises, which the lesson then runs, live in modules of their own: exercise 1's checker (the total
loss by hand) in :mod:`._total_loss`, exercise 2's (the closure L-BFGS calls) in :mod:`._closure`; exercise 4's
(features by hooks) is in :mod:`._transfer_hooks`. This module exports them with the others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import SupportsFloat, SupportsIndex, TypedDict

import torch
import torch.nn.functional as F

from nstlib.course.check._closure import make_closure
from nstlib.course.check._core import CheckResult, NotAnswered, call_safely, exercise, failed, generator, near, passed
from nstlib.course.check._total_loss import total_loss_by_hand
from nstlib.course.check._transfer_hooks import hooked_features

__all__ = ["total_loss_by_hand", "make_closure", "gatys_ratio_at", "hooked_features", "loss_scale", "seed_experiment"]


# --- exercise 3: α/β at another size ---------------------------------------------------------------------------

_RATIO_CASES = [
    (1e-3, 512, 1024),
    (1e-4, 256, 512),
    (1e-2, 512, 256),
    (1e-5, 384, 512),
    (3e-4, 512, 512),
    (2e-3, 1024, 384),
]


@exercise(
    lesson=5,
    number=3,
    title="Gatys' α/β at another image size",
    level="one line",
    hint="Gatys' content term ½ Σ (F − P)² adds up one term per position M_c of relu4_2, and E_l divides by "
    "M_l². Which of the two grows when the image grows, and by how much when the side doubles?",
)
def gatys_ratio_at(fn: Callable[[float, int, int], float]) -> CheckResult:
    """Exercise: ``fn(ratio, old_side, new_side)`` is the α/β (Gatys' sums) that keeps the balance of ``ratio``
    tuned at ``old_side`` px when the image is ``new_side`` px: ratio · (old/new)²."""
    for ratio, old, new in _RATIO_CASES:
        want = ratio * (old / new) ** 2
        got, error = call_safely(fn, ratio, old, new)
        if error is not None:
            return error
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = float(got)
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            return failed(f"gatys_ratio_at({ratio:g}, {old}, {new}) returned {type(got).__name__}; return a number.")
        if near(got, want):  # every slip below is a factor ≥ 1.3 away
            continue
        mistakes = [
            (
                ratio,
                "you kept the ratio. E_l is divided by M_l², so the style term is the same at any size, but "
                "½ Σ (F − P)² has one term per position: the content term grows with M_c",
            ),
            (
                ratio * old / new,
                "M_c is H·W, the number of positions: doubling the side quadruples it, so the factor is squared",
            ),
            (
                ratio * (new / old) ** 2,
                "the factor is upside down: a larger image makes the content sum larger, so α "
                "(and α/β) must shrink to keep the balance",
            ),
            (
                ratio * new / old,
                "the factor is upside down and not squared: a larger image has (new/old)² times the "
                "positions, and α must shrink by that",
            ),
            (
                ratio * (old / new) ** 4,
                "you counted M twice: E_l already divides by M_l², only the content sum "
                "grows, by M_new/M_old = (new/old)²",
            ),
        ]
        why = next((text for value, text in mistakes if near(got, value) and not near(value, want)), "")
        return failed(
            f"gatys_ratio_at({ratio:g}, {old}, {new}) returned {got:.6g}, expected {want:.6g}"
            f"{': ' + why if why else ''}."
        )
    return passed(
        "α/β_new = α/β_old · (old/new)²: Gatys' content term sums over the M_c positions of relu4_2 "
        "(M_c ∝ side²), while E_l is divided by M_l². So a ratio is only meaningful with its image "
        "size; nstlib's means avoid that (both of its terms are size-free)."
    )


# --- exercise 5: rescaling the whole loss ------------------------------------------------------------------------


def _demo_runs(kind: str, factor: float, steps: int = 15) -> torch.Tensor:
    """Minimise factor · 8 (mean (A x − b)² + 0.1 mean |x|) from a fixed start, one loss evaluation per step, x clamped
    to [0, 1]. Like an image's pixels, the 768 unknowns each get a small gradient (about 0.02) that adds up to far
    more than 1 (Σ|g| ≈ 15), so that Adam's ε and L-BFGS's first step act as they do in the lesson."""
    g = generator(5)
    a = torch.randn(1024, 768, generator=g) / 768**0.5
    b = torch.randn(1024, generator=g)
    x = torch.rand(768, generator=g).requires_grad_(True)
    opt: torch.optim.LBFGS | torch.optim.Adam | torch.optim.SGD
    if kind == "lbfgs":  # as nstlib runs it: max_iter=1, no tolerances, lr=1
        opt = torch.optim.LBFGS([x], lr=1, max_iter=1, history_size=100, tolerance_grad=0.0, tolerance_change=0.0)
    elif kind == "adam":  # as nstlib runs it: torch's default ε = 1e-8
        opt = torch.optim.Adam([x], lr=0.02)
    else:
        opt = torch.optim.SGD([x], lr=1.0)
    for _ in range(steps):

        def closure() -> torch.Tensor:
            opt.zero_grad()
            loss = factor * 8.0 * ((a @ x - b).square().mean() + 0.1 * x.abs().mean())
            loss.backward()
            return loss

        opt.step(closure)
        with torch.no_grad():
            x.clamp_(0, 1)
    return x.detach()


def _measured() -> dict[str, float]:
    """Largest change of the result when the whole loss is multiplied by 4, per optimiser (0.0: bit for bit)."""
    return {
        kind: float((_demo_runs(kind, 4.0) - _demo_runs(kind, 1.0)).abs().max()) for kind in ("lbfgs", "adam", "sgd")
    }


_KEYS = {
    "lbfgs": "lbfgs",
    "l-bfgs": "lbfgs",
    "adam": "adam",
    "gradient descent": "sgd",
    "sgd": "sgd",
    "history factor": "factor",
    "factor": "factor",
}
_NAMES = {"lbfgs": "lbfgs", "adam": "adam", "sgd": "gradient descent"}


def _why(kind: str, truth: str, change: float) -> str:
    """Why optimiser ``kind`` gives the ``truth`` ("same": bit for bit, or "different") when the loss is ×4."""
    if kind == "lbfgs" and truth == "same":
        return (
            "L-BFGS is unchanged by a constant factor on the loss: its first step is lr·g/Σ|g| (a larger gradient, "
            "the same step), and afterwards its curvature estimate from the last steps divides by the factor exactly "
            "as the gradient multiplies by it. A factor of 4, a power of two, even leaves every bit as it was. Only "
            "when Σ|g| < 1 would the first step change."
        )
    if kind == "adam" and truth == "different":
        return (
            "Adam's step is lr · m̂/(√v̂ + ε). A factor c on the loss multiplies m̂ and √v̂ by c but not ε = 1e-8: "
            "c·m̂/(c·√v̂ + ε) = m̂/(√v̂ + ε/c), so four times the loss is Adam with ε/4. Next to a pixel's small "
            "gradients ε is not lost in rounding, so the steps change in their last digits and the image is not "
            f"the same — though only just (here by {change:.1g}, far below anything you can see). Apart from ε the "
            "factor cancels, which is why Adam's lr is in pixel units."
        )
    if kind == "adam":
        return (
            "here ε = 1e-8 was lost in rounding next to every √v̂, so c·m̂/(c·√v̂ + ε) = m̂/√v̂ to the last bit; "
            "with smaller gradients ε/c would change the last digits."
        )
    if kind == "sgd" and truth == "different":
        return (
            "plain gradient descent x ← x − lr·∇L is not: four times the loss, four times every step. Its lr has to "
            "be tuned together with α, β, γ."
        )
    return f"measured here, the result changed by {change:.2g} when the loss was multiplied by 4."


@exercise(
    lesson=5,
    number=5,
    title="multiply the whole loss by 4",
    level="predict and explain",
    hint="Write one step of each optimiser with the loss c·L instead of L, every constant included (Adam has "
    "one that the loss does not scale). Which ones divide the gradient by something that grows with it too? "
    "And what does result.history record: the weighted terms or the raw ones?",
)
def loss_scale(prediction: Mapping[str, object]) -> CheckResult:
    """Exercise: predict, for α, β, γ all multiplied by 4, whether L-BFGS (nstlib's), Adam and plain gradient
    descent give exactly the same image (to the last bit), and the factor by which ``result.history["total"]``
    changes. The truth is measured on a small objective with the same three optimisers."""
    if isinstance(prediction, Mapping) and all(v is Ellipsis or v is None for v in prediction.values()):
        raise NotAnswered  # the template with its ... still in place
    if not isinstance(prediction, Mapping):
        return failed(
            f"answer with a dict, not {type(prediction).__name__}: "
            "{'lbfgs': ..., 'adam': ..., 'gradient descent': ..., 'history factor': ...}."
        )
    answer = {}
    for key, value in prediction.items():
        canonical = _KEYS.get(str(key).strip().lower())
        if canonical is None:
            return failed(f"unknown key {key!r}: use 'lbfgs', 'adam', 'gradient descent' and 'history factor'.")
        answer[canonical] = value
    missing = [k for k in ("lbfgs", "adam", "sgd", "factor") if k not in answer]
    if missing:
        names = {"lbfgs": "'lbfgs'", "adam": "'adam'", "sgd": "'gradient descent'", "factor": "'history factor'"}
        return failed("your prediction leaves out " + ", ".join(names[k] for k in missing) + ".")
    measured = _measured()  # the truth, measured on a small objective with the same three optimisers
    truth = {kind: "same" if change == 0.0 else "different" for kind, change in measured.items()}  # to the last bit
    wrong = []
    for kind in ("lbfgs", "adam", "sgd"):
        said = str(answer[kind]).strip().lower()
        if said not in ("same", "different"):
            return failed(f"say 'same' or 'different' for {kind}, not {answer[kind]!r}.")
        if said != truth[kind]:
            wrong.append(f"{_NAMES[kind]}: {truth[kind]}, not {said} — {_why(kind, truth[kind], measured[kind])}")
    try:
        if not isinstance(answer["factor"], (SupportsFloat, SupportsIndex, str)):
            raise TypeError  # as float() would; checking first lets mypy see a number below
        factor = float(answer["factor"])
    except (TypeError, ValueError):
        return failed(f"the history factor should be a number, not {answer['factor']!r}.")
    if abs(factor - 4) > 1e-6:
        extra = (
            " result.history records the weighted terms (α·L_content, β·w_l·L_l, γ·L_TV), so every entry is 4× "
            "larger even though the image is the same."
            if abs(factor - 1) < 1e-6
            else " Every term of the total is multiplied by 4, so the total is too."
        )
        wrong.append(f"history factor: 4, not {factor:g}.{extra}")
    numbers = ", ".join(f"{_NAMES[k]} {v:.2g}" for k, v in measured.items())
    if wrong:
        return failed(
            f"Measured here on a small objective (largest pixel change when the loss is ×4: {numbers}):\n"
            + "\n".join(wrong),
            hint="run section 3's stylize twice, with the defaults and with all three weights ×4, and "
            "compare the images with torch.equal(result.image, result4.image) and the histories.",
        )
    adam = (
        "different, but only in the last digits: four times the loss is Adam with ε/4"
        if truth["adam"] == "different"
        else "the same here, ε lost in rounding"
    )
    return passed(
        "L-BFGS: same (bit for bit for a power of two; other factors differ only by rounding, which L-BFGS "
        f"then amplifies); Adam: {adam}; gradient descent: different; the history ×4. Only the ratios "
        "α : β : γ matter to the optimisers nstlib uses (up to Adam's ε) — which is why Gatys et al. quote α/β "
        f"alone. (Measured on a small objective: {numbers}.)"
    )


# --- exercise 6: two seeds -----------------------------------------------------------------------------------------


def _layout(image: torch.Tensor, reference: torch.Tensor, blocks: int = 4) -> float:
    """Lesson 05's layout: correlation of the 4×4 block means of the luminance of two images."""
    from nstlib.algorithms.colour import luminance

    a, b = (F.adaptive_avg_pool2d(luminance(x.detach().cpu())[:, :1], blocks).flatten() for x in (image, reference))
    a, b = a - a.mean(), b - b.mean()
    return float((a * b).sum() / (a.norm() * b.norm() + 1e-12))


def _test_images() -> tuple[torch.Tensor, torch.Tensor]:
    g = generator(21)
    yy, xx = torch.meshgrid(torch.linspace(0, 1, 32), torch.linspace(0, 1, 32), indexing="ij")
    content = torch.stack([yy, xx, 0.5 * (yy + xx)]).unsqueeze(0) * 0.8 + 0.2 * torch.rand(1, 3, 32, 32, generator=g)
    style = torch.rand(1, 3, 32, 40, generator=g)
    return content.clamp(0, 1), style


class _SeedOptions(TypedDict):
    """The options seed_experiment passes to the learner's function (and on to stylize)."""

    weights: str
    arch: str
    steps: int
    content_layers: str
    style_layers: tuple[str, str]
    progress: bool
    device: str


class _SeedAnswer(TypedDict):
    """What seed_experiment asks for: the two final losses, mean |x0 − x1| and the layout similarity."""

    losses: list[float]
    gap: float
    layout: float


@exercise(
    lesson=5,
    number=6,
    title="two seeds, one loss",
    level="design an experiment",
    hint="stylize(..., init='noise', seed=0) and seed=1 with the same options; the loss of the returned image "
    "is min(result.history['total']); compare the two results with each other (not with the photo), "
    "once pixel by pixel and once with section 3's layout.",
)
def seed_experiment(fn: Callable[..., Mapping[str, object]]) -> CheckResult:
    """Exercise: ``fn(content, style, **options)`` runs ``stylize`` from white noise with seeds 0 and 1 and returns
    ``{"losses": (L0, L1), "gap": mean |x0 − x1|, "layout": layout(x0, x1)}``. Re-measured here on 32 px images
    with a random network."""
    from nstlib.algorithms.transfer import stylize  # late import: nstlib.algorithms.transfer is heavy

    content, style = _test_images()
    # a random VGG-16 cut after relu2_2 keeps the four runs (yours and mine) well under a second
    options: _SeedOptions = dict(
        weights="random:0",
        arch="vgg16",
        steps=3,
        content_layers="relu2_2",
        style_layers=("relu1_1", "relu2_1"),
        progress=False,
        device="cpu",
    )
    got, error = call_safely(fn, content.clone(), style.clone(), **options)
    if error is not None:
        return error
    if not isinstance(got, Mapping) or not {"losses", "gap", "layout"} <= set(got):
        return failed(
            "return a dict with the keys 'losses', 'gap' and 'layout' "
            f"(got {type(got).__name__}{' with keys ' + str(sorted(got)) if isinstance(got, Mapping) else ''})."
        )
    try:
        losses = [float(v) for v in got["losses"]]
        gap, layout = float(got["gap"]), float(got["layout"])
    except (TypeError, ValueError):
        return failed("'losses' should be two numbers, 'gap' and 'layout' one number each.")
    if len(losses) != 2:
        return failed(f"'losses' should hold two numbers, seed 0's and seed 1's; it has {len(losses)}.")
    runs = [stylize(content, style, init="noise", seed=seed, **options) for seed in (0, 1)]
    x0, x1 = runs[0].image, runs[1].image
    want: _SeedAnswer = {
        "losses": [min(r.history["total"]) for r in runs],
        "gap": float((x0 - x1).abs().mean()),
        "layout": _layout(x0, x1),
    }
    if gap <= 1e-7 * max(1.0, want["gap"]):
        return failed(
            "your two results are identical (gap 0): both runs started from the same image. White noise "
            "with seed=0 and with seed=1 (init='noise') are two different starts."
        )

    def near(a: float, b: float, rtol: float = 1e-3) -> bool:
        return abs(a - b) <= rtol * max(abs(a), abs(b), 1e-12)

    last = [r.history["total"][-1] for r in runs]
    first = [r.history["total"][0] for r in runs]
    if not all(near(a, b) for a, b in zip(losses, want["losses"])) and not all(
        near(a, b) for a, b in zip(losses, last)
    ):
        if all(near(a, b) for a, b in zip(losses, first)):
            return failed(
                "those are the losses at step 1, of the start noise; the experiment is about where the runs "
                "end: min(result.history['total']) is the loss of the image stylize returns."
            )
        if all(near(a, b) for a, b in zip(losses, reversed(want["losses"]))):
            return failed("your losses are in the wrong order: seed 0's first, then seed 1's.")
        return failed(
            f"your losses {losses} differ from mine {want['losses']} for the same runs: pass the options "
            "on unchanged (**options) and change only init='noise' and the seed."
        )
    to_photo = float((x0 - content).abs().mean())
    if not near(gap, want["gap"], 1e-4):
        if near(gap, to_photo, 1e-4):
            return failed(
                "your gap compares seed 0's result with the photo; the question is how far apart the two "
                "results are: mean |x0 − x1|."
            )
        return failed(f"your gap {gap:.4g} differs from mean |x0 − x1| = {want['gap']:.4g}.")
    if not near(layout, want["layout"], 1e-3):
        if near(layout, _layout(x0, content), 1e-3):
            return failed(
                "your layout compares seed 0's result with the photo; compare the two results: layout(x0, x1)."
            )
        return failed(
            f"your layout {layout:.4g} differs from layout(x0, x1) = {want['layout']:.4g}: use section 3's "
            "function (4×4 blocks of luminance) on the two results."
        )
    return passed(
        "your experiment measures what it should (re-measured here on 32 px images with random weights). "
        "On the lesson's images the two losses end close together while the pixels differ by about as "
        "much as the styled image differs from the photo, yet the layouts agree: the minima differ where "
        "the loss does not look (where each stroke falls), and agree where it does (relu4_2's layout)."
    )
