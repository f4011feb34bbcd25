"""nstlib.bench.quality: the measures that judge a picture without the loss, on analytic cases."""

from __future__ import annotations

import pytest
import torch

import nstlib as nst
from nstlib.bench import quality


@pytest.fixture(scope="module")
def vgg() -> nst.VGGFeatures:
    return nst.VGGFeatures("vgg16", quality.held_out_layers("vgg16"), weights="random:1", device="cpu")


def test_held_out_layers_are_the_relus_of_blocks_1_to_3_the_loss_leaves_out() -> None:
    assert quality.held_out_layers("vgg16") == ("relu1_2", "relu2_2", "relu3_2", "relu3_3")
    assert quality.held_out_layers("vgg19") == ("relu1_2", "relu2_2", "relu3_2", "relu3_3", "relu3_4")
    assert quality.held_out_layers("vgg16", used=("relu1_2",), blocks=1) == ("relu1_1",)


def test_held_out_style_is_zero_for_the_painting_and_a_relative_frobenius_error(vgg, style_image) -> None:
    assert quality.held_out_style(style_image, style_image, vgg) == pytest.approx(0.0, abs=1e-6)  # like with like
    # A flat grey picture has none of the painting's texture: clearly worse, and still a finite relative error.
    flat = torch.full_like(style_image, 0.5)
    assert 0 < quality.held_out_style(flat, style_image, vgg) < 10


def test_edge_agreement_is_one_for_the_photo_and_ignores_brightness_but_not_shifts(content_image) -> None:
    assert quality.edge_agreement(content_image, content_image) == pytest.approx(1.0, abs=1e-5)
    brighter = content_image * 0.5 + 0.25  # the same edges, half the contrast: correlation unchanged
    assert quality.edge_agreement(brighter, content_image) == pytest.approx(1.0, abs=1e-4)
    moved = torch.roll(content_image, shifts=(0, 9), dims=(2, 3))
    assert quality.edge_agreement(moved, content_image) < 0.6
    noise = torch.rand(content_image.shape, generator=torch.Generator().manual_seed(0))
    assert abs(quality.edge_agreement(noise, content_image)) < 0.2


def test_colour_distance_is_zero_for_a_permutation_of_the_pixels_and_grows_with_a_shift(style_image) -> None:
    flat = style_image.flatten(2)
    shuffled = flat[:, :, torch.randperm(flat.shape[-1], generator=torch.Generator().manual_seed(0))].view_as(
        style_image
    )
    # a few float32 roundings of the projections (scale ~1) from 0; a 2 % darkening gives ~0.01
    assert quality.colour_distance(shuffled, style_image) == pytest.approx(0.0, abs=1e-5)
    shifted = (style_image + 0.1).clamp(0, 1)
    assert quality.colour_distance(shifted, style_image) > quality.colour_distance(style_image * 0.98, style_image)


def test_judge_ranks_the_photo_and_the_painting_each_best_at_its_own_measure(vgg, content_image, style_image) -> None:
    painting = nst.resize_image(style_image, tuple(content_image.shape[-2:]))
    photo = quality.judge(content_image, content_image, style_image, vgg=vgg)
    art = quality.judge(painting, content_image, style_image, vgg=vgg)
    assert photo["edges"] > art["edges"] and art["style"] < photo["style"] and art["colours"] < photo["colours"]
    assert quality.at_least_as_good(photo, photo) and not quality.at_least_as_good(photo, art)
    near = dict(photo, style=photo["style"] * 1.005)
    assert not quality.at_least_as_good(near, photo) and quality.at_least_as_good(near, photo, tolerance=0.01)


def test_layout_agreement_sees_light_and_dark_that_edges_cannot(content_image) -> None:
    assert quality.layout_agreement(content_image, content_image) == pytest.approx(1.0, abs=1e-5)
    inverted = 1 - content_image  # the same edges, light and dark swapped
    assert quality.edge_agreement(inverted, content_image) == pytest.approx(1.0, abs=1e-4)
    assert quality.layout_agreement(inverted, content_image) == pytest.approx(-1.0, abs=1e-4)
    # fine texture on top of the photo (a stroke per pixel) leaves the block averages, and so the layout, in place
    grain = torch.rand(content_image.shape, generator=torch.Generator().manual_seed(1)) - 0.5
    assert quality.layout_agreement((content_image + 0.3 * grain).clamp(0, 1), content_image) > 0.95
    # the block size follows the picture: 32 blocks along the long side, whatever its size
    half = nst.resize_image(content_image, (content_image.shape[-2] // 2, content_image.shape[-1] // 2))
    assert quality.layout_agreement(half, content_image) > 0.98


def test_at_least_as_good_judges_the_layout_too(vgg, content_image, style_image) -> None:
    photo = quality.judge(content_image, content_image, style_image, vgg=vgg)
    assert quality.at_least_as_good(photo, photo)
    assert not quality.at_least_as_good(dict(photo, layout=photo["layout"] - 0.1), photo)
    bar_without_layout = {k: v for k, v in photo.items() if k != "layout"}  # saved before the measure existed
    assert quality.at_least_as_good(dict(photo, layout=-1.0), bar_without_layout)
