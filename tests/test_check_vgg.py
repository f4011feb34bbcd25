"""The lesson 02 checkers: the model answers pass (tests/test_exercises.py), and each usual mistake is named."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch
import torch.nn.functional as F

import nstlib as nst
from nstlib.course.check._vgg_field import _side_holding
from nstlib.course.check.vgg import _fold, _map_height, _swatches
from nstlib.net.conventions import CAFFE_CONVENTION, IMAGENET_CONVENTION

ROOT = Path(__file__).resolve().parents[1]


def _solutions():
    spec = importlib.util.spec_from_file_location("lesson02_solutions", ROOT / "solutions" / "lesson02.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


SOL = _solutions()


def _fold_with(**changes):
    def fold(weight, bias, convention):
        return _fold(weight, bias, convention, **changes)

    return fold


def _fold_flip_outputs(weight, bias, convention):
    w, b = SOL.fold_convention(weight, bias, convention)
    return (w.flip(1).flip(0) if convention.channels == "BGR" else w), b


def _field_plus(offset):
    def field(arch, weights, layer, size):
        return SOL.effective_field(arch, weights, layer, size) + offset

    return field


def _field_theoretical(arch, weights, layer, size):
    return nst.receptive_field(arch, layer)[0]


def _field_ninety(arch, weights, layer, size):
    from nstlib.course.check._vgg_field import _gradient_map

    return _side_holding(_gradient_map(arch, weights, layer, size), 0.9)


def _field_squared(arch, weights, layer, size):
    from nstlib.course.check._vgg_field import _gradient_map

    return _side_holding(_gradient_map(arch, weights, layer, size) ** 2, 0.5)


WRONG_ANSWERS = {
    "relu5_1_heights": [
        (range(448, 480), "divided by 32"),
        (range(112, 120), "divided by 8"),
        (224, "not the only one"),
        ([224], "not the only one"),
        (range(209, 225), "rounded up"),
        (range(224, 241), "one too many"),
        (range(224, 239), "is missing"),
        (range(220, 240), "another size"),
        ("224 to 239", "range or a list"),
    ],
    "fold_convention": [
        (_fold_with(flip=False), "network's order"),
        (_fold_flip_outputs, "dim 0"),
        (_fold_with(scale=False), "forgot the scale"),
        (_fold_with(std_in_weight=False), "ignore the std"),
        (_fold_with(bias_change=False), "the bias is unchanged"),
        (_fold_with(bias_sign=+1.0), "wrong sign"),
        (_fold_with(std_in_bias=False), "forgets the std"),
        (_fold_with(mean_order=False), "wrong channel order"),
        (lambda weight, bias, convention: weight, "two tensors"),
    ],
    "swap_immune": [
        ("a", "(c) a pure green image (0, 1, 0) comes out exactly the same"),
        ("ac", "(e) a magenta image"),
        ("abce", "blue cat"),
        ("acdef", "cyan"),
        ("g", "letters a to f"),
    ],
    "effective_field": [
        (_field_theoretical, "THEORETICAL"),
        (_field_ninety, "90%"),
        (_field_squared, "SQUARED"),
        (_field_plus(7), "holds half of the gradient has a side"),
        (lambda arch, weights, layer, size: "big", "an int"),
    ],
}


def test_relu5_1_rule_matches_the_real_layers():
    net = nst.VGGFeatures("vgg11", layers=("relu5_1",), weights="random:0", device="cpu")
    for h in (223, 224, 239, 240):
        assert net(torch.rand(1, 3, h, 16))["relu5_1"].shape[-2] == _map_height("vgg11", "relu5_1", h)
        assert (_map_height("vgg19", "relu5_1", h) == 14) == (224 <= h < 240)
    assert nst.check.relu5_1_heights(list(range(224, 240))).ok
    assert nst.check.relu5_1_heights(torch.arange(224, 240)).ok


def test_the_folded_layer_computes_what_vggfeatures_computes():
    """The oracle against the network itself: folded conv1_1 on raw RGB equals VGGFeatures' conv1_1."""
    for weights, convention in (("random:0", IMAGENET_CONVENTION), ("random:1", CAFFE_CONVENTION)):
        net = nst.VGGFeatures("vgg11", layers=("conv1_1",), weights=weights, device="cpu")
        net.convention = convention  # pretend these weights were trained with this convention
        net.mean.copy_(torch.tensor(convention.mean).view(1, 3, 1, 1))
        net.std.copy_(torch.tensor(convention.std).view(1, 3, 1, 1))
        x = torch.rand(1, 3, 12, 13)
        inside = net(x)["conv1_1"][..., 1:-1, 1:-1]  # away from the zero-padded border
        conv = net.features[0]
        w, b = SOL.fold_convention(conv.weight, conv.bias, convention)
        assert torch.allclose(F.conv2d(x, w, b), inside, rtol=1e-4, atol=1e-3 * float(inside.abs().max()))


def test_swap_immune_swatches_are_what_they_say():
    swatches = _swatches()
    for letter in "ace":
        assert torch.equal(swatches[letter][:, 0], swatches[letter][:, 2])
    for letter in "bdf":
        assert (swatches[letter][:, 0] - swatches[letter][:, 2]).abs().min() > 0.2
    assert nst.check.swap_immune("(a), (c) and (e)").ok


def test_effective_field_is_smaller_than_the_theoretical_one_and_grows():
    sides = [SOL.effective_field("vgg11", "random:0", layer, 64) for layer in ("conv1_1", "conv2_1", "conv3_2")]
    fields = [nst.receptive_field("vgg11", layer)[0] for layer in ("conv1_1", "conv2_1", "conv3_2")]
    assert sides == sorted(sides) and all(s <= f for s, f in zip(sides, fields))
    assert sides[-1] < 0.7 * fields[-1]
