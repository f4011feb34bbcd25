"""stylize with several styles, blend weights, masks and other statistics (Gatys et al. 2017)."""

from __future__ import annotations

import pytest
import torch

import nstlib as nst

SMALL = dict(weights="random", device="cpu", progress=False)
SHALLOW = ("relu1_1", "relu2_1", "relu3_1")  # small receptive fields: regions stay regions


def _flat_style(rgb: tuple[float, float, float], seed: int) -> torch.Tensor:
    """A noisy texture around one colour."""
    g = torch.Generator().manual_seed(seed)
    return (torch.tensor(rgb)[None, :, None, None] + 0.15 * torch.randn(1, 3, 48, 48, generator=g)).clamp(0, 1)


def test_one_style_in_a_list_is_the_same_run(content_image: torch.Tensor, style_image: torch.Tensor) -> None:
    one = nst.stylize(content_image, style_image, steps=3, **SMALL)
    listed = nst.stylize(content_image, [style_image], steps=3, **SMALL)
    other = torch.rand_like(style_image)
    silent = nst.stylize(content_image, [style_image, other], style_blend=[1.0, 0.0], steps=3, **SMALL)
    # like with like: the same kernels on the same images, and 1·L_a + 0·L_b is L_a bit for bit
    assert one.history["total"] == listed.history["total"] == silent.history["total"]
    assert torch.equal(one.image, silent.image)
    assert silent.settings["styles"] == 2 and silent.settings["style_blend"] == [1.0, 0.0]


def test_blend_weights_weigh_each_styles_loss(content_image: torch.Tensor, style_image: torch.Tensor) -> None:
    """Oracle: at step 1 (the content image) each style term is Σ_i b_i × that style's own term."""
    other = nst.load_image(nst.__file__.rsplit("nstlib", 1)[0] + "images/style_dots.jpg", size=64)
    a = nst.stylize(content_image, style_image, steps=1, **SMALL)
    b = nst.stylize(content_image, other, steps=1, **SMALL)
    mix = nst.stylize(content_image, [style_image, other], style_blend=[0.3, 0.7], steps=1, **SMALL)
    for layer in nst.GATYS_STYLE_LAYERS:
        key = f"style:{layer}"
        assert mix.history[key][0] == pytest.approx(0.3 * a.history[key][0] + 0.7 * b.history[key][0], rel=1e-5)
    default = nst.stylize(content_image, [style_image, other], steps=1, **SMALL)  # 1/K each
    assert default.history["style"][0] == pytest.approx(0.5 * (a.history["style"][0] + b.history["style"][0]), rel=1e-5)


def _left_right_change(result: torch.Tensor, content: torch.Tensor) -> tuple[float, float]:
    w = content.shape[-1]
    diff = (result - content).abs()
    return float(diff[..., : int(0.4 * w)].mean()), float(diff[..., int(0.6 * w) :].mean())


def test_a_mask_confines_the_style_to_its_region(content_image: torch.Tensor, style_image: torch.Tensor) -> None:
    h, w = content_image.shape[-2:]
    left = torch.zeros(h, w)
    left[:, : w // 2] = 1.0
    # tv_weight=0: outside the mask only the content loss acts, and it is zero at the start (init = content)
    masked = nst.stylize(
        content_image, style_image, style_masks=[left], style_layers=SHALLOW, steps=12, tv_weight=0.0, **SMALL
    )
    inside, outside = _left_right_change(masked.image, content_image)
    assert inside > 10 * outside  # the style went where the mask is, the rest stays close to the content
    free = nst.stylize(content_image, style_image, style_layers=SHALLOW, steps=12, tv_weight=0.0, **SMALL)
    assert _left_right_change(free.image, content_image)[1] > 10 * outside  # without the mask the right changes


def test_two_styles_in_two_regions_any_mask_resolution(content_image: torch.Tensor) -> None:
    red, blue = _flat_style((0.9, 0.2, 0.1), 0), _flat_style((0.1, 0.2, 0.9), 1)
    left = torch.zeros(16, 16)
    left[:, :8] = 1.0  # a coarse mask: it is resized to the image and to every layer
    result = nst.stylize(
        content_image, [red, blue], style_masks=[left, 1 - left], style_layers=SHALLOW, steps=15, **SMALL
    ).image
    w = result.shape[-1]
    l_img, r_img = result[..., : int(0.4 * w)], result[..., int(0.6 * w) :]
    redness = lambda x: float((x[:, 0] - x[:, 2]).mean())  # noqa: E731
    assert redness(l_img) > redness(content_image[..., : int(0.4 * w)]) + 0.05
    assert redness(r_img) < redness(content_image[..., int(0.6 * w) :]) - 0.05


def test_masks_follow_a_coarse_to_fine_run(content_image: torch.Tensor, style_image: torch.Tensor) -> None:
    h, w = content_image.shape[-2:]
    left = torch.zeros(h, w)
    left[:, : w // 2] = 1.0
    options = dict(style_layers=SHALLOW, scales=(32,), steps=(6, 4), tv_weight=0.0, **SMALL)
    result = nst.stylize(content_image, style_image, style_masks=[left], **options)
    assert result.image.shape == content_image.shape
    # the coarse stage blurs everything; the oracle is the same run without any style
    plain = nst.stylize(content_image, style_image, style_weight=0.0, **options)
    inside, outside = _left_right_change(result.image, plain.image)
    assert inside > 2.5 * outside


@pytest.mark.parametrize("stat", ["mean_cov", "w2"])
def test_other_statistics_through_stylize(content_image: torch.Tensor, style_image: torch.Tensor, stat: str) -> None:
    result = nst.stylize(content_image, style_image, style_stat=stat, style_layers=SHALLOW, steps=8, **SMALL)
    assert result.image.shape == content_image.shape
    assert result.history["style"][-1] < 0.7 * result.history["style"][0]
    assert result.settings["style_stat"] == stat


def test_bad_control_options_are_explained(content_image: torch.Tensor, style_image: torch.Tensor) -> None:
    with pytest.raises(nst.InputError, match="statistic"):
        nst.stylize(content_image, style_image, style_stat="moments", steps=1, **SMALL)
    with pytest.raises(nst.InputError, match="blend weight"):
        nst.stylize(content_image, [style_image, style_image], style_blend=[1.0], steps=1, **SMALL)
    with pytest.raises(nst.InputError, match="mask"):
        nst.stylize(content_image, style_image, style_masks=[torch.ones(8, 8)] * 2, steps=1, **SMALL)
