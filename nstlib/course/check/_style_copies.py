"""Lesson 04, exercise 5: a rolled and a flipped copy of the painting — which keeps E_l close to zero?

Measured, not assumed: each copy's E_l against the painting at relu1_1 … relu3_1, relative to another
image's, on the learner's own images and network when the lesson passes them (a small random VGG-16 and
synthetic images otherwise). :mod:`nstlib.course.check.style` exports it with the lesson's other checkers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch
import torch.nn.functional as nnf

from nstlib.course.check._core import CheckResult, exercise, failed, generator, passed

__all__ = ["rolled_or_flipped", "gram_oracle", "texture"]


def gram_oracle(features: torch.Tensor) -> torch.Tensor:
    """G_ij = Σ_k F_ik F_jk per image: (B, N, H, W) → (B, N, N)."""
    return torch.einsum("bihw,bjhw->bij", features, features)


def texture(h: int, w: int, blur: int, tint: tuple[float, float, float], g: torch.Generator) -> torch.Tensor:
    """A stationary coloured texture: blurred noise (circular padding, so every part looks alike)."""
    x = torch.rand(1, 3, h, w, generator=g)
    kernel = torch.ones(3, 1, blur, blur) / blur**2
    x = nnf.conv2d(nnf.pad(x, (blur // 2,) * 4, mode="circular"), kernel, groups=3)[..., :h, :w]
    return ((x - x.mean()) / x.std() * 0.15 + torch.tensor(tint).view(1, 3, 1, 1)).clamp(0, 1)


# ---------------------------------------------------------------------------------------------------- exercise 5
_ROLL = (
    "the rolled copy is the painting with every position moved; G sums over positions, so only the seams (where "
    "the wrapped edges meet) and the borders change it"
)
_FLIP = (
    "the flipped copy is *not* the same in principle — a mirror turns every stroke leaning / into one leaning \\, "
    "so each filter now sees the mirror image of what it saw. But the painting holds nearly as many strokes "
    "and edges of each mirror image as of the other, so the statistics of what the filters see hardly change"
)


_COPY_LAYERS = ("relu1_1", "relu2_1", "relu3_1")
_CLOSE = 0.1  # "close to zero": below a tenth of the cat's E_l at each of the three layers


def _device_of(net: object) -> torch.device:
    """Where a network's weights live (the CPU for a plain function)."""
    try:
        return next(net.parameters()).device  # type: ignore[attr-defined]
    except (AttributeError, StopIteration, TypeError):
        return torch.device("cpu")


def _el_per_position(gen: torch.Tensor, sty: torch.Tensor) -> torch.Tensor:
    """E_l with each Gram matrix divided by its own M (= Gatys' E_l for features of equal size; any sizes compare)."""
    n = gen.shape[1]
    g = gram_oracle(gen)[0] / (gen.shape[2] * gen.shape[3])
    a = gram_oracle(sty)[0] / (sty.shape[2] * sty.shape[3])
    return (g - a).square().sum() / (4.0 * n**2)


def _copy_images() -> tuple[torch.Tensor, torch.Tensor]:
    """Stand-ins for the strokes and the cat: two stationary textures of different colour and grain."""
    g = generator(45)
    return texture(48, 64, 3, (0.6, 0.4, 0.3), g), texture(48, 64, 5, (0.3, 0.5, 0.7), g)


@functools.lru_cache(maxsize=1)
def _copy_network() -> torch.nn.Module:
    from nstlib.net.vgg import VGGFeatures

    return VGGFeatures("vgg16", layers=_COPY_LAYERS, weights="random:0", device="cpu")


def _copy_ratios(style: torch.Tensor, other: torch.Tensor, net: Callable[[torch.Tensor], dict]) -> dict[str, list]:
    """Exercise 5's measurement: E_l(copy, style) / E_l(other, style) at relu1_1, relu2_1, relu3_1, for the style
    rolled by a third of its height and width and for its mirror image."""
    device = _device_of(net)
    style, other = style.detach().to(device), other.detach().to(device)
    h, w = style.shape[-2:]
    copies = {"rolled": torch.roll(style, (h // 3, w // 3), dims=(2, 3)), "flipped": style.flip(3)}
    with torch.no_grad():
        fs, fo = net(style), net(other)
        ratios = {}
        for name, image in copies.items():
            f = net(image)
            ratios[name] = [float(_el_per_position(f[l], fs[l]) / _el_per_position(fo[l], fs[l])) for l in _COPY_LAYERS]
    return ratios


@exercise(
    lesson=4,
    number=5,
    title="rolled or flipped?",
    level="predict and explain",
    hint="for each copy ask: which activations does every channel produce, and does the Gram matrix care where "
    "they are? For the flip, also ask whether the painting contains the mirror image of its own strokes.",
)
def rolled_or_flipped(
    answer: str,
    style: torch.Tensor | None = None,
    other: torch.Tensor | None = None,
    net: Callable[[torch.Tensor], dict] | None = None,
) -> CheckResult:
    """Exercise: which of the strokes rolled by a third and flipped left-right has E_l ≈ 0 (below a tenth of the
    cat's E_l) at relu1_1 … relu3_1?

    Measured here: on ``style`` (the strokes) and ``other`` (the cat) with ``net`` when given (the lesson passes its
    ``style``, ``content`` and ``vgg``), else on two synthetic textures with a random VGG-16."""
    choice = str(answer).strip().lower()
    if choice not in ("rolled", "flipped", "both", "neither"):
        return failed(f'answer with "rolled", "flipped", "both" or "neither" (you gave {answer!r}).')
    where = "on two synthetic textures with a small random VGG-16"
    try:
        if style is not None and other is not None and net is not None:
            where = "on your images with your network"
            ratios = _copy_ratios(style, other, net)
        else:
            ratios = _copy_ratios(*_copy_images(), _copy_network())
    except Exception as exc:  # the learner's tensors may be anything
        return failed(
            f"I could not measure the copies with what you passed ({type(exc).__name__}: {exc}). Pass the lesson's "
            "tensors: nst.check.rolled_or_flipped(answer, style=style, other=content, net=vgg)."
        )
    close_ = {name: max(r) < _CLOSE for name, r in ratios.items()}
    truth = {(True, True): "both", (True, False): "rolled", (False, True): "flipped", (False, False): "neither"}[
        (close_["rolled"], close_["flipped"])
    ]
    measured = (
        f"Measured {where}, E_l to the original as a fraction of the cat's at {', '.join(_COPY_LAYERS)}: "
        + "; ".join(f"{name} {', '.join(f'{v:.2g}' for v in r)}" for name, r in ratios.items())
        + "."
    )
    if truth == "both":
        if choice == "both":
            return passed(
                f"both: {_ROLL}; {_FLIP}. At relu1_1 to relu3_1 both copies come out at no more than a few "
                "hundredths of the cat's E_l, often far less — the flip a little further for a painting whose "
                "strokes mostly lean one way. Deeper layers, whose units see the seams and larger structures, "
                "notice both more (at relu5_1 about a tenth). " + measured
            )
        if choice == "rolled":
            return failed(f"half of it: {_ROLL}. But measure the flipped one too: {_FLIP}. " + measured)
        if choice == "flipped":
            return failed(f"the flipped one is close, but so is the rolled one — {_ROLL}. " + measured)
        return failed(f"both are far closer to the strokes than the cat is: {_ROLL}; {_FLIP}. " + measured)
    why = {
        "rolled": f"{_ROLL}; the flip, though, moved these statistics — strokes that mostly lean one way lean the "
        "other way in the mirror",
        "flipped": "the mirror image kept these statistics, but the roll did not: its seams, where the wrapped edges "
        "meet, weigh a lot in an image this small",
        "neither": "neither copy stays within a tenth of the cat's E_l here: in an image this small the seams of the "
        "roll and the mirrored strokes both weigh a lot",
    }[truth]
    if choice == truth:
        return passed(f"{truth}, on these images: {why}. " + measured)
    return failed(f"on these images the answer is {truth!r}: {why}. " + measured)
