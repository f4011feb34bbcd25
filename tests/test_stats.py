"""Style statistics beyond Gram: oracles from torch, analytic Gaussians and the Gram identity."""

from __future__ import annotations

import math

import pytest
import torch
from oracle import assert_near

import nstlib as nst
from nstlib.loss.stats import StyleTerms, gaussian_w2, masked_gram_matrix, mean_covariance, sqrtm_psd


def _spd(n: int, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, n, generator=g, dtype=torch.float64)
    return a @ a.T + 0.1 * torch.eye(n, dtype=torch.float64)


def test_mean_covariance_matches_torch_cov() -> None:
    f = torch.randn(2, 5, 4, 6)
    mu, cov = mean_covariance(f)
    for b in range(2):
        flat = f[b].flatten(1)
        assert_near(mu[b], flat.mean(1))
        assert_near(cov[b], torch.cov(flat, correction=0))


def test_masked_statistics_are_those_of_the_region() -> None:
    f = torch.randn(1, 4, 6, 6)
    mask = torch.zeros(1, 1, 6, 6)
    mask[..., :, :2] = 1.0  # the two left columns: 12 positions
    region = f[..., :, :2].flatten(2)  # (1, 4, 12)
    mu, cov = mean_covariance(f, mask)
    assert_near(mu[0], region[0].mean(1))
    assert_near(cov[0], torch.cov(region[0], correction=0))
    gram = masked_gram_matrix(f, mask)
    assert_near(gram, region @ region.transpose(1, 2) / (4 * 12))
    # a guidance map's overall scale does not matter, and no mask is the plain chw Gram
    assert_near(masked_gram_matrix(f, 0.3 * mask), gram)
    assert_near(masked_gram_matrix(f, None), nst.gram_matrix(f, normalize="chw"))
    # the Gram matrix mixes covariance and mean: N Ĝ = Σ + μ μᵀ
    mu, cov = mean_covariance(f)
    assert_near(4 * masked_gram_matrix(f, None), cov + mu[:, :, None] * mu[:, None, :])


def test_sqrtm_psd_squares_back() -> None:
    s = _spd(6, 0)
    root = sqrtm_psd(s)
    assert torch.allclose(root @ root, s, atol=1e-9)
    assert torch.allclose(root, root.T, atol=1e-12)


def test_w2_is_zero_to_itself_and_symmetric() -> None:
    s1, s2 = _spd(5, 1), _spd(5, 2)
    mu1, mu2 = torch.randn(5, dtype=torch.float64), torch.randn(5, dtype=torch.float64)
    assert float(gaussian_w2(mu1, s1, mu1, s1)) == pytest.approx(0.0, abs=1e-9)
    assert float(gaussian_w2(mu1, s1, mu2, s2)) == pytest.approx(float(gaussian_w2(mu2, s2, mu1, s1)), rel=1e-9)
    assert float(gaussian_w2(mu1, s1, mu2, s2)) > 0.1


def test_w2_diagonal_and_one_dimensional_cases() -> None:
    # 1-D: W2² = (m1 − m2)² + (σ1 − σ2)²
    w = gaussian_w2(torch.tensor([1.0]), torch.tensor([[4.0]]), torch.tensor([-2.0]), torch.tensor([[0.25]]))
    assert float(w) == pytest.approx(9.0 + (2.0 - 0.5) ** 2, rel=1e-6)
    assert float(
        gaussian_w2(
            torch.tensor([1.0]), torch.tensor([[4.0]]), torch.tensor([-2.0]), torch.tensor([[0.25]]), squared=False
        )
    ) == pytest.approx(math.sqrt(11.25), rel=1e-6)
    # diagonal: ‖Δμ‖² + Σ (√a − √b)²
    a, b = torch.tensor([1.0, 4.0, 9.0]), torch.tensor([16.0, 1.0, 9.0])
    mu1, mu2 = torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 1.0, 0.0])
    want = float((mu1 - mu2).square().sum() + (a.sqrt() - b.sqrt()).square().sum())
    assert float(gaussian_w2(mu1, torch.diag(a), mu2, torch.diag(b))) == pytest.approx(want, rel=1e-6)


def test_w2_two_by_two_non_commuting_closed_form() -> None:
    """For 2×2 SPD K, tr √K = √(tr K + 2 √det K); with K = Σ₂^½ Σ₁ Σ₂^½: tr K = tr Σ₁Σ₂, det K = det Σ₁ det Σ₂."""
    s1 = torch.tensor([[2.0, 0.9], [0.9, 1.0]], dtype=torch.float64)
    s2 = torch.tensor([[1.0, -0.4], [-0.4, 3.0]], dtype=torch.float64)
    cross = math.sqrt(float(torch.trace(s1 @ s2)) + 2 * math.sqrt(float(torch.det(s1) * torch.det(s2))))
    want = float(torch.trace(s1) + torch.trace(s2)) - 2 * cross
    zero = torch.zeros(2, dtype=torch.float64)
    assert float(gaussian_w2(zero, s1, zero, s2)) == pytest.approx(want, rel=1e-10)
    # the naive ‖Σ₁^½ − Σ₂^½‖² is wrong when the covariances do not commute (so the test can tell)
    naive = float((sqrtm_psd(s1) - sqrtm_psd(s2)).square().sum())
    assert abs(naive - want) > 1e-3


@pytest.mark.parametrize("stat", nst.STYLE_STATS)
def test_each_statistic_is_zero_at_the_style_and_positive_elsewhere(stat: str) -> None:
    torch.manual_seed(0)
    style = torch.rand(1, 6, 5, 7)
    terms = StyleTerms([{"x": style}], {"x": 1.0}, stat=stat)
    target = terms.targets[0]["x"]
    assert float(terms.distance(style, target, None)) == pytest.approx(0.0, abs=1e-5 * float(target["ref"]))
    other = torch.rand(1, 6, 5, 7) * 2
    assert float(terms.distance(other, target, None)) > 1e-3 * float(target["ref"])
    # calibrated: an all-zero feature map costs the same for every statistic
    assert float(terms.distance(torch.zeros_like(style), target, None)) == pytest.approx(float(target["ref"]), rel=1e-4)


def test_w2_loss_equals_the_closed_form() -> None:
    torch.manual_seed(1)
    style, x = torch.rand(1, 8, 6, 6), torch.randn(1, 8, 5, 5)
    terms = StyleTerms([{"x": style}], {"x": 1.0}, stat="w2")
    target = terms.targets[0]["x"]
    loss = terms.distance(x, target, None)
    (mu_x, cov_x), (mu_s, cov_s) = mean_covariance(x), mean_covariance(style)
    closed = gaussian_w2(mu_x, cov_x, mu_s, cov_s)
    assert float(loss / target["ref"] * target["zero_w2"]) == pytest.approx(float(closed), rel=1e-4)


def test_w2_gradient_is_finite_with_fewer_positions_than_channels() -> None:
    torch.manual_seed(2)
    style = torch.rand(1, 32, 2, 3)  # 6 positions, 32 channels: singular covariances
    terms = StyleTerms([{"x": style}], {"x": 1.0}, stat="w2")
    x = torch.rand(1, 32, 2, 3, requires_grad=True)
    terms({"x": x})["style:x"].sum().backward()
    assert torch.isfinite(x.grad).all() and float(x.grad.abs().max()) < 1e3


def test_blending_losses_is_matching_the_blended_gram() -> None:
    """Σ_i b_i ‖G − A_i‖² = (Σ b) ‖G − Ā‖² + const: the gradients agree."""
    torch.manual_seed(3)
    s1, s2 = torch.rand(1, 4, 5, 5), torch.rand(1, 4, 5, 5) * 3
    blend = [0.25, 0.75]
    terms = StyleTerms([{"x": s1}, {"x": s2}], {"x": 1.0}, blend=blend)
    x = torch.rand(1, 4, 5, 5, requires_grad=True)
    terms({"x": x})["style:x"].sum().backward()
    mixed = blend[0] * nst.gram_matrix(s1, "chw") + blend[1] * nst.gram_matrix(s2, "chw")
    y = x.detach().clone().requires_grad_(True)
    nst.style_loss(nst.gram_matrix(y, "chw"), mixed).backward()
    assert_near(x.grad, y.grad, rtol=1e-4)


def test_style_terms_explain_bad_options() -> None:
    feats = [{"x": torch.rand(1, 3, 4, 4)}]
    with pytest.raises(nst.InputError, match="statistic"):
        StyleTerms(feats, {"x": 1.0}, stat="moments")
    with pytest.raises(nst.InputError, match="blend"):
        StyleTerms(feats, {"x": 1.0}, blend=[0.5, 0.5])
    with pytest.raises(nst.InputError, match="one mask per style"):
        StyleTerms(feats, {"x": 1.0}, masks=[torch.ones(4, 4)] * 2)
    with pytest.raises(nst.InputError, match="empty"):
        StyleTerms(feats, {"x": 1.0}, masks=[torch.zeros(4, 4)])
    with pytest.raises(nst.InputError, match=r"\[0, 1\]"):
        StyleTerms(feats, {"x": 1.0}, masks=[torch.full((4, 4), 2.0)])


def test_texture_synthesis_with_gram_is_reconstruct(style_image: torch.Tensor) -> None:
    layers = ("relu1_1", "relu2_1")
    small = nst.resize_image(style_image, 32)
    mine = nst.synthesize_texture(small, stat="gram", layers=layers, steps=3, weights="random", progress=False)
    ref = nst.reconstruct(small, layers, mode="style", steps=3, weights="random", device="cpu", progress=False)
    assert mine.history["total"] == pytest.approx(ref.history["total"], rel=1e-5)
    assert_near(mine.image, ref.image, rtol=1e-4)  # two code paths, 3 L-BFGS steps apart: their rounding grows


@pytest.mark.parametrize("stat", ["mean_cov", "w2"])
def test_texture_synthesis_lowers_each_statistic(style_image: torch.Tensor, stat: str) -> None:
    small = nst.resize_image(style_image, 32)
    result = nst.synthesize_texture(
        small, (24, 40), stat=stat, layers=("relu1_1", "relu2_1", "relu3_1"), steps=8, weights="random", progress=False
    )
    assert result.image.shape == (1, 3, 24, 40)
    assert result.history["total"][-1] < 0.5 * result.history["total"][0]


@pytest.mark.gpu
@pytest.mark.parametrize("stat", nst.STYLE_STATS)
def test_statistics_agree_on_cuda(stat: str) -> None:
    torch.manual_seed(4)
    style, x = torch.rand(1, 16, 6, 5), torch.rand(2, 16, 4, 7)
    mask = (torch.rand(1, 1, 4, 7) > 0.5).float()
    on_cpu = StyleTerms([{"x": style}], {"x": 1.0}, stat=stat, masks=[mask])({"x": x})["style:x"]
    on_gpu = StyleTerms([{"x": style.cuda()}], {"x": 1.0}, stat=stat, masks=[mask.cuda()])({"x": x.cuda()})["style:x"]
    assert torch.allclose(on_gpu.cpu(), on_cpu, rtol=1e-4, atol=1e-7)


@pytest.mark.parametrize("stat", nst.STYLE_STATS)
def test_masked_style_term_is_the_unmasked_term_of_the_region(stat: str) -> None:
    """On the CPU: a binary mask at the layer's resolution gives exactly the statistic of the region it keeps."""
    g = torch.Generator().manual_seed(4)
    style, x = torch.rand(1, 6, 8, 8, generator=g), torch.rand(1, 6, 10, 12, generator=g) * 1.5
    mask = torch.zeros(10, 12)
    mask[2:9, 3:10] = 1.0
    masked = StyleTerms([{"a": style}], {"a": 1.0}, stat=stat, masks=[mask])({"a": x})["style:a"]
    region = StyleTerms([{"a": style}], {"a": 1.0}, stat=stat)({"a": x[..., 2:9, 3:10]})["style:a"]
    whole = StyleTerms([{"a": style}], {"a": 1.0}, stat=stat)({"a": x})["style:a"]
    torch.testing.assert_close(masked, region, rtol=1e-5, atol=1e-7)
    assert float((whole - region).abs()) > 1e-3 * float(region.abs())  # the mask matters here
