"""VGGFeatures against torchvision's own VGG carrying the same weights, at every named layer."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
import torchvision

import nstlib as nst
from nstlib.weights.sources import load_vgg_state_dict


def torchvision_vgg(arch: str, weights: str) -> torch.nn.Sequential:
    """torchvision's ``features`` (in-place ReLUs and all) with nstlib's state dict loaded, strictly."""
    with torch.device("meta"):
        features = getattr(torchvision.models, arch)(weights=None).features
    features = features.to_empty(device="cpu")
    features.load_state_dict({k.removeprefix("features."): v for k, v in load_vgg_state_dict(arch, weights).items()})
    return features.eval()


def normalise(image: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(nst.IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(nst.IMAGENET_STD).view(1, 3, 1, 1)
    return (image - mean) / std


@pytest.mark.parametrize("arch", ["vgg19", "vgg16"])
def test_every_layer_matches_torchvision(arch: str) -> None:
    names = nst.layer_names(arch)
    reference = torchvision_vgg(arch, "random:7")
    image = torch.rand(2, 3, 40, 48, generator=torch.Generator().manual_seed(0))
    ours = nst.VGGFeatures(arch, names, weights="random:7", device="cpu")(image)
    assert list(ours) == names
    with torch.no_grad():
        # Run torchvision's modules one by one and copy each output before its in-place ReLU
        # overwrites it: entry i is exactly what features[: i + 1] returns.
        x, wanted = normalise(image), []
        for module in reference:
            x = module(x)
            wanted.append(x.clone())
        for name in names:
            want = wanted[nst.layer_index(arch, name)]
            got = ours[name]
            assert got.shape == want.shape, name
            assert torch.allclose(got, want, rtol=1e-4, atol=1e-5 * float(want.abs().max())), name


def test_conv_is_pre_activation_and_relu_post() -> None:
    feats = nst.VGGFeatures(layers=("conv4_2", "relu4_2"), weights="random", device="cpu")(torch.rand(1, 3, 64, 64))
    assert (feats["conv4_2"] < 0).any(), "conv4_2 must be read before the ReLU"
    assert torch.equal(feats["relu4_2"], feats["conv4_2"].clamp(min=0))  # like with like: ReLU is exact


def test_frozen_and_truncated() -> None:
    vgg = nst.VGGFeatures(layers=("relu1_1", "relu3_1"), weights="random", device="cpu")
    assert not any(p.requires_grad for p in vgg.parameters())
    vgg.train()
    assert not vgg.training
    assert len(vgg.features) == nst.layer_index("vgg19", "relu3_1") + 1
    x = torch.rand(1, 3, 32, 32, requires_grad=True)
    vgg(x)["relu3_1"].sum().backward()
    assert x.grad is not None and x.grad.abs().sum() > 0  # gradients reach the image, not the weights


def test_average_pooling() -> None:
    image = torch.rand(1, 3, 32, 32)
    avg = nst.VGGFeatures(layers=("relu1_2", "pool1", "relu2_1"), weights="random", pooling="avg", device="cpu")(image)
    mx = nst.VGGFeatures(layers=("relu1_2", "pool1"), weights="random", pooling="max", device="cpu")(image)
    assert torch.allclose(avg["pool1"], F.avg_pool2d(avg["relu1_2"], 2))
    assert torch.allclose(mx["pool1"], F.max_pool2d(mx["relu1_2"], 2))
    assert torch.equal(avg["relu1_2"], mx["relu1_2"])  # like with like: the same layers before any pooling
    with pytest.raises(nst.InputError, match="pooling"):
        nst.VGGFeatures(layers="pool1", weights="random", pooling="min")


def test_batch_images_are_independent() -> None:
    vgg = nst.VGGFeatures(layers=("relu3_1",), weights="random", device="cpu")
    a, b = torch.rand(1, 3, 32, 32), torch.rand(1, 3, 32, 32)
    both = vgg(torch.cat([a, b]))["relu3_1"]
    alone = vgg(b)["relu3_1"]
    assert torch.allclose(both[1:], alone, rtol=1e-4, atol=1e-5 * float(alone.abs().max()))


def test_too_small_image_names_the_minimum() -> None:
    vgg = nst.VGGFeatures(layers=("relu5_1",), weights="random", device="cpu")
    with pytest.raises(nst.ImageTooSmallError, match=r"relu5_1 needs at least 16x16 px"):
        vgg(torch.rand(1, 3, 12, 40))
    assert vgg(torch.rand(1, 3, 16, 16))["relu5_1"].shape == (1, 512, 1, 1)


def test_bad_inputs_are_explained() -> None:
    vgg = nst.VGGFeatures(layers=("relu1_1",), weights="random", device="cpu")
    with pytest.raises(nst.InputError, match="NaN"):
        vgg(torch.full((1, 3, 8, 8), float("nan")))
    with pytest.raises(nst.InputError, match="torch.Tensor"):
        vgg([[0.5]])
    with pytest.raises(nst.InputError, match="at least one layer"):
        nst.VGGFeatures(layers=(), weights="random")
