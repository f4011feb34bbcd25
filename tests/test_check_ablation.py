"""The lesson-06 checkers accept the model answers and name the usual wrong ones (WRONG_ANSWERS, run by
tests/test_exercises.py); a few extra properties of the model answers."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import torch

import nstlib as nst

_SPEC = importlib.util.spec_from_file_location(
    "lesson06_solutions", Path(__file__).resolve().parents[1] / "solutions" / "lesson06.py"
)
lesson06 = importlib.util.module_from_spec(_SPEC)
_SPEC.loader.exec_module(lesson06)


def _proportional(losses):
    total = sum(losses.values())
    return {k: v / total for k, v in losses.items()}


# --- wrong answers to exercise 3 (style profile) ---


def _profile_upside_down(image, style, reference, arch, weights):
    return {l: 1 / v for l, v in lesson06.style_profile(image, style, reference, arch, weights).items()}


def _profile_absolute(image, style, reference, arch, weights):
    relus = [n for n in nst.layer_names(arch) if n.startswith("relu")]
    vgg = nst.VGGFeatures(arch, layers=relus, weights=weights, device="cpu")
    with torch.no_grad():
        fi, fs = vgg(image), vgg(style)
    return {l: nst.style_loss(nst.gram_matrix(fi[l], "chw"), nst.gram_matrix(fs[l], "chw")).item() for l in relus}


def _profile_unnormalised(image, style, reference, arch, weights):
    relus = [n for n in nst.layer_names(arch) if n.startswith("relu")]
    vgg = nst.VGGFeatures(arch, layers=relus, weights=weights, device="cpu")
    with torch.no_grad():
        fi, fs, fr = vgg(image), vgg(style), vgg(reference)
    e = {
        l: (
            nst.style_loss(nst.gram_matrix(fi[l]), nst.gram_matrix(fs[l]))
            / nst.style_loss(nst.gram_matrix(fr[l]), nst.gram_matrix(fs[l]))
        ).item()
        for l in relus
    }
    return e


def _profile_style_layers_only(image, style, reference, arch, weights):
    full = lesson06.style_profile(image, style, reference, arch, weights)
    return {l: full[l] for l in nst.GATYS_STYLE_LAYERS}


def _profile_swapped(image, style, reference, arch, weights):
    return lesson06.style_profile(image, reference, style, arch, weights)


# --- wrong answers to exercise 4 (Figure 1's style row) ---


def _rows_reversed(style, **options):
    rows = lesson06.figure1_style_row(style, **options)
    return {k: rows[6 - k] for k in rows}


def _rows_all_the_same(style, **options):
    noise = torch.rand(style.shape, generator=torch.Generator().manual_seed(0))
    texture = nst.synthesize_texture(style, layers=nst.GATYS_STYLE_LAYERS, **options).image
    row = lesson06.style_profile(texture, style, noise, options["arch"], options["weights"])
    return {k: dict(row) for k in range(1, 6)}


def _rows_against_other_noise(style, **options):
    arch, weights = options["arch"], options["weights"]
    noise = torch.rand(style.shape, generator=torch.Generator().manual_seed(7))  # not the run's own start
    rows = {}
    for k in (1, 5):
        texture = nst.synthesize_texture(style, layers=nst.GATYS_STYLE_LAYERS[:k], **options).image
        rows[k] = lesson06.style_profile(texture, style, noise, arch, weights)
    return {1: rows[1], 2: rows[1], 3: rows[5], 4: rows[5], 5: rows[5]}


WRONG_ANSWERS = {
    "style_scale_for": [
        (lambda layer, fraction, side, arch: fraction * side / nst.receptive_field(arch, layer)[0], "upside down"),
        (lambda layer, fraction, side, arch: nst.receptive_field(arch, layer)[1] / (fraction * side), "stride"),
        (lambda layer, fraction, side, arch: nst.receptive_field(arch, layer)[0] / side, "divide by the fraction"),
        (lambda layer, fraction, side, arch: nst.receptive_field(arch, layer)[0] * fraction / side, "denominator"),
        (
            lambda layer, fraction, side, arch: nst.receptive_field("vgg19", layer)[0] / (fraction * side),
            "that is vgg19's receptive field",
        ),
        (lambda layer, fraction, side, arch: "bigger", "return a number"),
    ],
    "balanced_layer_weights": [
        (_proportional, "proportional to the losses"),
        (lambda losses: {k: 1 / v for k, v in losses.items()}, "add up to"),
        (lambda losses: {k: 1 / len(losses) for k in losses}, "do not contribute equally"),
        (lambda losses: [1 / v for v in losses.values()], "dict"),
        (lambda losses: {"relu1_1": 1.0}, "the layers of your dict"),
    ],
    "style_profile": [
        (_profile_upside_down, "upside down"),
        (_profile_absolute, "you returned the distances E themselves"),
        (_profile_unnormalised, "not divided by the number of positions"),
        (_profile_style_layers_only, "only the five style layers"),
        (_profile_swapped, "you swapped the style and the reference"),
        (lambda image, style, reference, arch, weights: [1.0], "return a dict"),
    ],
    "figure1_style_row": [
        (lambda style, **options: {0: {}, 1: {}}, "the keys 1, 2, 3, 4, 5"),
        (lambda style, **options: {k: "profile" for k in range(1, 6)}, "should be a profile"),
        (
            lambda style, **options: {k: {l: 1.0 for l in nst.GATYS_STYLE_LAYERS} for k in range(1, 6)},
            "profile every ReLU layer",
        ),
        (_rows_all_the_same, "all five textures are the same"),
        (_rows_reversed, "your textures run the wrong way"),
        (_rows_against_other_noise, "white noise from seed 0"),
    ],
}


def test_style_scale_for_model_answer_on_the_lessons_numbers() -> None:
    assert lesson06.style_scale_for("relu3_1", 24 / 64, 64, "vgg16") == 1.0  # relu3_1 covers 24/64 at scale 1
    assert abs(lesson06.style_scale_for("relu5_1", 0.25, 512, "vgg16") - 132 / 128) < 1e-12


def test_balanced_layer_weights_model_answer_balances_and_sums_to_one() -> None:
    weights = lesson06.balanced_layer_weights({"relu1_1": 2.0, "relu5_1": 0.01})
    assert abs(sum(weights.values()) - 1) < 1e-12
    assert abs(weights["relu1_1"] * 2.0 - weights["relu5_1"] * 0.01) < 1e-12


def test_style_profile_is_one_for_the_reference_and_zero_for_the_style() -> None:
    g = torch.Generator().manual_seed(0)
    style, reference = torch.rand(1, 3, 32, 32, generator=g), torch.rand(1, 3, 32, 32, generator=g)
    same = lesson06.style_profile(reference, style, reference, "vgg11", "random:0")
    assert all(abs(v - 1) < 1e-6 for v in same.values())
    zero = lesson06.style_profile(style, style, reference, "vgg11", "random:0")
    assert all(v < 1e-6 for v in zero.values())
    assert set(same) == {n for n in nst.layer_names("vgg11") if n.startswith("relu")}
