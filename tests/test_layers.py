"""Layer names and shapes against torchvision's own VGG definitions."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

import nstlib as nst
from nstlib.net.layers import conv_shapes


def torchvision_features(arch: str) -> nn.Sequential:
    """torchvision's own VGG ``features``, built on the meta device (shapes only, instant)."""
    with torch.device("meta"):
        return getattr(torchvision.models, arch)(weights=None).features


@pytest.mark.parametrize("arch, convs", [("vgg11", 8), ("vgg13", 10), ("vgg16", 13), ("vgg19", 16)])
def test_layer_names_follow_torchvision_features(arch: str, convs: int) -> None:
    names = nst.layer_names(arch)
    features = torchvision_features(arch)
    assert len(names) == len(features) == 2 * convs + 5
    kinds = {"conv": nn.Conv2d, "relu": nn.ReLU, "pool": nn.MaxPool2d}
    for index, (name, module) in enumerate(zip(names, features)):
        assert isinstance(module, kinds[name[:4]]), (name, module)
        assert nst.layer_index(arch, name) == index


def test_vgg19_names_are_the_papers() -> None:
    names = nst.layer_names("vgg19")
    assert names[:5] == ["conv1_1", "relu1_1", "conv1_2", "relu1_2", "pool1"]
    assert [n for n in names if n.startswith("conv5")] == ["conv5_1", "conv5_2", "conv5_3", "conv5_4"]
    assert names[-1] == "pool5"
    assert "conv5_4" not in nst.layer_names("vgg16") and "conv5_3" in nst.layer_names("vgg16")
    assert nst.layer_index("vgg19", "conv4_2") == 21 and nst.layer_index("vgg19", "relu4_2") == 22


@pytest.mark.parametrize("arch", ["vgg11", "vgg13", "vgg16", "vgg19"])
def test_conv_shapes_match_torchvision_state_dict(arch: str) -> None:
    state = torchvision_features(arch).state_dict()
    expected = {f"features.{k}": tuple(v.shape) for k, v in state.items()}
    assert conv_shapes(arch) == expected


def test_unknown_layer_and_arch_are_explained() -> None:
    with pytest.raises(nst.InputError, match="no layer 'conv6_1'.*conv5_4"):
        nst.layer_index("vgg19", "conv6_1")
    with pytest.raises(nst.InputError, match="Unknown architecture 'vgg20'"):
        nst.layer_names("vgg20")


@pytest.mark.parametrize(
    "arch, name, field",
    [
        ("vgg19", "conv1_1", 3),
        ("vgg19", "relu1_2", 5),
        ("vgg19", "pool1", 6),
        ("vgg19", "conv2_2", 14),
        ("vgg19", "conv3_4", 48),
        ("vgg19", "conv4_2", 84),
        ("vgg19", "conv5_4", 252),
        ("vgg19", "pool5", 268),
        ("vgg16", "conv5_3", 196),
        ("vgg16", "pool5", 212),  # the textbook VGG16 values
    ],
)
def test_receptive_field_recurrence(arch: str, name: str, field: int) -> None:
    assert nst.receptive_field(arch, name)[0] == field


@pytest.mark.parametrize("name", ["conv1_2", "pool1", "conv2_1", "relu2_2"])
def test_receptive_field_matches_gradient_footprint(name: str) -> None:
    """Oracle: the input pixels a centre unit depends on, found by back-propagation."""
    vgg = nst.VGGFeatures("vgg19", (name,), weights="random", device="cpu")
    field, stride = nst.receptive_field("vgg19", name)
    x = torch.rand(1, 3, 64, 64, requires_grad=True)
    out = vgg(x)[name]
    centre = out.shape[-1] // 2
    # Sum over channels: with random weights some unit reaches every input pixel of its field.
    out[0, :, centre, centre].abs().sum().backward()
    touched = (x.grad.abs().sum(dim=(0, 1)) > 0).nonzero()
    width = int(touched[:, 1].max() - touched[:, 1].min() + 1)
    assert width == field
    assert stride == (2 if name in ("pool1", "conv2_1", "relu2_2") else 1)
