"""Losses against independent computations: einsum, the papers' formulas, autograd, analytic cases."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import nstlib as nst


@pytest.fixture(autouse=True)
def _double_precision():
    """Oracles are compared in double precision; set per test (never at import, which would leak into the
    modules collected after this one) and restored afterwards."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


def feats(b: int = 2, n: int = 3, h: int = 4, w: int = 5, seed: int = 0) -> torch.Tensor:
    return torch.randn(b, n, h, w, generator=torch.Generator().manual_seed(seed))


def test_gram_is_f_f_transpose_per_image() -> None:
    x = feats()
    want = torch.einsum("bik,bjk->bij", x.flatten(2), x.flatten(2))
    assert torch.allclose(nst.gram_matrix(x), want)
    # never mixes the images of a batch
    for i in range(x.shape[0]):
        assert torch.allclose(nst.gram_matrix(x[i : i + 1])[0], want[i])


def test_gram_worked_example_by_hand() -> None:
    """Entry (i, j) is the dot product of channel i's and channel j's activations: the worked example of T. Wang's
    presentation *A Neural Algorithm of Artistic Style*."""
    a = torch.tensor([[1.0, 2.0, 0.0, 1.0], [0.0, 1.0, 3.0, 1.0]]).reshape(1, 2, 2, 2)
    g = nst.gram_matrix(a)[0]
    assert g.tolist() == [[1 + 4 + 0 + 1, 0 + 2 + 0 + 1], [3, 0 + 1 + 9 + 1]]
    assert torch.equal(g, g.T)


@pytest.mark.parametrize(
    "norm, divisor", [("gatys", lambda n, m: 2 * n * m), ("chw", lambda n, m: n * m), ("hw", lambda n, m: m)]
)
def test_gram_normalisations(norm, divisor) -> None:
    x = feats()
    n, m = x.shape[1], x.shape[2] * x.shape[3]
    assert torch.allclose(nst.gram_matrix(x, normalize=norm), nst.gram_matrix(x) / divisor(n, m))


def test_style_loss_gatys_equals_the_papers_E_l() -> None:
    """E_l = 1/(4 N² M²) Σ_ij (G_ij − A_ij)² with raw Gram matrices (Gatys et al. 2016, eq. 4)."""
    x, s = feats(1, 4, 3, 5, seed=1), feats(1, 4, 3, 5, seed=2)
    n, m = 4, 15
    g_raw, a_raw = x.reshape(n, m) @ x.reshape(n, m).T, s.reshape(n, m) @ s.reshape(n, m).T
    e_l = ((g_raw - a_raw) ** 2).sum() / (4 * n**2 * m**2)
    got = nst.style_loss(nst.gram_matrix(x, "gatys"), nst.gram_matrix(s, "gatys"), reduction="gatys")
    assert torch.allclose(got, e_l)


def test_style_loss_mean_is_the_torchvision_era_mse() -> None:
    x, s = feats(seed=3), feats(seed=4)
    g, a = nst.gram_matrix(x, "chw"), nst.gram_matrix(s, "chw")
    assert torch.allclose(nst.style_loss(g, a), F.mse_loss(g[0], a[0]) + F.mse_loss(g[1], a[1]))


def test_style_gradient_is_gatys_eq_6() -> None:
    """∂E_l/∂F = 1/(N² M²) (G − A) F  (Gatys et al. 2016, eq. 6, before the ReLU mask)."""
    n, m = 3, 8
    x = feats(1, n, 2, 4, seed=5).requires_grad_(True)
    s = feats(1, n, 2, 4, seed=6)
    nst.style_loss(nst.gram_matrix(x, "gatys"), nst.gram_matrix(s, "gatys"), reduction="gatys").backward()
    f = x.detach().reshape(n, m)
    g, a = f @ f.T, s.reshape(n, m) @ s.reshape(n, m).T
    assert torch.allclose(x.grad.reshape(n, m), (g - a) @ f / (n**2 * m**2))


def test_content_loss_forms_and_gradient() -> None:
    """L_content = ½ Σ (F − P)² with gradient F − P (Gatys et al. 2016, eqs. 1-2)."""
    x = feats(seed=7).requires_grad_(True)
    p = feats(seed=8)
    loss = nst.content_loss(x, p, reduction="gatys")
    assert torch.allclose(loss, 0.5 * ((x - p) ** 2).sum())
    loss.backward()
    assert torch.allclose(x.grad, x.detach() - p)
    assert torch.allclose(nst.content_loss(x, p), F.mse_loss(x[:1], p[:1]) + F.mse_loss(x[1:], p[1:]))
    assert torch.allclose(nst.content_loss(x, p, reduction="sum"), ((x - p) ** 2).sum())


def test_per_image_and_broadcast_target() -> None:
    x, p = feats(3), feats(1, seed=9)
    per = nst.content_loss(x, p, per_image=True)
    assert per.shape == (3,)
    assert torch.allclose(per.sum(), nst.content_loss(x, p))
    assert torch.allclose(per[1], nst.content_loss(x[1:2], p))
    g = nst.gram_matrix(x, "chw")
    assert nst.style_loss(g, g[:1], per_image=True)[0] == 0  # like with like: the same Gram matrix twice


def test_tv_loss_analytic() -> None:
    # horizontal ramp 0, 1, 2, 3: |Δx| = 1 everywhere, Δy = 0 -> ½ (0 + 1)
    ramp = torch.arange(4.0).expand(1, 3, 5, 4)
    assert torch.isclose(nst.tv_loss(ramp), torch.tensor(0.5))
    assert torch.isclose(nst.tv_loss(2 * ramp, p=2), torch.tensor(0.5 * 4))
    assert nst.tv_loss(torch.full((2, 3, 4, 4), 0.3), per_image=True).tolist() == [0.0, 0.0]


def test_losses_refuse_mismatched_shapes() -> None:
    with pytest.raises(nst.InputError, match="differ in shape"):
        nst.content_loss(feats(n=3), feats(n=4))
    with pytest.raises(nst.InputError, match="B, C, H, W"):
        nst.gram_matrix(torch.zeros(3, 4))
    with pytest.raises(nst.InputError, match="normalize"):
        nst.gram_matrix(feats(), normalize="bogus")
    with pytest.raises(nst.InputError, match="reduction"):
        nst.content_loss(feats(), feats(), reduction="avg")
