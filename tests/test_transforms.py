"""AdaIN and WCT against their closed forms: the statistics they promise, and WCT on R, G, B against lesson 8's
colour matching (nst.match_colour, eigen variant), an independent implementation."""

from __future__ import annotations

import pytest
import torch

import nstlib as nst


def _pair() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    content = torch.randn(2, 6, 9, 11, generator=g, dtype=torch.float64)
    style = 2.5 * torch.randn(2, 6, 8, 8, generator=g, dtype=torch.float64) + 0.7
    style[:, 1] += 0.8 * style[:, 0]  # correlated channels: WCT must carry the correlation, AdaIN cannot
    return content, style


def test_adain_gives_each_channel_the_styles_mean_and_deviation() -> None:
    content, style = _pair()
    out = nst.adain(content, style, eps=0.0)
    assert torch.allclose(out.mean(dim=(2, 3)), style.mean(dim=(2, 3)), atol=1e-10)
    assert torch.allclose(out.std(dim=(2, 3), unbiased=False), style.std(dim=(2, 3), unbiased=False), atol=1e-10)
    by_hand = (content[0, 3] - content[0, 3].mean()) / content[0, 3].std(unbiased=False) * style[0, 3].std(
        unbiased=False
    ) + style[0, 3].mean()
    assert torch.allclose(out[0, 3], by_hand)
    assert not torch.allclose(out.flatten(2) @ out.flatten(2).transpose(1, 2) / 99, nst.mean_covariance(style)[1])


def test_wct_gives_the_styles_mean_and_covariance_and_alpha_blends() -> None:
    content, style = _pair()
    out = nst.wct(content, style)
    mu_o, cov_o = nst.mean_covariance(out)
    mu_s, cov_s = nst.mean_covariance(style)
    assert torch.allclose(mu_o, mu_s, atol=1e-9) and torch.allclose(cov_o, cov_s, atol=1e-8)
    assert torch.allclose(nst.wct(content, style, alpha=0.0), content)
    half = nst.wct(content, style, alpha=0.5)
    assert torch.allclose(half, 0.5 * out + 0.5 * content)
    with pytest.raises(nst.InputError):
        nst.wct(content, style[:, :4])
    with pytest.raises(nst.InputError):
        nst.wct(content, style, alpha=2.0)


def test_wct_on_rgb_is_eigen_colour_matching() -> None:
    photo = nst.load_image("images/chelsea.jpg", size=48)
    painting = nst.load_image("images/starry_night.jpg", size=48)
    want = nst.match_colour(photo, painting, method="eigen", clamp=False)
    assert torch.allclose(nst.wct(photo, painting).float(), want, atol=1e-3)
