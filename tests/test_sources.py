"""The weights-source table: input conventions, default loss weights and layer balance, arch resolution."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from oracle import assert_near

import nstlib as nst
from nstlib.net.conventions import CAFFE_CONVENTION, IMAGENET_CONVENTION
from nstlib.weights import sources


def test_conventions_are_the_published_formulas_and_undo_inverts_them() -> None:
    x = torch.rand(2, 3, 5, 4, generator=torch.Generator().manual_seed(0))
    imagenet = (x - torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)) / torch.tensor([0.229, 0.224, 0.225]).view(
        1, 3, 1, 1
    )
    caffe = torch.stack([x[:, 2], x[:, 1], x[:, 0]], dim=1) * 255 - torch.tensor([103.939, 116.779, 123.68]).view(
        1, 3, 1, 1
    )
    assert torch.allclose(IMAGENET_CONVENTION.apply(x), imagenet, atol=1e-6)
    assert torch.allclose(CAFFE_CONVENTION.apply(x), caffe, atol=1e-4)
    for convention in (IMAGENET_CONVENTION, CAFFE_CONVENTION):
        assert torch.allclose(convention.undo(convention.apply(x)), x, atol=1e-5)


def test_vggfeatures_feeds_its_first_convolution_the_sources_convention() -> None:
    x = torch.rand(1, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    vgg = nst.VGGFeatures("vgg19", ("conv1_1",), weights="random:2", device="cpu")
    conv = vgg.features[0]
    want = F.conv2d(IMAGENET_CONVENTION.apply(x), conv.weight, conv.bias, padding=1)
    assert vgg.convention is IMAGENET_CONVENTION
    assert_near(vgg(x)["conv1_1"], want)


def test_arch_follows_the_weights_unless_given() -> None:
    assert sources.resolve_arch(None, "imagenet") == "vgg19" and sources.resolve_arch(None, "random:3") == "vgg19"
    assert sources.resolve_arch(None, "hed") == "vgg16" and sources.resolve_arch(None, "x.weights.h5") == "vgg16"
    assert sources.resolve_arch("vgg13", "random") == "vgg13"
    with pytest.raises(nst.WeightsError, match="are for vgg16, not vgg19"):
        sources.resolve_arch("vgg19", "hed")
    with pytest.raises(nst.InputError, match="Unknown architecture 'vgg20'"):
        sources.resolve_arch("vgg20", "imagenet")


def test_weights_key_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NSTLIB_WEIGHTS", "hed")
    assert sources.weights_key(None) == "hed" and sources.weights_source(None).name == "hed"
    monkeypatch.setenv("NSTLIB_WEIGHTS", "random:4")
    assert sources.weights_key(None) == "random:4" and sources.weights_source(None).name == "random"
    with pytest.raises(nst.WeightsError, match="integer seed"):
        sources.weights_key("random:x")


def test_layer_balance_equal_or_gatys() -> None:
    layers = nst.GATYS_STYLE_LAYERS
    equal = sources.SOURCES["imagenet"].defaults.style_layer_weights(layers, "vgg19")
    assert equal == {n: 0.2 for n in layers}
    gatys = sources.SOURCES["hed"].defaults.style_layer_weights(layers, "vgg16")
    assert sum(gatys.values()) == pytest.approx(1.0)
    assert gatys["relu5_1"] / gatys["relu1_1"] == pytest.approx((512 / 64) ** 2)  # N_l² / N_1²
    assert gatys["relu4_1"] == gatys["relu5_1"]  # both 512 channels
    assert [sources.layer_channels("vgg19", n) for n in ("conv1_2", "relu3_4", "pool4", "relu5_1")] == [
        64,
        256,
        512,
        512,
    ]


def test_torchvision_defaults_unchanged_and_recorded() -> None:
    content = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(5))
    style = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(6))
    result = nst.stylize(content, style, weights="random", steps=1, progress=False, device="cpu")
    s = result.settings
    assert (s["arch"], s["weights"], s["content_weight"], s["style_weight"], s["tv_weight"]) == (
        "vgg19",
        "random",
        1.0,
        5e4,
        10.0,
    )
    assert s["style_layers"] == {n: 0.2 for n in nst.GATYS_STYLE_LAYERS}


def test_the_default_content_layers_come_from_the_weights_source(monkeypatch: pytest.MonkeyPatch) -> None:
    from dataclasses import replace

    from nstlib.algorithms.request import Goal

    hed = sources.SOURCES["hed"].defaults
    assert dict(hed.content_layers) == {"relu4_2": 1.0, "relu2_2": 0.1}  # measured: BENCHMARKS.md
    assert dict(sources.SOURCES["imagenet"].defaults.content_layers) == {nst.GATYS_CONTENT_LAYER: 1.0}
    goal = Goal(None, "hed", None, None, None, None, None, "content", 0, "max", 1.0, None, None, "gram", None)
    assert goal.with_defaults().content_layers == {"relu4_2": 1.0, "relu2_2": 0.1}
    # a source whose defaults add relu2_2: the loss has the term, c_l · α · mean (F − P)², unless content_layers is given
    random = sources.SOURCES["random"]
    both = replace(random.defaults, content_layers=(("relu4_2", 1.0), ("relu2_2", 0.1)))
    monkeypatch.setitem(sources.SOURCES, "random", replace(random, defaults=both))
    g = torch.Generator().manual_seed(7)
    content, style, start = (torch.rand(1, 3, 32, 32, generator=g) for _ in range(3))
    run = dict(weights="random", steps=1, init=start, progress=False, device="cpu")
    result = nst.stylize(content, style, **run)
    assert result.settings["content_layers"] == {"relu4_2": 1.0, "relu2_2": 0.1}
    vgg = nst.VGGFeatures("vgg19", ("relu2_2",), weights="random", device="cpu")
    with torch.no_grad():
        mse = F.mse_loss(vgg(start)["relu2_2"], vgg(content)["relu2_2"]).item()
    expected = 0.1 * result.settings["content_weight"] * mse
    assert result.history["content:relu2_2"][0] == pytest.approx(expected, rel=1e-4)
    given = nst.stylize(content, style, content_layers="relu4_2", **run)
    assert given.settings["content_layers"] == {"relu4_2": 1.0} and "content:relu2_2" not in given.history
