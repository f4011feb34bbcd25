"""LowPrecisionFeatures (nstlib.net.frozen): the network run end to end in bf16 with fused conv+ReLU and a
transposed-convolution backward, against the network itself (float32, and bf16 under autocast), and the Gram
matrix's channels_last path against the plain one."""

from __future__ import annotations

import pytest
import torch

import nstlib as nst
from nstlib.net import frozen

LAYERS = nst.GATYS_STYLE_LAYERS + (nst.GATYS_CONTENT_LAYER,)


def _features_and_gradient(network, image: torch.Tensor, autocast: bool = False):
    x = image.clone().requires_grad_(True)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        feats = network(x)
    # a loss that touches every layer, with gradients through the Gram matrices as in stylize
    sum(
        nst.gram_matrix(f.float(), "chw").square().mean() + f.float().square().mean() for f in feats.values()
    ).backward()
    return {n: f.detach().float() for n, f in feats.items()}, x.grad


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a - b).detach().norm() / b.detach().norm().clamp_min(1e-30))


@pytest.fixture(scope="module")
def image() -> torch.Tensor:
    return torch.rand(1, 3, 40, 48, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("pooling", ["max", "avg"])
@pytest.mark.parametrize("pack", [True, False])
def test_float32_copy_equals_the_network_features_and_gradient(image, pooling, pack, monkeypatch) -> None:
    """In float32 the fused path is the same arithmetic as the module path: conv+ReLU forward, and the input
    gradient Wᵀ ⋆ (g·[y > 0]) as a transposed convolution (packed by oneDNN or plain)."""
    vgg = nst.VGGFeatures(layers=LAYERS + ("conv4_2",), weights="random:1", device="cpu", pooling=pooling)
    if not pack:
        monkeypatch.setattr(frozen, "_onednn_ops", lambda: False)
    low = frozen.LowPrecisionFeatures(vgg, torch.float32)
    want, want_grad = _features_and_gradient(vgg, image)
    got, grad = _features_and_gradient(low, image)
    assert list(got) == list(want)
    for name in want:
        assert _rel(got[name], want[name]) < 1e-5, name
    assert _rel(grad, want_grad) < 2e-3  # other kernels, other rounding: a wrong mask or weight gives O(1)
    assert grad.dtype == torch.float32


def test_bf16_copy_matches_autocast_and_stays_near_float32(image) -> None:
    vgg = nst.VGGFeatures(layers=LAYERS, weights="random:2", device="cpu", channels_last=True)
    low = frozen.LowPrecisionFeatures(vgg)
    got, grad = _features_and_gradient(low, image)
    auto, auto_grad = _features_and_gradient(vgg, image, autocast=True)
    exact, exact_grad = _features_and_gradient(vgg, image)
    for name in LAYERS:
        assert _rel(got[name], auto[name]) < 1e-2, name  # the same bf16 arithmetic, other kernels
        assert _rel(got[name], exact[name]) < 3e-2, name  # bf16's 8-bit mantissa
    assert _rel(grad, auto_grad) < 5e-2
    assert _rel(grad, exact_grad) < 0.3  # random weights amplify bf16's rounding in the gradient
    assert float(torch.nn.functional.cosine_similarity(grad.flatten(), exact_grad.flatten(), dim=0)) > 0.95


def test_bf16_copy_keeps_the_networks_checks(image) -> None:
    low = frozen.LowPrecisionFeatures(nst.VGGFeatures(layers=LAYERS, weights="random", device="cpu"))
    with pytest.raises(nst.ImageTooSmallError):
        low(torch.rand(1, 3, 8, 8))
    with pytest.raises(nst.InputError):
        low(torch.rand(3, 8))
    assert all(f.dtype == torch.bfloat16 for f in low(image).values())


def test_packing_is_made_once_per_input_size(image, monkeypatch) -> None:
    if not frozen._onednn_ops():
        pytest.skip("this torch build has no oneDNN convolution ops")
    # float32: oneDNN packs it on every CPU (bf16 packing needs avx512_core; elsewhere the plain path runs)
    vgg = nst.VGGFeatures(layers=("relu2_1",), weights="random", device="cpu")
    low = frozen.LowPrecisionFeatures(vgg, torch.float32)
    calls = []
    real = torch.ops.mkldnn._reorder_convolution_transpose_weight
    monkeypatch.setattr(
        torch.ops.mkldnn, "_reorder_convolution_transpose_weight", lambda *a: calls.append(1) or real(*a)
    )
    for _ in range(3):
        low(image)
    assert len(calls) == 3  # relu1_1, relu1_2, relu2_1: once each
    low(torch.rand(1, 3, 32, 32))
    assert len(calls) == 6


@pytest.mark.parametrize("batch", [1, 2])
@pytest.mark.parametrize("dtype", [torch.float64, torch.bfloat16])
def test_gram_of_channels_last_features_equals_the_plain_layout(batch, dtype) -> None:
    """The positions-first view of channels_last maps (plain strides, one matmul each way) against the
    (B, N, M) reshape of contiguous maps: the same matrices and gradients, the gradient in the maps' layout."""
    f = torch.rand(batch, 6, 5, 7, generator=torch.Generator().manual_seed(batch), dtype=torch.float64)
    weights = torch.rand(batch, 6, 6, generator=torch.Generator().manual_seed(9), dtype=torch.float64)
    results = []
    for layout in (torch.contiguous_format, torch.channels_last):
        x = f.to(dtype).contiguous(memory_format=layout).detach().clone(memory_format=layout).requires_grad_(True)
        gram = nst.gram_matrix(x, "chw")
        (gram.double() * weights).sum().backward()
        assert x.grad.is_contiguous(memory_format=layout)
        results.append((gram.double(), x.grad.double()))
    tol = 1e-12 if dtype == torch.float64 else 1e-2
    assert _rel(results[1][0], results[0][0]) < tol and _rel(results[1][1], results[0][1]) < tol
    if dtype == torch.float64:
        x = (
            f.contiguous(memory_format=torch.channels_last)
            .detach()
            .clone(memory_format=torch.channels_last)
            .requires_grad_(True)
        )
        assert torch.autograd.gradcheck(lambda t: nst.gram_matrix(t, "chw"), (x,))
