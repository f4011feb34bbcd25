"""Checkers for lesson 02 (VGG layers): map sizes backwards, input conventions, and effective receptive fields.

Oracles: VGG's geometry run on a one-channel strip (the sizes of the real layers), nstlib's
input conventions (:mod:`nstlib.weights.sources`, the code :class:`~nstlib.net.vgg.VGGFeatures` runs), and gradients of
small seeded random VGGs measured here. Each checker also recognises the usual wrong answers and says which one.

Exercise 4's checker lives in :mod:`._vgg_field`; this module exports it with the others.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypedDict

import torch

from nstlib.course.check._core import CheckResult, call_safely, exercise, failed, generator, passed, same
from nstlib.course.check._vgg_field import effective_field
from nstlib.net.conventions import CAFFE_CONVENTION, IMAGENET_CONVENTION, InputConvention
from nstlib.net.layers import layer_index, layer_names

__all__ = ["relu5_1_heights", "fold_convention", "swap_immune", "effective_field"]


def _map_height(arch: str, name: str, height: int) -> int:
    """H_l of a layer for an input of ``height``, by running VGG's geometry (3×3 convs padded by 1, 2×2/2 pools)
    on a one-channel strip: the same sizes as the real network, without its weights."""
    x = torch.zeros(1, 1, height, 32)
    for layer in layer_names(arch)[: layer_index(arch, name) + 1]:
        if layer.startswith("conv"):
            x = torch.nn.functional.conv2d(x, torch.zeros(1, 1, 3, 3), padding=1)
        elif layer.startswith("pool"):
            x = torch.nn.functional.max_pool2d(x, 2, 2)
    return int(x.shape[-2])


# ---------------------------------------------------------------------------------------------- exercise 1
def _heights(answer: object) -> set[int] | None:
    if isinstance(answer, (bool, str)):
        return None
    if isinstance(answer, int):
        return {answer}
    if not isinstance(answer, Iterable):
        return None
    try:
        return {int(v) for v in answer}
    except (TypeError, ValueError):
        return None


@exercise(
    lesson=2,
    number=1,
    title="the input heights behind a 14-row map",
    level="one line",
    hint="count the poolings in front of relu5_1 (it comes before its own block's pool). Each one halves the "
    "height and rounds down, so several heights end at the same size: which is the smallest, and which "
    "is the first that gives 15?",
)
def relu5_1_heights(answer: object) -> CheckResult:
    """Exercise: every input height H for which relu5_1's map (VGG-16 or VGG-19) is exactly 14 rows tall."""
    got = _heights(answer)
    if got is None or not got:
        return failed(f"give the heights as a range or a list of ints, e.g. range(100, 110); you gave {answer!r}.")
    want = {h for h in range(1, 1024) if h // 16 == 14}
    for h in (min(want) - 1, min(want), max(want), max(want) + 1):  # the rule, checked against VGG's own layers
        assert (_map_height("vgg16", "relu5_1", h) == 14) == (h in want)
    if got == want:
        return passed(
            f"H = {min(want)} … {max(want)}: four poolings divide by 16 and round down, so the 16 heights "
            f"{min(want)}–{max(want)} all give 14 rows: each pool drops a leftover odd row, so up to "
            f"{max(want) - min(want)} extra rows of pixels get no row of relu5_1 of their own. That is why "
            "images are resized to multiples of 16 (or 32 for pool5) when sizes must match exactly."
        )
    mistakes = [
        (
            {h for h in range(1, 2048) if h // 32 == 14},
            "you divided by 32, as if pool5 came first. relu5_1 is the first "
            "ReLU of block 5: only pool1–pool4 are in front of it, ÷16.",
        ),
        (
            {h for h in range(1, 1024) if h // 8 == 14},
            "you divided by 8 (three poolings). relu5_1 sits after pool1, pool2, pool3 and pool4: four halvings.",
        ),
        ({224}, "224 works, but it is not the only one: each pooling rounds down, so 225, 226, … give 14 rows too."),
        (
            {h for h in range(1, 1024) if -(-h // 16) == 14},
            "you rounded up. A 2×2 pool with stride 2 rounds down: (W − 2)//2 + 1 = ⌊W/2⌋.",
        ),
        (want | {max(want) + 1}, f"{max(want) + 1} is one too many: {max(want) + 1} // 16 = 15."),
        (want - {max(want)}, f"{max(want)} is missing: {max(want)} // 16 = 14 still (a range's end is exclusive)."),
    ]
    for values, why in mistakes:
        if got == values:
            return failed(why)
    extra, missing = sorted(got - want), sorted(want - got)
    parts = []
    if extra:
        parts.append(f"these give another size: {extra[:5]}{' …' if len(extra) > 5 else ''}")
    if missing:
        parts.append(f"these give 14 rows too but are missing: {missing[:5]}{' …' if len(missing) > 5 else ''}")
    return failed("not quite: " + "; ".join(parts) + ".")


# ---------------------------------------------------------------------------------------------- exercise 2
class _Slips(TypedDict, total=False):
    """The usual slips of a folded convolution, as keyword arguments of :func:`_fold`."""

    flip: bool
    scale: bool
    std_in_weight: bool
    std_in_bias: bool
    mean_order: bool
    bias_sign: float
    bias_change: bool


def _fold(
    weight: torch.Tensor,
    bias: torch.Tensor,
    convention: InputConvention,
    *,
    flip: bool = True,
    scale: bool = True,
    std_in_weight: bool = True,
    std_in_bias: bool = True,
    mean_order: bool = True,
    bias_sign: float = -1.0,
    bias_change: bool = True,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The oracle and its usual variations: conv(apply(x), W, b) = conv(x, W', b') without padding."""
    w, b = weight.double(), bias.double()
    mean = torch.tensor(convention.mean, dtype=torch.float64).view(1, 3, 1, 1)
    std = torch.tensor(convention.std, dtype=torch.float64).view(1, 3, 1, 1)
    if not mean_order:
        mean = mean.flip(1)
    folded = w * (convention.scale if scale else 1.0) / (std if std_in_weight else 1.0)
    if flip and convention.channels == "BGR":
        folded = folded.flip(1)  # the network's input channel c reads the image's channel 2 − c
    shift = (w * (mean / std if std_in_bias else mean)).sum(dim=(1, 2, 3))
    return folded.float(), (b + bias_sign * shift if bias_change else b).float()


_WEIRD = InputConvention("BGR", 100.0, (10.0, 40.0, 70.0), (2.0, 4.0, 0.5))  # every field matters


@exercise(
    lesson=2,
    number=2,
    title="fold the pre-processing into conv1_1",
    level="a function",
    hint="write conv1_1's output for one position: Σ_c Σ_uv W[o, c, u, v] · (x[c'] · scale − mean[c]) / std[c], "
    "where c' is the image channel the network's channel c reads (2 − c for BGR). Collect what multiplies "
    "x (the new weights, in RGB order) and what does not depend on x (it goes into the bias).",
)
def fold_convention(fn: Callable[[torch.Tensor, torch.Tensor, InputConvention], tuple]) -> CheckResult:
    """Exercise: ``fn(weight, bias, convention)`` → (weight', bias') with
    ``conv2d(x, weight', bias') == conv2d(convention.apply(x), weight, bias)`` for RGB images x in [0, 1], no padding."""
    g = generator(7)
    weight, bias = torch.randn(8, 3, 3, 3, generator=g) * 0.1, torch.randn(8, generator=g)
    for name, convention in (
        ("Caffe's (BGR, 0–255, minus the mean)", CAFFE_CONVENTION),
        ("torchvision's (RGB, ImageNet mean and std)", IMAGENET_CONVENTION),
        ("a made-up BGR one with scale 100 and a std", _WEIRD),
    ):
        got, error = call_safely(fn, weight.clone(), bias.clone(), convention)
        if error is not None:
            return error
        if not isinstance(got, (tuple, list)) or len(got) != 2 or not all(isinstance(t, torch.Tensor) for t in got):
            return failed(f"return two tensors, (weight, bias); got {type(got).__name__}.")
        w_got, b_got = got
        want_w, want_b = _fold(weight, bias, convention)
        if tuple(w_got.shape) != (8, 3, 3, 3) or tuple(b_got.shape) != (8,):
            return failed(
                f"the folded weight should keep conv1_1's shape (8, 3, 3, 3) here and the bias (8,); you "
                f"returned {tuple(w_got.shape)} and {tuple(b_got.shape)}."
            )
        w_ok = same(w_got, want_w, atol=1e-4)
        b_ok = same(b_got, want_b, atol=1e-3 * float(want_b.abs().max()))
        if w_ok and b_ok:
            continue
        where = f"for {name} convention"
        if not w_ok:
            if convention.channels == "BGR" and same(w_got, _fold(weight, bias, convention, flip=False)[0], atol=1e-4):
                return failed(
                    f"{where}: your kernels still read the channels in the network's order. The network's "
                    "input channel 0 is BLUE; folded weights meet the RGB image, so flip the input-channel "
                    "axis (dim 1).",
                    hint="weight' = (weight · scale / std).flip(1) for BGR weights.",
                )
            if convention.channels == "BGR" and same(
                w_got, _fold(weight, bias, convention, flip=False)[0].flip(0), atol=1e-4
            ):
                return failed(
                    f"{where}: you flipped dim 0, the output channels (the 8 kernels). The colour order is "
                    "dim 1, the input channels."
                )
            if same(w_got, _fold(weight, bias, convention, scale=False)[0], atol=1e-4):
                return failed(
                    f"{where}: you forgot the scale: the network sees x · {convention.scale:g}, so the "
                    f"folded weights are {convention.scale:g} times larger."
                )
            if convention.std != (1.0, 1.0, 1.0) and same(
                w_got, _fold(weight, bias, convention, std_in_weight=False)[0], atol=1e-4
            ):
                return failed(
                    f"{where}: your weights ignore the std: the network sees (…) / std, so each input "
                    "channel's weights are divided by its std."
                )
            return failed(f"{where} the folded weight differs from what the pre-processing implies.")
        variants: list[tuple[_Slips, str]] = [
            (
                dict(bias_change=False),
                "the bias is unchanged. Subtracting the mean is a constant input shift; a "
                "convolution turns it into a constant it adds to every output, which belongs "
                "in the bias: b' = b − Σ W · mean / std.",
            ),
            (
                dict(bias_sign=+1.0),
                "the bias has the wrong sign: the mean is SUBTRACTED from the input, so "
                "Σ W · mean / std is subtracted from the bias.",
            ),
            (
                dict(std_in_bias=False),
                "the bias forgets the std: the input is (x − mean) / std, so the shift is mean / std per channel.",
            ),
            (
                dict(mean_order=False),
                "the mean is in the wrong channel order: convention.mean is already in the "
                "network's order (B, G, R for Caffe), like the weight's input channels.",
            ),
        ]
        for changes, why in variants:
            if same(b_got, _fold(weight, bias, convention, **changes)[1], atol=1e-3 * float(want_b.abs().max())):
                return failed(f"{where}: the weights are right, but {why}")
        return failed(
            f"{where}: the weights are right but the bias differs.",
            hint="b' = b − Σ over (c, u, v) of W[o, c, u, v] · mean[c] / std[c].",
        )
    return passed(
        "conv1_1 with your folded weights reads plain RGB images in [0, 1] and computes the same outputs, "
        "for all three conventions: pre-processing is an affine map, and an affine map followed by a "
        "convolution is a convolution. With padding the two differ on the border only: VGG pads its "
        "pre-processed input with zeros, which is the mean colour in image terms, while the folded layer "
        "would pad the image with black. That is one reason nstlib keeps the convention outside conv1_1."
    )


# ---------------------------------------------------------------------------------------------- exercise 3
_SWATCHES = {
    "a": "a grey photograph (R = G = B at every pixel)",
    "b": "the cat photo (orange fur)",
    "c": "a pure green image (0, 1, 0)",
    "d": "a pure red image (1, 0, 0)",
    "e": "a magenta image (1, 0, 1)",
    "f": "a yellow image (1, 1, 0)",
}


def _swatches() -> dict[str, torch.Tensor]:
    g = generator(8)
    texture = torch.rand(1, 1, 8, 8, generator=g)
    flat = torch.ones(1, 1, 8, 8)

    def colour(r: float, gr: float, b: float) -> torch.Tensor:
        return torch.cat([r * flat, gr * flat, b * flat], dim=1)

    fur = torch.cat([0.55 + 0.4 * texture, 0.3 + 0.3 * texture, 0.1 + 0.2 * texture], dim=1)  # R ≫ G > B
    return {
        "a": texture.expand(1, 3, 8, 8).clone(),
        "b": fur,
        "c": colour(0, 1, 0),
        "d": colour(1, 0, 0),
        "e": colour(1, 0, 1),
        "f": colour(1, 1, 0),
    }


_SWATCH_WHY = {
    "a": "R = B at every pixel, so swapping R and B changes nothing",
    "b": "the fur has far more red than blue; the network would see a blue cat",
    "c": "green is the middle channel in both orders (R G B and B G R): the flip never moves it",
    "d": "pure red arrives in the blue channel: the network sees pure blue",
    "e": "magenta has R = B = 1, so swapping them changes nothing",
    "f": "yellow (1, 1, 0) arrives as (0, 1, 1), cyan",
}


@exercise(
    lesson=2,
    number=3,
    title="which images survive a forgotten BGR flip?",
    level="predict and explain",
    hint="the flip reverses the channel axis: which channels trade places, and which one stays where it is? "
    "The mean is subtracted after the flip in both cases, so it is not the difference.",
)
def swap_immune(answer: object) -> CheckResult:
    """Exercise: for which images (a)–(f) is Caffe's input the same with and without the RGB→BGR flip?"""
    from nstlib.course.check.basics import answer_letters

    letters = answer_letters(answer)
    if letters is None or not letters or not letters <= set(_SWATCHES):
        return failed(
            f'answer with the letters of the images that come out the same, e.g. "bd" (letters a to f); '
            f"you gave {answer!r}."
        )
    change = {}
    for letter, image in _swatches().items():
        right = CAFFE_CONVENTION.apply(image)
        forgot = CAFFE_CONVENTION.apply(image.flip(1))  # apply() flips again: the network gets R, G, B
        change[letter] = float((forgot - right).norm() / right.norm())
    immune = {letter for letter, c in change.items() if c < 1e-3}  # 0 up to rounding for the immune ones, ≥ 1 else
    if letters == immune:
        return passed(
            "(a), (c) and (e): the flip swaps channels 0 and 2 — red and blue — and leaves green in the "
            "middle, so exactly the images with R = B everywhere are immune: greys, pure greens, magentas, "
            "and any mix of them. That is why such a bug survives a test with a grey or green image, and "
            "shows up first on skin, sky and orange fur. Test conventions with a colour image whose red and "
            "blue differ."
        )
    lines = []
    for letter in sorted(letters - immune):
        lines.append(
            f"({letter}) {_SWATCHES[letter]} does change (relative change of the network's input "
            f"{change[letter]:.2f}): {_SWATCH_WHY[letter]}."
        )
    for letter in sorted(immune - letters):
        lines.append(f"({letter}) {_SWATCHES[letter]} comes out exactly the same: {_SWATCH_WHY[letter]}.")
    return failed(" ".join(lines))
