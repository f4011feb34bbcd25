"""Checkers for lesson 06 (layer ablations): the style scale that lets a layer cover a chosen part of the
painting, balanced layer weights, a style profile over every ReLU layer, and the style row of Gatys' Figure 1.

Oracles: :func:`nstlib.receptive_field` (tested against the architecture tables); the defining properties
Σ w_l = 1 and w_l · L_l equal for every layer; :class:`nstlib.VGGFeatures`, :func:`nstlib.gram_matrix` and
:func:`nstlib.style_loss` on small random networks; :func:`nstlib.synthesize_texture` re-run on a 32 px style.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import TypedDict

import torch

from nstlib.course.check._core import CheckResult, call_safely, exercise, failed, generator, near, passed
from nstlib.loss.functional import GramNorm
from nstlib.net.layers import layer_names, receptive_field
from nstlib.net.vgg import GATYS_STYLE_LAYERS

__all__ = ["style_scale_for", "balanced_layer_weights", "style_profile", "figure1_style_row"]


# --- exercise 1: the style scale for a chosen coverage ----------------------------------------------------------

_SCALE_CASES = [
    ("relu5_1", 0.25, 512, "vgg16"),
    ("relu3_1", 0.1, 256, "vgg19"),
    ("relu4_1", 0.5, 64, "vgg16"),
    ("relu5_1", 1.0, 128, "vgg19"),
    ("relu2_1", 0.05, 200, "vgg16"),
    ("relu4_2", 0.3, 384, "vgg19"),
]


@exercise(
    lesson=6,
    number=1,
    title="the style scale for a chosen coverage",
    level="one line",
    hint="With style_scale s the style image's long side is s · side pixels, and the layer's unit sees "
    "nst.receptive_field(arch, layer)[0] of them. Write the coverage as a fraction and solve for s.",
)
def style_scale_for(fn: Callable[[str, float, int, str], float]) -> CheckResult:
    """Exercise: ``fn(layer, fraction, side, arch)`` is the ``style_scale`` at which one unit of ``layer`` sees
    ``fraction`` of the style image's long side, for a content image of long side ``side``: field / (fraction · side)."""
    for layer, fraction, side, arch in _SCALE_CASES:
        field, stride = receptive_field(arch, layer)
        want = field / (fraction * side)
        got, error = call_safely(fn, layer, fraction, side, arch)
        if error is not None:
            return error
        if hasattr(got, "item") and getattr(got, "numel", lambda: 1)() == 1:
            got = got.item()
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            return failed(
                f"style_scale_for({layer!r}, {fraction}, {side}, {arch!r}) returned {type(got).__name__}; "
                "return a number."
            )
        if near(got, want):  # the slips below differ far more
            continue
        other = "vgg19" if arch == "vgg16" else "vgg16"
        mistakes = [
            (
                fraction * side / field,
                "the fraction is upside down: coverage = field / (style_scale · side), so "
                "style_scale = field / (fraction · side)",
            ),
            (
                stride / (fraction * side),
                f"that uses the stride of {layer} ({stride} px); the unit sees its whole receptive field, {field} px",
            ),
            (
                field / side,
                "that is the coverage at style_scale 1, not the scale that gives the coverage you were "
                "asked for: divide by the fraction too",
            ),
            (
                field * fraction / side,
                "the fraction belongs in the denominator: a larger share of the painting needs a smaller style image",
            ),
            (
                receptive_field(other, layer)[0] / (fraction * side) if layer in layer_names(other) else -1.0,
                f"that is {other}'s receptive field; use the arch you were given ({arch})",
            ),
        ]
        why = next((text for value, text in mistakes if near(got, value) and not near(value, want)), "")
        return failed(
            f"style_scale_for({layer!r}, {fraction}, {side}, {arch!r}) returned {got:.6g}, expected "
            f"{want:.6g} ({field} px / ({fraction} · {side} px)){': ' + why if why else ''}."
        )
    return passed(
        "style_scale = field / (fraction · side). For relu5_1 of VGG-16 (132 px) to span a quarter of the "
        "painting at 512 px, the style image must be about the content's size (≈1.03); to let relu3_1 "
        "(24 px) do it you would shrink the painting to a fifth — and lose its strokes with it."
    )


# --- exercise 2: balanced layer weights -------------------------------------------------------------------------


def _weight_cases() -> list[dict[str, float]]:
    return [
        {"relu1_1": 1.45, "relu2_1": 0.41, "relu3_1": 0.083, "relu4_1": 0.025, "relu5_1": 0.031},
        {"relu1_1": 2.0, "relu3_1": 0.5},
        {"relu2_1": 3e-5, "relu4_1": 7e-4, "relu5_1": 1e-6},
        {"relu1_1": 0.7},
    ]


@exercise(
    lesson=6,
    number=2,
    title="balanced layer weights",
    level="a few lines",
    hint="Every layer should contribute the same w_l · L_l at the start, so w_l ∝ 1/L_l; then scale all the "
    "weights by one number so that they add up to 1.",
)
def balanced_layer_weights(fn: Callable[[Mapping[str, float]], Mapping[str, float]]) -> CheckResult:
    """Exercise: ``fn({layer: initial loss})`` returns ``{layer: w_l}`` with w_l ∝ 1/L_l and Σ w_l = 1."""
    for losses in _weight_cases():
        got, error = call_safely(fn, dict(losses))
        if error is not None:
            return error
        shown = ", ".join(f"{k}: {v:g}" for k, v in losses.items())
        if not isinstance(got, Mapping):
            return failed(
                f"For losses {{{shown}}} your function returned {type(got).__name__}; return a dict "
                "{layer: weight}, which stylize accepts as style_layers.",
                hint="build it with a dict comprehension over losses.items().",
            )
        if set(got) != set(losses):
            return failed(
                f"For losses {{{shown}}} the layers of your dict are {sorted(got)}; they should be exactly "
                f"{sorted(losses)}."
            )
        try:
            weights = {k: float(v) for k, v in got.items()}
        except (TypeError, ValueError):
            return failed("Every weight should be a number.")
        total = sum(weights.values())
        contributions = {k: weights[k] * losses[k] for k in losses}
        equal = max(contributions.values()) - min(contributions.values()) <= 1e-6 * max(contributions.values())
        if equal and abs(total - 1) <= 1e-6:
            continue
        proportional = all(abs(weights[k] - losses[k] / sum(losses.values())) <= 1e-6 * weights[k] for k in losses)
        if proportional and len(losses) > 1:
            return failed(
                f"For losses {{{shown}}} your weights are proportional to the losses, so the largest loss "
                "gets even more weight. Balancing needs the opposite: w_l ∝ 1/L_l."
            )
        if equal:
            return failed(
                f"For losses {{{shown}}} every layer contributes equally — good — but the weights add up to "
                f"{total:.6g}, not 1.",
                hint="divide every 1/L_l by the sum of all the 1/L_l.",
            )
        if abs(total - 1) <= 1e-6:
            worst = max(contributions, key=lambda k: contributions[k])
            return failed(
                f"For losses {{{shown}}} the weights add up to 1, but the layers do not contribute equally: "
                f"w·L is {contributions[worst]:.4g} for {worst} and {min(contributions.values()):.4g} for "
                f"{min(contributions, key=lambda k: contributions[k])}.",
                hint="w_l should be proportional to 1/L_l.",
            )
        return failed(
            f"For losses {{{shown}}} your weights {weights} neither add up to 1 nor make w_l · L_l equal.",
            hint="w_l = (1/L_l) / Σ_k (1/L_k).",
        )
    return passed(
        "w_l = (1/L_l) / Σ_k 1/L_k: every layer starts with the same share of the style loss, and the "
        "weights add up to 1 like Gatys' w_l = 1/5."
    )


# --- exercise 3: a style profile over every ReLU layer -----------------------------------------------------------


def _relus(arch: str) -> list[str]:
    return [name for name in layer_names(arch) if name.startswith("relu")]


@functools.lru_cache(maxsize=4)
def _network(arch: str, weights: str):
    """One frozen network over every ReLU layer per (arch, weights): building one costs more than using it."""
    from nstlib.net.vgg import VGGFeatures

    return VGGFeatures(arch, layers=_relus(arch), weights=weights, device="cpu")


def _features(image: torch.Tensor, arch: str, weights: str) -> dict[str, torch.Tensor]:
    with torch.no_grad():
        return _network(arch, weights)(image.detach().cpu())


def _distances(
    f: Mapping[str, torch.Tensor], s: Mapping[str, torch.Tensor], normalize: GramNorm = "chw"
) -> dict[str, float]:
    from nstlib.loss.functional import gram_matrix, style_loss

    return {l: float(style_loss(gram_matrix(f[l], normalize), gram_matrix(s[l], normalize))) for l in f}


def _profile(
    image: torch.Tensor,
    style: torch.Tensor,
    reference: torch.Tensor,
    arch: str,
    weights: str,
    normalize: GramNorm = "chw",
) -> dict[str, float]:
    fi, fs, fr = (_features(x, arch, weights) for x in (image, style, reference))
    mine, ref = _distances(fi, fs, normalize), _distances(fr, fs, normalize)
    return {l: mine[l] / ref[l] for l in mine}


def _profile_images() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = generator(31)
    style = torch.rand(1, 3, 40, 48, generator=g)  # not the image's size: unnormalised Gram matrices show
    image = (0.6 * torch.rand(1, 3, 32, 32, generator=g) + 0.3 * style[:, :, :32, :32]).clamp(0, 1)
    reference = torch.rand(1, 3, 32, 32, generator=g)
    return image, style, reference


def _same_profile(got: Mapping[str, float], want: Mapping[str, float], rtol: float = 1e-3) -> bool:
    return set(got) == set(want) and all(abs(got[l] - want[l]) <= rtol * abs(want[l]) + 1e-12 for l in want)


def _as_floats(got: object) -> dict[str, float] | None:
    if not isinstance(got, Mapping):
        return None
    try:
        return {str(k): float(v) for k, v in got.items()}
    except (TypeError, ValueError, RuntimeError):
        return None


@exercise(
    lesson=6,
    number=3,
    title="a style profile over every ReLU layer",
    level="a function",
    hint="Run one VGGFeatures over every name in nst.layer_names(arch) that starts with 'relu'; at each layer "
    "compute nst.style_loss between the Gram matrices (normalize='chw') of your image and of the style, "
    "and divide by the same quantity for the reference image.",
)
def style_profile(
    fn: Callable[[torch.Tensor, torch.Tensor, torch.Tensor, str, str], Mapping[str, float]],
) -> CheckResult:
    """Exercise: ``fn(image, style, reference, arch, weights)`` returns ``{layer: E(image)/E(reference)}`` for every
    ReLU layer of ``arch``, E being the Gram distance to the style (nstlib's mean convention; the ratio does not
    depend on the convention as long as the Gram matrices are divided by their positions)."""
    image, style, reference = _profile_images()
    for arch in ("vgg16", "vgg19"):
        weights = "random:0"
        got, error = call_safely(fn, image.clone(), style.clone(), reference.clone(), arch, weights)
        if error is not None:
            return error
        values = _as_floats(got)
        if values is None:
            return failed(f"return a dict {{layer: number}}; got {type(got).__name__}.")
        relus = _relus(arch)
        if set(values) != set(relus):
            if set(values) == set(GATYS_STYLE_LAYERS):
                return failed(
                    "you measured only the five style layers relu1_1 … relu5_1. The profile is about every "
                    "ReLU layer, above all those no loss uses (relu3_2, relu4_2 …): they are the fair test."
                )
            extra = sorted(set(values) - set(relus))
            missing = [l for l in relus if l not in values]
            if extra and any(not l.startswith("relu") for l in extra):
                return failed(f"only ReLU layers belong in the profile; yours also has {extra}.")
            return failed(
                f"for {arch} your profile misses {missing}"
                + (f" and has extra {extra}" if extra else "")
                + ". nst.layer_names(arch) lists every layer; keep those whose name starts with 'relu'."
            )
        want = _profile(image, style, reference, arch, weights)
        if _same_profile(values, want):
            continue
        if _same_profile(values, {l: 1 / v for l, v in want.items()}):
            return failed(
                "your profile is upside down: E(image)/E(reference), so that a value below 1 means the image "
                "is closer to the style than the reference is."
            )
        absolute = _distances(_features(image, arch, weights), _features(style, arch, weights))
        if _same_profile(values, absolute):
            return failed(
                "you returned the distances E themselves; divide each by the reference's E at the same "
                "layer, so that layers whose losses differ by orders of magnitude can be compared."
            )
        if _same_profile(values, _profile(image, style, reference, arch, weights, normalize=None)):
            return failed(
                "your Gram matrices are not divided by the number of positions M: the style image here has "
                "another size than the image, and then the unnormalised Gram matrices differ for that "
                "reason alone. Use nst.gram_matrix(f, normalize='chw') (or divide by M yourself)."
            )
        if _same_profile(values, _profile(image, reference, style, arch, weights)):
            return failed(
                "you swapped the style and the reference: the distances are to the style, the reference "
                "(e.g. the start noise) is what they are divided by."
            )
        worst = max(want, key=lambda l: abs(values[l] - want[l]) / abs(want[l]))
        return failed(f"for {arch} your value at {worst} is {values[worst]:.4g}, expected {want[worst]:.4g}.")
    return passed(
        "one number per ReLU layer: below 1 where the image matches the painting's statistics better than "
        "the reference does. The layers no loss used are the honest part of the profile."
    )


# --- exercise 4: the style row of Gatys' Figure 1 (textures from growing sets of layers) -------------------------


def _row_layers(k: int, weights: str, arch: str) -> dict[str, float]:
    from nstlib.weights.sources import weights_source

    return weights_source(weights).defaults.style_layer_weights(GATYS_STYLE_LAYERS[:k], arch)


class _RowOptions(TypedDict):
    """The options figure1_style_row passes to the learner's function (and on to synthesize_texture)."""

    weights: str
    arch: str
    steps: int
    progress: bool


def _row_profile(style: torch.Tensor, k: int, options: _RowOptions) -> dict[str, float]:
    from nstlib.algorithms.texture import synthesize_texture

    arch, weights = options["arch"], options["weights"]
    result = synthesize_texture(style, layers=_row_layers(k, weights, arch), **options)
    noise = torch.rand(style.shape, generator=torch.Generator().manual_seed(0))  # synthesize_texture's start
    return _profile(result.image, style, noise, arch, weights)


@exercise(
    lesson=6,
    number=4,
    title="Gatys' Figure 1 style row, profiled",
    level="design an experiment",
    hint="Loop over k = 1 … 5; synthesise with the first k of nst.GATYS_STYLE_LAYERS, weighted as section 9 "
    "weighs its layer sets (defaults.style_layer_weights(layers, arch)), and profile each result "
    "(exercise 3) against the seeded start noise, torch.rand(style.shape, generator=seed 0).",
)
def figure1_style_row(fn: Callable[..., Mapping[int, Mapping[str, float]]]) -> CheckResult:
    """Exercise: ``fn(style, **options)`` returns ``{k: profile}`` for k = 1 … 5, the texture synthesised from the
    first k style layers, profiled against the start noise (the style row of Gatys et al. 2016's Figure 1).
    Textures 1 and 5 are re-measured here at 32 px."""
    style = torch.rand(1, 3, 32, 40, generator=generator(41))
    options: _RowOptions = dict(weights="random:0", arch="vgg11", steps=3, progress=False)  # the smallest VGG: fast
    got, error = call_safely(fn, style.clone(), **options)
    if error is not None:
        return error
    if not isinstance(got, Mapping) or sorted(got) != [1, 2, 3, 4, 5]:
        keys = sorted(got) if isinstance(got, Mapping) else type(got).__name__
        return failed(
            f"return a dict with the keys 1, 2, 3, 4, 5 (one texture per number of style layers); got {keys}."
        )
    profiles = {k: _as_floats(v) for k, v in got.items()}
    if any(v is None for v in profiles.values()):
        return failed("each texture's entry should be a profile: a dict {layer: number} as exercise 3 returns.")
    rows = {k: v for k, v in profiles.items() if v is not None}  # all of them: every entry is a profile
    relus = set(_relus(options["arch"]))
    for k, row in rows.items():
        if set(row) != relus:
            return failed(f"texture {k}'s profile has the layers {sorted(row)}; profile every ReLU layer (exercise 3).")
    if all(_same_profile(rows[k], rows[1], 1e-9) for k in rows):
        return failed("all five textures are the same: did the style layers change from one to the next?")
    want = {k: _row_profile(style, k, options) for k in (1, 5)}
    if _same_profile(rows[1], want[5]) and _same_profile(rows[5], want[1]):
        return failed(
            "your textures run the wrong way: texture 1 is relu1_1 alone, texture 5 all of relu1_1 … relu5_1."
        )
    for k in (1, 5):
        if not _same_profile(rows[k], want[k]):
            layer = "relu1_1 alone" if k == 1 else "relu1_1 … relu5_1"
            worst = max(want[k], key=lambda l: abs(rows[k][l] - want[k][l]) / abs(want[k][l]))
            return failed(
                f"texture {k} ({layer}) differs from mine at {worst}: {rows[k][worst]:.4g} instead of "
                f"{want[k][worst]:.4g}. Pass the options on unchanged, weigh the layers as section 9 does, "
                "and profile against synthesize_texture's own start: white noise from seed 0."
            )
    return passed(
        "textures 1 and 5 re-measured here agree with yours. On the painting, watch the layers no texture's loss uses "
        "(relu3_2, relu4_2, relu5_2 …): they fall below the noise's level only once the style layers reach the "
        "layers around them — style is not only in the low layers."
    )
