"""Checkers for lesson 02 (VGG layers): map sizes backwards, input conventions, and effective receptive fields.

Oracles: VGG's geometry run on a one-channel strip (the sizes of the real layers), nstlib's
input conventions (:mod:`nstlib.weights.sources`, the code :class:`~nstlib.net.vgg.VGGFeatures` runs), and gradients of
small seeded random VGGs measured here. Each checker also recognises the usual wrong answers and says which one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import TypedDict

import torch

from nstlib.course.check._core import CheckResult, call_safely, exercise, failed, generator, passed, same
from nstlib.net.conventions import CAFFE_CONVENTION, IMAGENET_CONVENTION, InputConvention
from nstlib.net.layers import layer_index, layer_names, receptive_field

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


# ---------------------------------------------------------------------------------------------- exercise 4
def _gradient_map(arch: str, weights: str, layer: str, size: int, pooling: str = "avg") -> torch.Tensor:
    from nstlib.net.vgg import VGGFeatures

    net = VGGFeatures(arch, layers=(layer,), weights=weights, pooling=pooling, device="cpu")
    x = torch.rand(1, 3, size, size, generator=generator(0)).requires_grad_(True)
    fmap = net(x)[layer]
    unit = fmap[0, :, fmap.shape[-2] // 2, fmap.shape[-1] // 2].sum()
    (grad,) = torch.autograd.grad(unit, x)
    return grad.abs().sum(dim=1)[0].double()  # (H, W): how strongly each pixel reaches the unit


def _side_holding(grad: torch.Tensor, mass: float) -> int:
    """The side of the smallest square, centred on the middle of the reached region, holding ``mass`` of the total."""
    rows, cols = torch.nonzero(grad > 0, as_tuple=True)
    r0, c0 = (float(rows.min()) + float(rows.max())) / 2, (float(cols.min()) + float(cols.max())) / 2
    total = float(grad.sum())
    for side in range(1, max(grad.shape) + 1):
        top, left = math.floor(r0 - (side - 1) / 2 + 0.5), math.floor(c0 - (side - 1) / 2 + 0.5)
        inside = float(grad[max(top, 0) : top + side, max(left, 0) : left + side].sum())
        if inside >= mass * total - 1e-12:
            return side
    return max(grad.shape)


@lru_cache(maxsize=16)
def _effective_oracle(arch: str, weights: str, layer: str, size: int) -> dict[str, int]:
    grad = _gradient_map(arch, weights, layer, size)
    return {
        "half": _side_holding(grad, 0.5),
        "ninety": _side_holding(grad, 0.9),
        "squared": _side_holding(grad**2, 0.5),
        "theory": receptive_field(arch, layer)[0],
    }


@lru_cache(maxsize=16)
def _effective_with_max_pooling(arch: str, weights: str, layer: str, size: int) -> int:
    return _side_holding(_gradient_map(arch, weights, layer, size, "max"), 0.5)


@exercise(
    lesson=2,
    number=4,
    title="the effective receptive field",
    level="design an experiment",
    hint="reuse section 6's measurement: the gradient of one unit (all channels summed, at the centre of the "
    "map) with respect to the seeded noise image, |gradient| summed over colours. Then grow a square "
    "around the middle of the reached region, one pixel at a time, until it holds half of the total.",
)
def effective_field(fn: Callable[[str, str, str, int], int]) -> CheckResult:
    """Exercise: ``fn(arch, weights, layer, size)`` → the side of the smallest centred square that holds half of the
    |gradient| of the centre unit of ``layer`` (average pooling, seeded noise input of size × size)."""
    cases = [("vgg11", "random:0", "conv2_1", 48), ("vgg11", "random:0", "conv3_2", 64)]
    answers, oracles = [], []
    for arch, weights, layer, size in cases:
        got, error = call_safely(fn, arch, weights, layer, size)
        if error is not None:
            return error
        if isinstance(got, torch.Tensor) and got.numel() == 1:
            got = got.item()
        if isinstance(got, bool) or not isinstance(got, (int, float)):
            return failed(f"return the side of the square as a number of pixels (an int); got {type(got).__name__}.")
        answers.append(float(got))
        oracles.append(_effective_oracle(arch, weights, layer, size))

    def all_near(key: str, tolerance: float = 1.0) -> bool:
        return all(abs(a - o[key]) <= tolerance for a, o in zip(answers, oracles))

    tolerance = [max(1, round(0.08 * o["half"])) for o in oracles]  # other ways of centring move it by a pixel
    if all(abs(a - o["half"]) <= t for a, o, t in zip(answers, oracles, tolerance)):
        rows = [f"{case[2]}: {o['half']} of {o['theory']} px" for case, o in zip(cases, oracles)]
        return passed(
            "your measurement agrees (" + "; ".join(rows) + "). Half of a unit's sensitivity sits in a square "
            "much smaller than its theoretical field, and the gap widens with depth: the effective receptive "
            "field is roughly Gaussian and grows like the square root of the number of layers, while the "
            "theoretical one grows linearly (Luo et al., 2016). A deep VGG unit 'sees' a large patch, but "
            "it mostly looks at its centre."
        )
    arch, weights, layer, size = cases[-1]
    last, got = oracles[-1], answers[-1]
    what = f"{layer} of {arch} ({weights}, {size} px)"
    if all_near("theory"):
        return failed(
            f"for {what} you gave {got:g} px, the size of the THEORETICAL field ({last['theory']} px, "
            "nst.receptive_field). The question is how much of it the unit really uses: the square that "
            "holds half of the gradient is smaller."
        )
    if all_near("ninety"):
        return failed(
            f"for {what} your square ({got:g} px) holds about 90% of the gradient; the exercise asks for half."
        )
    if all_near("squared"):
        return failed(
            f"for {what} you seem to have weighed the pixels by the SQUARED gradient ({got:g} px); "
            "the exercise sums |gradient|."
        )
    if all(abs(a - _effective_with_max_pooling(*case)) <= 1 for a, case in zip(answers, cases)):
        return failed(
            "your numbers are what max pooling gives; the exercise uses pooling='avg', as section 6 did "
            "(max pooling sends gradient through one input per window)."
        )
    k = next(i for i, (a, o, t) in enumerate(zip(answers, oracles, tolerance)) if abs(a - o["half"]) > t)
    arch, weights, layer, size = cases[k]
    return failed(
        f"for {layer} of {arch} ({weights}, {size} px) the square that holds half of the gradient has a side "
        f"of {oracles[k]['half']} px (theoretical field {oracles[k]['theory']} px); you gave {answers[k]:g}."
    )
