"""Checkers for lesson 03 (content reconstruction): the content loss by hand, its gradients, inverting a layer, shifts.

Oracles: :func:`nstlib.content_loss` and autograd (the mean convention and ½ Σ (F − P)²,
Gatys et al. 2016, eqs. 1–2), a known image behind the features of a small convolution, and what a 2-pixel shift
does to shallow and deep features, measured on the learner's photo and network (or a test image and a random VGG-16).
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import torch

from nstlib.course.check._content_loss import content_loss_by_hand
from nstlib.course.check._core import (
    CheckResult,
    call_safely,
    close,
    exercise,
    failed,
    generator,
    mismatch,
    open_exercise,
    passed,
    rounding_floor,
    same,
)
from nstlib.loss.functional import content_loss

__all__ = ["content_loss_by_hand", "mean_gradient", "relu_gradient", "invert_layer", "shifted_photo", "free_pixels"]


def _pairs(seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = generator(seed)
    shapes = [(1, 3, 2, 2), (1, 4, 3, 5), (1, 16, 6, 7)]  # N, M and N·M differ, so each slip has its own factor
    return [(torch.randn(shape, generator=g), torch.randn(shape, generator=g)) for shape in shapes]


def _multiple_of(got: torch.Tensor, base: torch.Tensor) -> float | None:
    """c when got = c · base (to 1e-4), else None."""
    atol = max(1e-7, rounding_floor(got, base))
    got = got.detach().double()
    base = base.double()
    c = float((got * base).sum() / (base * base).sum())
    return c if torch.allclose(got, c * base, rtol=1e-4, atol=atol) else None


@exercise(
    lesson=3,
    number=2,
    title="the gradient of the mean convention",
    level="one line",
    hint="the mean is the sum of the N·H·W squares divided by their number; differentiate (F − P)² and "
    "keep the constant in front.",
)
def mean_gradient(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(F, P)`` = ∂/∂F of mean (F − P)² (nst.content_loss's default) for (1, N, H, W) features."""
    for features, target in _pairs(31):
        probe = features.clone().requires_grad_(True)
        (want,) = torch.autograd.grad(content_loss(probe, target), probe)
        got, error = call_safely(fn, features.clone(), target.clone())
        if error is not None:
            return error
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(features.shape):
            return mismatch(got, want, f"the gradient for features of shape {tuple(features.shape)}")
        _, n, h, w = features.shape
        c = _multiple_of(got, features - target)
        if c is not None and abs(c - 2 / (n * h * w)) > 1e-4 * 2 / (n * h * w):
            names = [
                (
                    1.0,
                    "F − P: that is the gradient of the ½ Σ convention. The mean divides the sum of squares by "
                    "N·M and has no ½, so its gradient is smaller by the constant ½·N·M",
                ),
                (
                    1.0 / (n * h * w),
                    "(F − P)/(N·M): the 2 that the square brings down is missing — the mean has no ½ to cancel it",
                ),
                (2.0, "2 (F − P): you did not divide by the number of entries N·M"),
                (
                    2.0 / (h * w),
                    "2 (F − P)/M: you divided by the positions M = H·W only; the mean runs over "
                    "all N·M entries, channels included",
                ),
                (2.0 / n, "2 (F − P)/N: you divided by the channels N only; the mean runs over all N·M entries"),
                (
                    -2.0 / (n * h * w),
                    "2 (P − F)/(N·M): the right size but the wrong sign — the loss grows as F "
                    "moves away from P, so its gradient points from P towards F",
                ),
            ]
            for factor, text in names:
                if abs(c - factor) < 1e-4 * abs(factor):
                    return failed(f"for features of shape {tuple(features.shape)} your gradient is {text}.")
            return failed(
                f"your gradient is {c:.4g} × (F − P); for shape {tuple(features.shape)} the mean's is "
                f"{2 / (n * h * w):.4g} × (F − P) = 2/(N·M) (F − P)."
            )
        problem = close(got, want, f"the gradient for features of shape {tuple(features.shape)}")
        if problem is not None:
            return problem
    return passed(
        "∂/∂F mean (F − P)² = 2 (F − P)/(N·M): the ½ Σ gradient F − P times 2/(N·M), the same constant "
        "that relates the two losses. Every pixel's gradient is scaled alike, so both conventions push the "
        "image the same way; only the size of the numbers (and a plain gradient step) differs."
    )


@exercise(
    lesson=3,
    number=3,
    title="the gradient through the ReLU",
    level="a few lines",
    hint="chain rule: ∂L/∂Z = ∂L/∂F · ∂F/∂Z with F = relu(Z). What is the ReLU's derivative where Z < 0, "
    "and where Z > 0? (Gatys et al.'s eq. 2 says it in words.)",
)
def relu_gradient(fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(Z, P)`` = ∂L/∂Z for L = ½ Σ (relu(Z) − P)², Z the pre-activation and P ≥ 0 the photo's
    relu features."""
    g = generator(32)
    for shape in [(1, 3, 2, 4), (1, 8, 5, 6)]:
        pre = torch.randn(shape, generator=g)
        target = torch.randn(shape, generator=g).relu()
        probe = pre.clone().requires_grad_(True)
        (want,) = torch.autograd.grad(content_loss(probe.relu(), target, reduction="gatys"), probe)
        got, error = call_safely(fn, pre.clone(), target.clone())
        if error is not None:
            return error
        where = f"for Z of shape {tuple(shape)}"
        if isinstance(got, torch.Tensor) and tuple(got.shape) == tuple(shape):
            diff = pre.relu() - target
            on = (pre > 0).float()
            mistakes = [
                (
                    diff,
                    "you left out the ReLU's derivative: where Z < 0 the ReLU's output stays 0 when Z moves a "
                    "little, so no gradient reaches Z there (Gatys et al.'s eq. 2: 0 where F < 0)",
                ),
                (
                    pre - target,
                    "you differentiated as if there were no ReLU: Z − P. Where Z < 0 the generated "
                    "feature is relu(Z) = 0, not Z, and its derivative is 0",
                ),
                (
                    diff * (target > 0).float(),
                    "you masked where the *photo's* feature P is positive; the mask "
                    "belongs to the generated image's own pre-activation Z",
                ),
                (
                    diff.relu(),
                    "you put a ReLU on the gradient; the ReLU acts on Z, so the gradient is masked where "
                    "Z ≤ 0 and keeps its sign elsewhere",
                ),
                (-diff * on, "the right mask but the wrong sign: the gradient points from P towards relu(Z)"),
                (2 * diff * on, "the right mask but twice the size: the ½ cancels the 2 of the square"),
            ]
            for wrong, text in mistakes:
                if same(got, wrong):
                    return failed(f"{where} {text}.")
        problem = close(got, want, f"∂L/∂Z {where}")
        if problem is not None:
            return problem
    return passed(
        "∂L/∂Z = (relu(Z) − P) where Z > 0, and 0 where Z < 0. Note the case Z < 0 < P: the photo has the "
        "feature, the generated image does not, yet no gradient asks for it — a switched-off unit gets no "
        "push to switch on. The optimiser must reach it through other layers or other units, one reason "
        "deep reconstructions need so many steps."
    )


def _conv(out_channels: int, stride: int, g: torch.Generator) -> torch.nn.Conv2d:
    conv = torch.nn.Conv2d(3, out_channels, 3, stride=stride, padding=1)
    with torch.no_grad():
        for p in conv.parameters():
            p.copy_(0.3 * torch.randn(p.shape, generator=g))
    return conv.requires_grad_(False)


@exercise(
    lesson=3,
    number=4,
    title="invert a layer",
    level="a function",
    hint="the loop of section 3 with any layer in place of vgg: start from noise, make the pixels a leaf "
    "tensor with requires_grad, minimise ½ Σ (layer(x) − target)² with torch.optim.LBFGS (a few hundred "
    "steps; line_search_fn='strong_wolfe' helps), return x.detach().",
)
def invert_layer(fn: Callable[[torch.nn.Module, torch.Tensor, tuple], torch.Tensor]) -> CheckResult:
    """Exercise: ``fn(layer, target, shape)`` returns an image x of ``shape`` whose ``layer(x)`` matches ``target``."""
    g = generator(33)
    cases = [
        ("a 3×3 convolution to 12 channels", _conv(12, 1, g)),
        ("a 3×3 convolution with stride 2 to 2 channels", _conv(2, 2, g)),
    ]
    errors = []
    for what, layer in cases:
        image = torch.rand(1, 3, 8, 8, generator=g)
        target = layer(image)
        got, error = call_safely(fn, layer, target.clone(), tuple(image.shape))
        if error is not None:
            return error
        if isinstance(got, torch.Tensor) and tuple(got.shape) == tuple(target.shape) != tuple(image.shape):
            return failed(
                f"for {what} you returned a tensor of the features' shape {tuple(target.shape)}: that looks "
                "like layer(x). Return the image x itself."
            )
        if not isinstance(got, torch.Tensor) or tuple(got.shape) != tuple(image.shape):
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            return failed(
                f"for {what} your function returned {shape}; it should return an image of shape "
                f"{tuple(image.shape)}, the `shape` it was given."
            )
        x = got.detach().float()
        with torch.no_grad():
            feature_error = float((layer(x) - target).norm() / target.norm())
            start_error = float((layer(torch.zeros_like(x)) - target).norm() / target.norm())
        pixel_error = float((x - image).norm() / image.norm())
        if feature_error > 1e-2:
            uphill = (
                " Its features are further off than a black image's: does your step go *against* the gradient?"
                if feature_error > start_error
                else ""
            )
            return failed(
                f"for {what} the features of your image are {feature_error:.1%} away from the target "
                f"(relative); they should match to 1%.{uphill} More steps, or L-BFGS, get there."
            )
        errors.append((what, feature_error, pixel_error, target.numel(), image.numel()))
    (_, fa, pa, ea, ua), (_, fb, pb, eb, ub) = errors
    return passed(
        f"both layers inverted. The 12-channel convolution gives {ea} equations for {ua} unknown pixel "
        f"values: your image is the original (pixel error {pa:.2%}). The stride-2 convolution to 2 channels "
        f"gives only {eb}: its features match just as well ({fb:.2%}), yet the pixels are {pb:.0%} away from "
        "the original — a whole family of images has those features, and the start decides which one you "
        "get. That is section 5's counting argument where it holds: in a linear layer."
    )


_SHIFT_WHY = (
    "a relu1_2 unit sees a 5×5-pixel patch and there is one at every pixel; a 2-pixel move puts a different "
    "patch under each of them, so for a photo with fine texture the maps change almost as much as for "
    "another photo (on the lesson's network by some 60–80% of ‖P‖). A relu5_2 unit sees 164–188 pixels and "
    "stands for a 16×16 block after four poolings: 2 pixels are a small part of what it sees, and its "
    "response changes far less (about 20%). "
)


_SHIFT_LAYERS = ("relu1_2", "relu5_2")


def _device_of(net: object) -> torch.device:
    """Where a network's weights live (the CPU for a plain function)."""
    try:
        return next(net.parameters()).device  # type: ignore[attr-defined]
    except (AttributeError, StopIteration, TypeError):
        return torch.device("cpu")


def _test_photo() -> torch.Tensor:
    """A 64×64 stand-in for the photo: smooth shapes under a fine texture (the detail a 2-pixel move shifts)."""
    yy, xx = torch.meshgrid(torch.linspace(-1, 1, 64), torch.linspace(-1, 1, 64), indexing="ij")
    shapes = torch.stack(
        [0.5 + 0.4 * torch.tanh(4 * (xx - 0.3 * yy)), 0.5 + 0.3 * torch.cos(3 * yy), 0.4 + 0.3 * xx * yy]
    )
    fur = torch.rand(1, 1, 64, 64, generator=generator(34)) - 0.5
    return (shapes.unsqueeze(0) + 0.4 * fur).clamp(0, 1)


@functools.lru_cache(maxsize=1)
def _shift_network() -> torch.nn.Module:
    from nstlib.net.vgg import VGGFeatures  # late import: the network module is not needed by the other checkers

    return VGGFeatures("vgg16", layers=_SHIFT_LAYERS, weights="random:0", pooling="avg", device="cpu")


def _shift_distances(photo: torch.Tensor, net: Callable[[torch.Tensor], dict]) -> dict[str, float]:
    """‖F(photo moved 2 px to the right) − F(photo)‖ / ‖F(photo)‖ at relu1_2 and relu5_2 (exercise 5's measurement)."""
    photo = photo.detach().to(_device_of(net))
    with torch.no_grad():
        moved, still = net(torch.roll(photo, 2, dims=3)), net(photo)
    return {name: float((moved[name] - still[name]).norm() / still[name].norm()) for name in _SHIFT_LAYERS}


@exercise(
    lesson=3,
    number=5,
    title="a photo moved by two pixels",
    level="predict and explain",
    hint="think of what one unit of each layer sees (its receptive field) and how many pixels one position "
    "of its map stands for, and how much of that changes when everything moves by 2 pixels.",
)
def shifted_photo(
    answer: str, photo: torch.Tensor | None = None, net: Callable[[torch.Tensor], dict] | None = None
) -> CheckResult:
    """Exercise: for the photo moved 2 px, which layer's relative distance ‖F − P‖/‖P‖ is larger: relu1_2 or relu5_2?

    Measured here: on ``photo`` with ``net`` when given (the lesson passes its ``photo`` and ``probe``), else on a
    64 px test image with a random VGG-16."""
    choice = str(answer).strip().lower().replace("conv", "relu")
    if choice in ("same", "equal", "neither", "both", "none"):
        return failed(
            "convolutions move their maps along with the image, but the content loss compares position by "
            "position: a moved map is a different map. The question is which layer's maps change *less* "
            "when moved by 2 pixels."
        )
    if choice not in _SHIFT_LAYERS:
        return failed(f'answer with "relu1_2" or "relu5_2" (you gave {answer!r}).')
    where = "on a 64 px test image with a small random VGG-16"
    try:
        if photo is not None and net is not None:
            where = "on your photo with your network"
            change = _shift_distances(photo, net)
        else:
            change = _shift_distances(_test_photo(), _shift_network())
    except Exception as exc:  # the learner's tensors may be anything
        return failed(
            f"I could not measure the shift with what you passed ({type(exc).__name__}: {exc}). Pass the lesson's "
            "tensors: nst.check.shifted_photo(answer, photo=photo, net=probe)."
        )
    truth = max(_SHIFT_LAYERS, key=lambda name: change[name])
    measured = (
        f"Measured {where}: ‖F_moved − P‖/‖P‖ is {change['relu1_2']:.0%} at relu1_2 and "
        f"{change['relu5_2']:.0%} at relu5_2."
    )
    if truth == "relu1_2":
        if choice == "relu1_2":
            return passed(
                _SHIFT_WHY + "So a deep layer's content loss forgives small shifts and distortions — which is "
                "why a deep reconstruction can have a large pixel error and a small loss, and why the content "
                "of a style transfer may wobble without the loss noticing. " + measured
            )
        return failed("the other way round: " + _SHIFT_WHY + measured)
    unusual = (
        "On these features the deep maps changed more, the opposite of what VGG does to a photo with fine "
        "texture: an image without fine detail gives a 2-pixel move little to change in the shallow maps."
    )
    if choice == "relu5_2":
        return passed(f"relu5_2, on these features. {measured} {unusual}")
    return failed(f"relu1_2 is what a photo with fine texture gives, but not here. {measured} {unusual}")


free_pixels = open_exercise(
    "free_pixels",
    lesson=3,
    number=6,
    title="who fills the free pixels?",
    hint="two nst.reconstruct runs with init=astronaut (relu1_2 and relu5_2), the same steps and pooling as the "
    "lesson; measure each result's pixel error to the photo and to the astronaut, and look at both images.",
)
