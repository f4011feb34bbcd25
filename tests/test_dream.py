"""DeepDream and its Inception/GoogLeNet feature extractors, checked against torchvision and the formulas of
KDAG IIT Kharagpur's blog post *How art is generated from Algorithms?*."""

from __future__ import annotations

import functools

import pytest
import torch
import torchvision.models as tvm
from oracle import assert_near

import nstlib as nst
from nstlib.algorithms.dream import (
    DEFAULT_DREAM_LAYERS,
    dream_network,
    octave_sizes,
)
from nstlib.algorithms.dream_gradient import Tiling, dream_loss, tiled_gradient, tiles
from nstlib.net.inception import (
    INCEPTION_LAYERS,
    KERAS_MIXED,
    MIN_INPUT_SIZE,
    InceptionFeatures,
    load_net_state_dict,
    random_net_state_dict,
)
from nstlib.weights.imagenet import weights_path

IMAGENET_MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
IMAGENET_STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def _torchvision(arch: str, state: dict) -> torch.nn.Module:
    """torchvision's model exactly as its pretrained constructor builds it (transform_input=True, aux heads)."""
    build = tvm.inception_v3 if arch == "inception_v3" else tvm.googlenet
    model = build(weights=None, aux_logits=True, transform_input=True, init_weights=False)
    model.load_state_dict(state)  # strict: the random weights are in the weight files' exact format
    return model.eval()


def _image(h: int = 64, w: int = 96, seed: int = 0) -> torch.Tensor:
    """A smooth random image (low-frequency noise), deterministic."""
    small = torch.rand(1, 3, 6, 8, generator=torch.Generator().manual_seed(seed))
    return torch.nn.functional.interpolate(small, size=(h, w), mode="bicubic", align_corners=False).clamp(0, 1)


def _means(model: str, layers, image: torch.Tensor) -> dict[str, float]:
    net = dream_network(model, tuple(layers), weights="random", device="cpu")
    with torch.no_grad():
        return {k: float(v.mean()) for k, v in net(image).items()}


# --- the networks ---------------------------------------------------------------------------------


@pytest.mark.parametrize("arch", ["inception_v3", "googlenet"])
def test_layer_table_is_torchvision_forward_order(arch):
    with torch.device("meta"):
        model = (tvm.inception_v3 if arch == "inception_v3" else tvm.googlenet)(
            weights=None, aux_logits=True, init_weights=False
        )
    heads = ("AuxLogits", "aux1", "aux2", "avgpool", "dropout", "fc")
    children = [n for n, _ in model.named_children() if n not in heads]
    assert list(INCEPTION_LAYERS[arch]) == children


@pytest.mark.parametrize("arch", ["inception_v3", "googlenet"])
def test_min_input_sizes_rederived_on_meta_device(arch):
    with torch.device("meta"):
        model = (tvm.inception_v3 if arch == "inception_v3" else tvm.googlenet)(
            weights=None, aux_logits=True, init_weights=False
        ).eval()
    names = INCEPTION_LAYERS[arch]

    @functools.cache
    def reach(size: int) -> int:  # how many trunk layers a size x size input gets through
        x = torch.zeros(1, 3, size, size, device="meta")
        for i, name in enumerate(names):
            try:
                x = getattr(model, name)(x)
            except RuntimeError:
                return i
        return len(names)

    for i, layer in enumerate(names):
        size = MIN_INPUT_SIZE[arch][layer]
        assert reach(size) > i and (size == 1 or reach(size - 1) <= i), layer


@pytest.mark.parametrize(
    "arch,layers", [("inception_v3", ("Mixed_5b", "Mixed_6a")), ("googlenet", ("inception3b", "inception4a"))]
)
def test_features_equal_torchvision_pretrained_pipeline(arch, layers):
    """Oracle: torchvision's model with transform_input=True on ImageNet-normalised input, read by hooks."""
    state = random_net_state_dict(arch, seed=3)
    model = _torchvision(arch, state)
    seen = {}
    for name in layers:
        getattr(model, name).register_forward_hook(lambda m, i, o, name=name: seen.__setitem__(name, o.clone()))
    image = _image(80, 96)
    with torch.no_grad():
        model((image - IMAGENET_MEAN) / IMAGENET_STD)
        ours = InceptionFeatures(arch, layers, weights="random:3", device="cpu")(image)
    for name in layers:
        assert_near(ours[name], seen[name], rtol=1e-4, msg=name)  # a whole trunk: errors grow with depth
    assert ours[layers[0]].shape[1] == {"Mixed_5b": 256, "inception3b": 480}[layers[0]]


def test_network_stops_after_deepest_layer_and_is_frozen():
    net = InceptionFeatures("inception_v3", ("mixed3",), weights="random", device="cpu")
    assert list(dict(net.trunk.named_children()))[-1] == "Mixed_6a" and net.layers == ("Mixed_6a",)
    assert net.stride == 16 and net.min_size == 43
    assert not any(p.requires_grad for p in net.parameters()) and not net.train().training


@pytest.mark.parametrize("arch", ["inception_v3", "googlenet"])
def test_random_weights_in_torchvision_format(arch):
    state = random_net_state_dict(arch, 7)
    with torch.device("meta"):
        model = (tvm.inception_v3 if arch == "inception_v3" else tvm.googlenet)(
            weights=None, aux_logits=True, init_weights=False
        )
    model.load_state_dict(state, assign=True)  # strict: the same keys and shapes as torchvision's files
    assert list(state) == list(model.state_dict())


def test_random_weights_seeded_and_kaiming():
    a, b, c = (random_net_state_dict("googlenet", s) for s in (7, 7, 8))
    assert all(torch.equal(a[k], b[k]) for k in a)
    conv = next(k for k in a if k.endswith("conv.weight"))
    assert not torch.equal(a[conv], c[conv])
    fan_in = a[conv][0].numel()  # Kaiming-normal: std = sqrt(2 / fan_in)
    assert abs(float(a[conv].std()) * (fan_in / 2) ** 0.5 - 1) < 0.2


def test_cached_imagenet_file_loads_without_network(torch_home, monkeypatch):
    """A synthetic state dict in torchvision's format, under torchvision's cache name, is used offline."""
    monkeypatch.setenv("NSTLIB_OFFLINE", "1")
    path = weights_path("googlenet")
    assert path.parent == torch_home / "hub" / "checkpoints" and path.name == "googlenet-1378be20.pth"
    state = random_net_state_dict("googlenet", seed=5)
    state = {k: v for k, v in state.items() if not k.endswith("num_batches_tracked")}  # old-style files lack them
    torch.save(state, path)
    image = _image()
    with torch.no_grad():
        got = InceptionFeatures("googlenet", "inception4a", weights="imagenet", device="cpu")(image)
        want = InceptionFeatures("googlenet", "inception4a", weights="random:5", device="cpu")(image)
    torch.testing.assert_close(got["inception4a"], want["inception4a"])  # like with like: the same weights


def test_offline_without_cached_weights_raises_clear_error(torch_home, monkeypatch):
    monkeypatch.setenv("NSTLIB_OFFLINE", "1")
    with pytest.raises(nst.WeightsError, match="inception_v3_google-0cc3c7bd.pth") as info:
        nst.deepdream(_image(), "inception_v3", weights="imagenet", progress=False, device="cpu")
    assert "fetch-weights" in str(info.value) and "weights='random'" in str(info.value)
    with pytest.raises(nst.WeightsError, match="googlenet-1378be20.pth"):
        load_net_state_dict("googlenet", "imagenet")


def test_weights_for_another_network_are_refused(tmp_path):
    path = tmp_path / "vgg.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3), "features.0.bias": torch.zeros(64)}, path)
    with pytest.raises(nst.WeightsError, match="do not fit torchvision's googlenet.*VGG"):
        load_net_state_dict("googlenet", path)
    with pytest.raises(nst.WeightsError, match="random:SEED"):
        load_net_state_dict("googlenet", "random:abc")


@pytest.mark.parametrize(
    "model,bad,valid",
    [
        ("inception_v3", "Mixed_9z", "Mixed_6c"),
        ("googlenet", "inception4z", "inception4c"),
        ("vgg19", "relu9_9", "conv4_2"),
    ],
)
def test_layer_names_validated_with_the_valid_names(model, bad, valid):
    with pytest.raises(nst.InputError, match=f"no layer '{bad}'.*{valid}"):
        nst.deepdream(_image(), model, layers=(bad,), weights="random", progress=False, device="cpu")
    with pytest.raises(nst.InputError, match="Unknown model"):
        nst.deepdream(_image(), "resnet50", weights="random", progress=False, device="cpu")


def test_keras_names_map_to_torchvision_blocks():
    assert KERAS_MIXED["mixed0"] == "Mixed_5b" and KERAS_MIXED["mixed3"] == "Mixed_6a"
    assert KERAS_MIXED["mixed5"] == "Mixed_6c" and KERAS_MIXED["mixed10"] == "Mixed_7c"
    # the KDAG blog post's choice
    assert DEFAULT_DREAM_LAYERS["inception_v3"] == (KERAS_MIXED["mixed3"], KERAS_MIXED["mixed5"])


# --- the loss ----------------------------------------------------------------------------------------


def test_dream_loss_is_per_layer_mean_activation():
    feats = {"a": torch.arange(24.0).view(1, 2, 3, 4), "b": torch.ones(2, 5, 1, 1) * 3}
    feats["b"][1] = 1
    terms = dream_loss({"a": feats["a"]}, {"a": 2.0})
    assert terms["dream:a"].item() == pytest.approx(2.0 * 11.5)  # mean of 0..23 is 11.5, weighted by 2
    assert dream_loss({"b": feats["b"]})["dream:b"].tolist() == [3.0, 1.0]  # one value per image


def test_guided_loss_matches_brute_force():
    gen = torch.Generator().manual_seed(0)
    act = torch.rand(2, 4, 3, 5, generator=gen)
    guide = torch.rand(4, 7, generator=gen)  # 7 guide positions, C = 4
    want = []
    for b in range(2):
        total = 0.0
        for i in range(15):
            x = act[b].flatten(1)[:, i]
            j = max(range(7), key=lambda j: float(x @ guide[:, j]))
            total += float(x @ guide[:, j])
        want.append(total / (4 * 15))
    got = dream_loss({"l": act}, guides={"l": guide})["dream:l"]
    assert got.tolist() == pytest.approx(want, rel=1e-5)


# --- the dream -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "model,layers,size",
    [
        ("vgg19", ("relu2_1", "relu3_1"), (64, 64)),
        ("googlenet", ("inception3b",), (64, 80)),
        ("inception_v3", ("Mixed_5b", "mixed3"), (64, 64)),
    ],
)
def test_dream_raises_chosen_activations_keeps_size_and_range(model, layers, size):
    image = _image(*size)
    result = nst.deepdream(
        image, model, layers=layers, octaves=1, steps_per_octave=5, weights="random", progress=False, device="cpu"
    )
    assert isinstance(result, nst.DreamResult) and result.image.shape == image.shape
    assert 0.0 <= float(result.image.min()) and float(result.image.max()) <= 1.0
    names = result.settings["layers"]
    before, after = _means(model, names, image), _means(model, names, result.image)
    assert all(after[k] > before[k] for k in before), (before, after)
    assert len(result.history["total"]) == 5 and result.steps_done == 5


def test_octave_pyramid_sizes_and_detail_carried():
    assert octave_sizes((85, 128), 3, 1.4) == [(43, 65), (61, 91), (85, 128)]  # round(H / 1.4^k)
    image = _image(60, 90)
    result = nst.deepdream(
        image,
        "vgg19",
        layers="relu2_1",
        octaves=3,
        octave_scale=1.5,
        steps_per_octave=2,
        weights="random",
        progress=False,
        device="cpu",
    )
    assert result.octave_sizes == [(27, 40), (40, 60), (60, 90)]
    assert [tuple(t.shape[-2:]) for t in result.octave_images] == result.octave_sizes
    assert result.image.shape == image.shape and len(result.history["total"]) == 6
    assert torch.equal(result.image, result.octave_images[-1])
    unchanged = nst.deepdream(
        image, "vgg19", layers="relu2_1", octaves=3, steps_per_octave=0, weights="random", progress=False, device="cpu"
    )
    torch.testing.assert_close(unchanged.image, image)


def test_matches_a_hand_written_octave_loop():
    """Oracle: Google's recipe written out (jitter 0): x += η g / mean|g| at each scale, clip to [0, 1];
    detail = dreamed − base, upsampled bilinearly and added to the next (larger) base."""
    image, eta = _image(64, 64), 0.02
    net = dream_network("vgg19", ("relu3_1",), weights="random", device="cpu")
    detail = None
    for size in [(32, 32), (64, 64)]:
        base = nst.resize_image(image, size)
        if detail is None:
            x = base.clone()
        else:
            up = torch.nn.functional.interpolate(detail, size=size, mode="bilinear", align_corners=False)
            x = (base + up).clamp(0, 1)
        for _ in range(3):
            x.requires_grad_(True)
            (g,) = torch.autograd.grad(net(x)["relu3_1"].mean(), x)
            x = (x.detach() + eta * g / (g.abs().mean(dim=(1, 2, 3), keepdim=True) + 1e-8)).clamp(0, 1)
        detail = x - base
    # One layer: with several, autograd may add the paths in another order and rounding differences of
    # 1e-7 can flip a ReLU near zero, after which the two runs drift apart (chaotic, not wrong).
    result = nst.deepdream(
        image,
        "vgg19",
        layers="relu3_1",
        octaves=2,
        octave_scale=2.0,
        steps_per_octave=3,
        step_size=eta,
        jitter=0,
        weights="random",
        progress=False,
        device="cpu",
    )
    torch.testing.assert_close(result.image, x, rtol=1e-4, atol=1e-5)


def test_seeded_and_reproducible():
    image = _image()
    kw = dict(layers="relu2_1", octaves=2, steps_per_octave=3, weights="random", progress=False, device="cpu")
    a, b = nst.deepdream(image, "vgg19", seed=4, **kw), nst.deepdream(image, "vgg19", seed=4, **kw)
    c = nst.deepdream(image, "vgg19", seed=5, **kw)
    assert torch.equal(a.image, b.image) and not torch.equal(a.image, c.image)


def test_one_tile_covering_the_image_is_identical_to_untiled():
    image = _image(64, 80)
    kw = dict(
        layers=("inception3a",), octaves=2, steps_per_octave=3, weights="random", progress=False, device="cpu", seed=2
    )
    plain = nst.deepdream(image, "googlenet", **kw)
    tiled = nst.deepdream(image, "googlenet", tile_size=80, **kw)
    assert torch.equal(plain.image, tiled.image)  # like with like: the one window is the whole image
    assert plain.history == tiled.history


def test_tiles_cover_the_image_and_snap_to_the_stride():
    spans = tiles(100, Tiling(size=32, margin=10, align=8))
    assert [(c0, c1) for c0, c1, _, _ in spans] == [(0, 24), (24, 48), (48, 72), (72, 100)]  # 4 cores ≤ 32 px
    assert spans[1][2:] == (8, 64)  # margin rounded up to 16 (a multiple of 8), clipped at the borders
    assert tiles(30, Tiling(size=32)) == [(0, 30, 0, 30)]


def test_tiled_gradient_equals_whole_image_gradient():
    """Multi-tile oracle: relu2_1 sees 10 px (receptive field), the margin is 16 px and cuts fall on the
    2-px pooling grid, so every core's gradient is exactly the whole image's gradient there."""
    net = dream_network("vgg19", ("relu2_1",), weights="random", device="cpu")
    image = _image(64, 96)
    whole, loss_whole = tiled_gradient(net, image, {"relu2_1": 1.0}, None, Tiling(None), (3, -5))
    tiled, loss_tiled = tiled_gradient(net, image, {"relu2_1": 1.0}, None, Tiling(32, 16, 2), (3, -5))
    assert len(tiles(64, Tiling(32, 16, 2))) * len(tiles(96, Tiling(32, 16, 2))) == 6
    assert_near(tiled, whole)  # the windows' sizes pick other conv blockings: rounding ~1e-7..1e-6 of the largest
    # The recorded loss weights each window's mean by its core's area: close to the whole image's, not equal.
    assert loss_tiled["total"] == pytest.approx(loss_whole["total"], rel=0.1)


def test_multi_tile_dream_agrees_with_untiled_as_closely_as_a_reseed():
    """Tiles differ from the whole image only near seams, and the random roll that moves the seams makes
    the run follow a different random path. Tolerance: tiling may change the dream no more than choosing
    another seed (another jitter path) does, and it must still raise the activation like the untiled run."""
    image = _image(96, 96)
    kw = dict(layers=("relu3_1",), octaves=1, steps_per_octave=6, weights="random", progress=False, device="cpu")
    plain = nst.deepdream(image, "vgg19", seed=1, **kw)
    reseed = nst.deepdream(image, "vgg19", seed=2, **kw)
    tiled = nst.deepdream(image, "vgg19", seed=1, tile_size=48, tile_margin=16, **kw)
    gap_tiles = float((tiled.image - plain.image).abs().mean())
    gap_seed = float((reseed.image - plain.image).abs().mean())
    assert gap_tiles <= 1.1 * gap_seed, (gap_tiles, gap_seed)
    d_plain, d_tiled = (plain.image - image).flatten(), (tiled.image - image).flatten()
    assert float(d_plain @ d_tiled / (d_plain.norm() * d_tiled.norm())) > 0.5  # same kind of detail
    assert _means("vgg19", ["relu3_1"], tiled.image)["relu3_1"] > _means("vgg19", ["relu3_1"], image)["relu3_1"]


def test_guided_dream_raises_the_guide_objective():
    image, guide = _image(64, 64, seed=1), _image(48, 64, seed=2)
    kw = dict(layers="inception3a", octaves=1, steps_per_octave=4, weights="random", progress=False, device="cpu")
    guided = nst.deepdream(image, "googlenet", guide=guide, **kw)
    plain = nst.deepdream(image, "googlenet", **kw)
    net = dream_network("googlenet", ("inception3a",), weights="random", device="cpu")
    with torch.no_grad():
        g = {"inception3a": net(guide)["inception3a"][0].flatten(1)}
        before = float(dream_loss(net(image), guides=g)["dream:inception3a"])
        after = float(dream_loss(net(guided.image), guides=g)["dream:inception3a"])
    assert after > before and guided.settings["guided"] and not torch.equal(guided.image, plain.image)


def test_callback_stops_early_and_errors_are_clear():
    image = _image()
    seen = []
    result = nst.deepdream(
        image,
        "vgg19",
        layers="relu2_1",
        octaves=2,
        steps_per_octave=5,
        weights="random",
        progress=False,
        device="cpu",
        callback=lambda p: seen.append(p.step) or p.step >= 3,
    )
    assert seen == [1, 2, 3] and result.steps_done == 3 and result.image.shape == image.shape
    kw = dict(weights="random", progress=False, device="cpu")
    with pytest.raises(nst.ImageTooSmallError, match="octaves=1 or fewer"):
        nst.deepdream(_image(48, 48), "inception_v3", octaves=3, **kw)
    with pytest.raises(nst.InputError, match="tile_size >= 86"):
        nst.deepdream(_image(96, 96), "inception_v3", tile_size=40, tile_margin=0, octaves=1, **kw)
    for bad in (dict(octaves=0), dict(octave_scale=0.5), dict(step_size=-1.0), dict(jitter=-2), dict(tile_size=0)):
        with pytest.raises(nst.InputError):
            nst.deepdream(image, "vgg19", **bad, **kw)


def test_interrupt_in_a_small_octave_returns_a_full_size_dream():
    image = _image(64, 64)

    def stop(progress):
        if progress.step == 2:
            raise KeyboardInterrupt

    with pytest.warns(RuntimeWarning, match="Interrupted after 2 of 6"):
        result = nst.deepdream(
            image,
            "vgg19",
            layers="relu2_1",
            octaves=2,
            steps_per_octave=3,
            weights="random",
            progress=False,
            device="cpu",
            callback=stop,
        )
    assert result.interrupted and result.image.shape == image.shape and result.octave_images == []
    assert not torch.equal(result.image, image)  # the detail of the small octave was carried up


def test_default_layers_exist_in_every_network():
    for model, names in DEFAULT_DREAM_LAYERS.items():
        if model in INCEPTION_LAYERS:
            assert set(names) <= set(INCEPTION_LAYERS[model])
        else:
            assert all(nst.layer_index(model, name) >= 0 for name in names)


@pytest.mark.parametrize(
    "error",
    [
        torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB"),
        RuntimeError(
            "[enforce fail at alloc_cpu.cpp:127] DefaultCPUAllocator: can't allocate memory: you tried to "
            "allocate 17592186044416 bytes. Error code 12 (Cannot allocate memory)"
        ),
        MemoryError(),
    ],
    ids=["cuda", "cpu", "python"],
)
def test_out_of_memory_suggests_tiles(error):
    def exhausted(progress):
        raise error

    with pytest.raises(
        nst.ResourceError, match=r"Out of memory on cpu while dreaming at \(64, 64\) px\. Pass tile_size"
    ):
        nst.deepdream(
            _image(64, 64),
            "vgg19",
            layers="relu2_1",
            octaves=1,
            steps_per_octave=2,
            weights="random",
            progress=False,
            device="cpu",
            callback=exhausted,
        )
