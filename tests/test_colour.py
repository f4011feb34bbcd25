"""Colour control (Gatys et al. 2017): colour spaces against Pillow, chroma kept, moments matched."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import nstlib as nst


def test_colour_spaces_round_trip_and_white() -> None:
    image = torch.rand(2, 3, 5, 7)
    assert torch.allclose(nst.yiq_to_rgb(nst.rgb_to_yiq(image)), image, atol=1e-5)
    assert torch.allclose(nst.ycbcr_to_rgb(nst.rgb_to_ycbcr(image)), image, atol=1e-5)
    white = nst.rgb_to_yiq(torch.ones(1, 3, 1, 1)).flatten()
    assert torch.allclose(white, torch.tensor([1.0, 0.0, 0.0]), atol=1e-5)  # grey has no chroma
    grey = nst.rgb_to_ycbcr(torch.full((1, 3, 1, 1), 0.3)).flatten()
    assert torch.allclose(grey, torch.tensor([0.3, 0.0, 0.0]), atol=1e-5)


def test_luminance_and_ycbcr_match_pillow(content_image: torch.Tensor) -> None:
    """Oracle: Pillow's 'L' (ITU-R 601-2 luma) and 'YCbCr' (JPEG, chroma offset 128) conversions."""
    pil = nst.to_pil(content_image)
    array = torch.from_numpy(np.array(pil)).permute(2, 0, 1)[None].float() / 255.0  # exactly the 8-bit image
    y_pillow = torch.from_numpy(np.array(pil.convert("L"))).float() / 255.0
    assert (nst.luminance(array)[0, 0] - y_pillow).abs().max() < 1.5 / 255
    ycc_pillow = torch.from_numpy(np.array(pil.convert("YCbCr"))).permute(2, 0, 1).float() / 255.0
    ycc = nst.rgb_to_ycbcr(array)[0] + torch.tensor([0.0, 128 / 255, 128 / 255])[:, None, None]
    assert (ycc - ycc_pillow).abs().max() < 1.5 / 255


def test_combine_luminance_keeps_the_chroma(content_image: torch.Tensor, style_image: torch.Tensor) -> None:
    luma = nst.resize_image(style_image, tuple(content_image.shape[-2:]))
    out = nst.combine_luminance(luma, content_image)
    assert out.shape == content_image.shape
    inside = ((out > 1e-4) & (out < 1 - 1e-4)).all(dim=1)  # pixels the clamp did not touch
    assert inside.float().mean() > 0.8
    yiq_out, yiq_content, yiq_luma = nst.rgb_to_yiq(out), nst.rgb_to_yiq(content_image), nst.rgb_to_yiq(luma)
    assert (yiq_out[:, 1:] - yiq_content[:, 1:]).abs().amax(dim=1)[inside].max() < 1e-4  # I, Q from the content
    assert (yiq_out[:, 0] - yiq_luma[:, 0]).abs()[inside].max() < 1e-4  # Y from the other image


def test_match_luminance_moments(content_image: torch.Tensor, style_image: torch.Tensor) -> None:
    matched = nst.match_luminance(style_image, content_image)
    assert matched.shape == style_image.shape
    assert torch.equal(matched[:, 0], matched[:, 1]) and torch.equal(matched[:, 1], matched[:, 2])  # one, expanded
    yc = nst.luminance(content_image)[:, 0]
    assert float(matched[:, 0].mean()) == pytest.approx(float(yc.mean()), abs=0.01)
    assert float(matched[:, 0].std()) == pytest.approx(float(yc.std()), rel=0.05)


@pytest.mark.parametrize("method", ["cholesky", "eigen"])
def test_match_colour_gives_the_target_mean_and_covariance(
    content_image: torch.Tensor, style_image: torch.Tensor, method: str
) -> None:
    out = nst.match_colour(style_image, content_image, method=method, clamp=False)
    assert out.shape == style_image.shape
    (mu, cov), (mu_t, cov_t) = nst.colour_stats(out), nst.colour_stats(content_image)
    assert torch.allclose(mu, mu_t, atol=1e-5)
    assert torch.allclose(cov, cov_t, atol=1e-4 * float(cov_t.abs().max()) + 1e-5)
    # the oracle is torch.cov over the pixels
    assert torch.allclose(cov_t[0], torch.cov(content_image[0].flatten(1), correction=0), atol=1e-6)
    # clamped to [0, 1], the statistics are still close
    clamped = nst.match_colour(style_image, content_image, method=method)
    assert float(clamped.min()) >= 0 and float(clamped.max()) <= 1
    assert (nst.colour_stats(clamped)[0] - mu_t).abs().max() < 0.03


def test_the_two_maps_differ_but_both_match() -> None:
    """Cholesky and eigen give different A (both with A Σ_S Aᵀ = Σ_T): the choice changes the picture."""
    g = torch.Generator().manual_seed(0)
    source = torch.rand(1, 3, 16, 16, generator=g) * torch.tensor([1.0, 0.5, 0.2])[:, None, None]
    target = torch.rand(1, 3, 16, 16, generator=g).flip(1) * 0.8
    a = nst.match_colour(source, target, "cholesky", clamp=False)
    b = nst.match_colour(source, target, "eigen", clamp=False)
    assert (a - b).abs().max() > 0.01
    for out in (a, b):
        assert torch.allclose(nst.colour_stats(out)[1], nst.colour_stats(target)[1], atol=1e-4)


def test_match_colour_handles_a_grey_source_and_explains_bad_method(content_image: torch.Tensor) -> None:
    grey = nst.luminance(content_image)  # singular colour covariance
    out = nst.match_colour(grey, content_image)
    assert torch.isfinite(out).all()
    with pytest.raises(nst.InputError, match="method"):
        nst.match_colour(grey, content_image, method="pca")
    with pytest.raises(nst.InputError, match="space"):
        nst.luminance(content_image, space="lab")  # type: ignore[arg-type]


def test_luminance_only_transfer_keeps_the_contents_chroma(
    content_image: torch.Tensor, style_image: torch.Tensor
) -> None:
    result = nst.stylize_luminance(
        content_image,
        style_image,
        steps=4,
        weights="random",
        device="cpu",
        progress=False,
        style_layers=("relu1_1", "relu2_1"),
    )
    out = result.image
    assert out.shape == content_image.shape
    inside = ((out > 1e-4) & (out < 1 - 1e-4)).all(dim=1)
    assert inside.float().mean() > 0.8
    chroma_out, chroma_content = nst.rgb_to_yiq(out)[:, 1:], nst.rgb_to_yiq(content_image)[:, 1:]
    assert (chroma_out - chroma_content).abs().amax(dim=1)[inside].max() < 1e-4
    # the luminance did change (the transfer happened), and is the grey result's
    grey = result.settings["luminance_image"]
    assert (nst.luminance(out) - nst.luminance(content_image)).abs().mean() > 1e-3
    assert (nst.luminance(out)[:, 0] - nst.luminance(grey)[:, 0]).abs()[inside].max() < 1e-4
    assert result.settings["colour"] == "luminance"


def test_yiq_against_colorsys() -> None:
    """Oracle: Python's colorsys (its YIQ rows are the NTSC ones rounded to two digits, so within 0.01)."""
    import colorsys

    rgb = torch.rand(1, 3, 6, 7, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    mine = nst.rgb_to_yiq(rgb)[0].permute(1, 2, 0).reshape(-1, 3)
    theirs = torch.tensor(
        [colorsys.rgb_to_yiq(*p) for p in rgb[0].permute(1, 2, 0).reshape(-1, 3).tolist()], dtype=torch.float64
    )
    assert (mine - theirs).abs().max() < 0.01
    assert (theirs[:, 1:].abs().max(0).values > 0.1).all()  # the chroma rows are really exercised
    back = nst.yiq_to_rgb(theirs.T.reshape(1, 3, 6, 7))[0].permute(1, 2, 0).reshape(-1, 3)
    again = torch.tensor([colorsys.yiq_to_rgb(*p) for p in theirs.tolist()], dtype=torch.float64)
    assert (back - again).abs().max() < 0.02
