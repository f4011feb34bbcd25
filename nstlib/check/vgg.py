"""Checkers for lesson 02 VGG layers: receptive fields, parameter counts, feature-map shapes, pooling.

Oracles: the receptive-field recurrence checked against :func:`nstlib.receptive_field`, parameter
counts of real ``nn.Conv2d`` layers, and shapes from running VGG's own layer stack on PyTorch's
``meta`` device (shapes without any arithmetic or memory).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import nn

from nstlib.check._core import CheckResult, call_safely, failed, passed
from nstlib.layers import VGG_BLOCKS, layer_index, layer_names, receptive_field

__all__ = ["receptive_field_of", "conv_layer_params", "feature_shape", "pooling_question"]


def _recurrence(layers: Sequence[tuple[int, int]]) -> tuple[int, int]:
    """r_l = r_{l-1} + (F_l − 1)·j_{l-1},  j_l = j_{l-1}·S_l, starting from one pixel (r = j = 1)."""
    field, jump = 1, 1
    for kernel, stride in layers:
        field += (kernel - 1) * jump
        jump *= stride
    return field, jump


def _vgg_stack(arch: str, name: str) -> list[tuple[int, int]]:
    """(kernel, stride) of every conv and pool of ``arch`` up to and including ``name`` (ReLUs change nothing)."""
    names = layer_names(arch)[: layer_index(arch, name) + 1]
    return [(3, 1) if n.startswith("conv") else (2, 2) for n in names if not n.startswith("relu")]


def receptive_field_of(fn: Callable[[list[tuple[int, int]]], tuple[int, int]]) -> CheckResult:
    """Exercise: ``fn(layers)`` with ``layers`` a list of (kernel, stride) → (receptive field, jump)."""
    alexnet = [(11, 4), (3, 2), (5, 1), (3, 2), (3, 1), (3, 1), (3, 1), (3, 2)]
    cases: list[tuple[str, list[tuple[int, int]], tuple[int, int]]] = [
        ("one 3x3 convolution", [(3, 1)], (3, 1)),
        ("two 3x3 convolutions", [(3, 1), (3, 1)], (5, 1)),
        ("one 2x2 pool with stride 2", [(2, 2)], (2, 2)),
    ]
    for name in ("conv1_2", "pool1", "conv2_1", "conv3_2", "conv4_2", "conv5_2", "pool5"):
        cases.append((f"VGG-19 up to {name}", _vgg_stack("vgg19", name), receptive_field("vgg19", name)))
    cases.append(("AlexNet's convolutions and pools", alexnet, _recurrence(alexnet)))
    for what, layers, want in cases:
        assert _recurrence(layers) == want  # the recurrence and nstlib's table agree on VGG
        got, error = call_safely(fn, list(layers))
        if error is not None:
            return error
        try:
            field, jump = (int(v) for v in got)  # type: ignore[union-attr]
        except (TypeError, ValueError):
            return failed(f"your function should return two ints (field, jump); for {what} it returned {got!r}.")
        if (field, jump) == want:
            continue
        if jump != want[1]:
            return failed(f"for {what} the jump (distance in input pixels between neighbouring units) should be "
                          f"{want[1]}, you gave {jump}.", hint="every stride multiplies the jump: j_l = j_(l-1) · S_l.")
        if field == 1 + sum(k - 1 for k, _ in layers):
            return failed(f"for {what} you gave a field of {field}, as if every layer added F - 1 pixels. After a "
                          f"stride-2 layer neighbouring units are 2 pixels apart, so the next kernel reaches further: "
                          f"the answer is {want[0]}.", hint="r_l = r_(l-1) + (F_l - 1) · j_(l-1), with the jump from *before* the layer.")
        return failed(f"for {what} the receptive field is {want[0]} pixels, you gave {field}.",
                      hint="start from r = 1, j = 1 and apply r += (F - 1) · j, then j *= S, layer by layer.")
    return passed(f"your recurrence gives the right field and jump in all {len(cases)} cases, from one 3x3 kernel "
                  f"to pool5 of VGG-19 ({receptive_field('vgg19', 'pool5')[0]} px) and AlexNet ({_recurrence(alexnet)[0]} px).")


def conv_layer_params(fn: Callable[[int, int, int], int]) -> CheckResult:
    """Exercise: ``fn(c_in, c_out, k)`` → learnable parameters of a k×k convolution, biases included."""
    cases = [(3, 64, 3), (64, 64, 3), (256, 512, 3), (512, 512, 3), (64, 128, 1), (3, 96, 11)]
    for c_in, c_out, k in cases:
        want = sum(p.numel() for p in nn.Conv2d(c_in, c_out, k, device="meta").parameters())
        got, error = call_safely(fn, c_in, c_out, k)
        if error is not None:
            return error
        try:
            got = int(got)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return failed(f"conv_layer_params should return an int, got {type(got).__name__}.")
        if got == want:
            continue
        if got == want - c_out:
            return failed(f"conv_layer_params({c_in}, {c_out}, {k}) = {got:,} counts the weights but not the "
                          f"{c_out} biases (one per output channel); nn.Conv2d has {want:,} parameters.",
                          hint="add c_out for the biases.")
        if got == k * k * c_out + c_out:
            return failed(f"conv_layer_params({c_in}, {c_out}, {k}) = {got:,}: each kernel spans all {c_in} input "
                          "channels, so it has k·k·c_in weights, not k·k.", hint="weights = k·k·c_in·c_out.")
        return failed(f"conv_layer_params({c_in}, {c_out}, {k}) should be {want:,}, you gave {got:,}.",
                      hint="a kernel has k·k·c_in weights; there are c_out kernels, each with one bias.")
    vgg19 = sum(fn(c_in, c_out, 3) for c_in, c_out in _vgg_convs("vgg19"))
    return passed(f"right, and summed over VGG-19's 16 convolutions your function gives {vgg19:,} parameters, "
                  "exactly what torchvision's vgg19().features holds.")


def _vgg_convs(arch: str) -> list[tuple[int, int]]:
    pairs, c_in = [], 3
    for widths in VGG_BLOCKS[arch]:
        for c_out in widths:
            pairs.append((c_in, c_out))
            c_in = c_out
    return pairs


def _meta_shape(arch: str, name: str, height: int, width: int) -> tuple[int, int, int]:
    from nstlib.features import _build

    with torch.device("meta"):  # shapes only: no memory, no random initialisation of 20 M weights
        stack = _build(arch, layer_index(arch, name), "max")
    with torch.no_grad():
        out = stack(torch.empty(1, 3, height, width, device="meta"))
    return tuple(int(v) for v in out.shape[1:])  # type: ignore[return-value]


def feature_shape(fn: Callable[[str, str, int, int], tuple[int, int, int]]) -> CheckResult:
    """Exercise: ``fn(arch, layer, H, W)`` → (C, H_l, W_l) of that layer's output for an H×W input."""
    cases = [("vgg19", "conv1_1", 224, 224), ("vgg19", "relu2_2", 224, 224), ("vgg19", "pool2", 224, 224),
             ("vgg19", "conv3_1", 224, 224), ("vgg19", "relu4_2", 64, 43), ("vgg19", "pool5", 224, 224),
             ("vgg16", "conv5_3", 100, 150), ("vgg19", "conv5_1", 85, 128), ("vgg11", "pool3", 37, 41)]
    for arch, name, height, width in cases:
        want = _meta_shape(arch, name, height, width)
        got, error = call_safely(fn, arch, name, height, width)
        if error is not None:
            return error
        try:
            got = tuple(int(v) for v in got)  # type: ignore[union-attr]
        except (TypeError, ValueError):
            return failed(f"feature_shape should return (C, H_l, W_l), got {got!r}.")
        if got == want:
            continue
        what = f"{arch} {name} for a {height}x{width} input"
        if len(got) != 3:
            return failed(f"feature_shape should return three numbers (C, H_l, W_l); for {what} you gave {got}.")
        if got[0] != want[0]:
            return failed(f"{what} has {want[0]} channels, you gave {got[0]}.",
                          hint="the channel count is the width of the layer's block (64, 128, 256, 512, 512).")
        pools = next(p for p in range(6) if (height >> p, width >> p) == want[1:])
        if got[1:] == (height >> (pools + 1), width >> (pools + 1)):
            why = f" You halved once too often: {name} comes *before* its block's pool."
        elif pools and got[1:] == (height >> (pools - 1), width >> (pools - 1)):
            why = f" You halved once too few: {name} sits after {pools} pooling layer(s)."
        elif got[1:] == (-(-height // 2 ** pools), -(-width // 2 ** pools)):
            why = " You rounded up; a 2x2 pool with stride 2 rounds down ((W - 2)/2 + 1 = floor(W/2))."
        else:
            why = ""
        return failed(f"{what} should be {want}, you gave {got}.{why}",
                      hint="3x3 convs with padding 1 keep the size; each earlier pool halves it, rounding down.")
    return passed("your shapes match what VGG's own layers produce, odd sizes and both architectures included.")


_POOLING_ANSWER = "b"
_POOLING_FEEDBACK = {
    "a": "no: neither kind of pooling has any parameters; both just summarise a window.",
    "c": "no: VGG was trained, and is most accurate, with max pooling. Gatys et al. changed it only for image synthesis.",
    "d": "no: both pools have the same window and stride, so their outputs have the same size.",
}


def pooling_question(answer: str) -> CheckResult:
    """Exercise: why did Gatys et al. replace max pooling by average pooling for image synthesis?

    (a) average pooling has fewer parameters; (b) its gradient reaches every pixel of each window, so the
    gradient with respect to the image is denser and smoother; (c) it makes VGG more accurate on ImageNet;
    (d) its feature maps are larger.
    """
    choice = str(answer).strip().lower().strip("()")
    if choice == _POOLING_ANSWER:
        return passed("max pooling passes the gradient back only to the largest value of each window (and which one "
                      "that is flips as the pixels change); average pooling sends 1/4 to each, so every pixel gets a "
                      "share and the image moves more smoothly. Gatys et al. (2016) report 'slightly more appealing results'.")
    if choice in _POOLING_FEEDBACK:
        return failed(_POOLING_FEEDBACK[choice], hint="look at the pooling-gradient experiment in section 6.")
    return failed(f"answer with one letter, 'a', 'b', 'c' or 'd' (you gave {answer!r}).")
