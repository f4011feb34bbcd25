"""Every public option of stylize, reconstruct and train_transfer_net changes what it documents.

Each test would fail if the option were ignored or wired to the wrong place. The oracles are independent
of nstlib's network and losses (tests/oracle.py: torchvision's VGG, the formulas written out), and the
starts are not the content image, where the content term is zero whatever α is.
"""

from __future__ import annotations

import pytest
import torch
from oracle import Features, gram, noise, transfer_terms, tv

import nstlib as nst
from nstlib.algorithms import request, texnet
from nstlib.loss import objective as loss_objective
from nstlib.loss import stats
from nstlib.net import frozen
from nstlib.optim import schedule

CPU = dict(device="cpu", progress=False)


@pytest.fixture
def content(content_image: torch.Tensor) -> torch.Tensor:
    return nst.resize_image(content_image, 48)  # 32 x 48


@pytest.fixture
def style(style_image: torch.Tensor) -> torch.Tensor:
    return nst.resize_image(style_image, 48)  # the content's long side: stylize uses it unresized


# -- stylize: the first step's terms, from noise ---------------------------------------------------------


@pytest.mark.parametrize("arch,weights,pooling", [("vgg19", "random", "max"), ("vgg16", "random:7", "avg")])
def test_first_step_from_noise_applies_every_weight(content, style, arch, weights, pooling) -> None:
    """α, β, γ, per-layer c_l and w_l, arch, weights, pooling, init="noise" and seed, all at once:
    step 1 evaluates the noise start, so its terms follow from the formulas by hand."""
    alpha, beta, gamma, seed = 3.0, 2e4, 7.0, 5
    c_layers, s_layers = {"relu3_1": 0.4, "relu4_2": 0.6}, {"relu1_1": 0.7, "relu2_1": 0.2, "relu4_1": 0.1}
    result = nst.stylize(
        content,
        style,
        steps=1,
        arch=arch,
        weights=weights,
        pooling=pooling,
        init="noise",
        seed=seed,
        content_weight=alpha,
        style_weight=beta,
        tv_weight=gamma,
        content_layers=c_layers,
        style_layers=s_layers,
        **CPU,
    )
    start = noise(content.shape, seed)
    want = transfer_terms(
        start, content, style, Features(arch, weights, pooling), alpha, beta, gamma, c_layers, s_layers
    )
    got = {k: v[0] for k, v in result.history.items() if ":" in k or k == "tv"}
    assert set(got) == set(want)
    for key, value in want.items():
        assert value > 0 and got[key] == pytest.approx(value, rel=2e-4), key


def test_default_weights_are_the_sources_and_a_sequence_shares_them_equally(content, style) -> None:
    result = nst.stylize(
        content, style, steps=1, weights="random", init="noise", style_layers=("relu1_1", "relu2_1"), **CPU
    )
    want = transfer_terms(
        noise(content.shape, 0),
        content,
        style,
        Features(),
        1.0,
        5e4,
        10.0,
        {"relu4_2": 1.0},
        {"relu1_1": 0.5, "relu2_1": 0.5},
    )
    for key, value in want.items():
        assert result.history[key][0] == pytest.approx(value, rel=2e-4), key


# -- the start image -------------------------------------------------------------------------------------


def _start(content: torch.Tensor, style: torch.Tensor, **options) -> torch.Tensor:
    """With steps=0 nothing is optimised: the result is the start image itself."""
    return nst.stylize(
        content,
        style,
        steps=0,
        weights="random",
        style_layers=("relu1_1",),
        content_layers=("relu1_1",),
        **options,
        **CPU,
    ).image


def test_init_gives_the_documented_start(content, style) -> None:
    assert torch.equal(_start(content, style, init="content"), content)
    assert torch.equal(_start(content, style, init="noise", seed=11), noise(content.shape, 11))
    assert not torch.equal(_start(content, style, init="noise", seed=12), noise(content.shape, 11))
    from_style = _start(content, style, init="style")
    assert torch.equal(from_style, nst.resize_image(style, tuple(content.shape[-2:])))  # resize: test_images
    assert float((from_style - content).abs().mean()) > 0.05
    given = torch.rand(content.shape, generator=torch.Generator().manual_seed(3))
    assert torch.equal(_start(content, style, init=given), given)


def test_variants_start_from_their_own_init_and_seed(content, style) -> None:
    image = _start(content, style, init="noise", seed=1, variants=[{}, {"seed": 2}, {"init": "content"}])
    assert torch.equal(image[0:1], noise(content.shape, 1))
    assert torch.equal(image[1:2], noise(content.shape, 2))
    assert torch.equal(image[2:3], content)


# -- the optimiser's first update -------------------------------------------------------------------------


def _gradient_at(x: torch.Tensor, content: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
    """∂/∂x of the oracle objective (one content and one style layer, default α, β, γ of random weights)."""
    feats = Features()
    x = x.clone().requires_grad_(True)
    fx, fc, fs = feats(x, ["relu2_1", "relu1_1"]), feats(content, ["relu2_1"]), feats(style, ["relu1_1"])
    loss = (
        1.0 * ((fx["relu2_1"] - fc["relu2_1"]) ** 2).mean()
        + 5e4 * ((gram(fx["relu1_1"]) - gram(fs["relu1_1"])) ** 2).mean()
        + 10.0 * tv(x)
    )
    (g,) = torch.autograd.grad(loss, x)
    return g


@pytest.mark.parametrize("optimizer,lr", [("adam", 0.05), ("adam", None), ("lbfgs", 0.5), ("lbfgs", None)])
def test_optimizer_and_lr_give_the_documented_first_update(content, style, optimizer, lr) -> None:
    """Adam's first step is lr · g / (|g| + ε) (bias-corrected moments of one gradient); torch's L-BFGS takes
    lr · min(1, 1 / ‖g‖₁) · g along −g. Step 2 evaluates that image: it is snapshots[2]."""
    x0 = noise(content.shape, 0)
    result = nst.stylize(
        content,
        style,
        steps=2,
        weights="random",
        init="noise",
        optimizer=optimizer,
        lr=lr,
        content_layers=("relu2_1",),
        style_layers=("relu1_1",),
        snapshot_every=1,
        **CPU,
    )
    g = _gradient_at(x0, content, style)
    if optimizer == "adam":
        rate = 0.02 if lr is None else lr
        expected = x0 - rate * g / (g.abs() + 1e-8)
    else:
        rate = 1.0 if lr is None else lr
        expected = x0 - rate * min(1.0, 1.0 / float(g.abs().sum())) * g
    expected = expected.clamp(0, 1)
    moved = (result.snapshots[2] - x0).abs()
    assert float(moved.max()) > 1e-4  # the test sees a real step
    close = (result.snapshots[2] - expected).abs() <= 1e-6 + 1e-3 * moved  # L-BFGS moves pixels by ~1e-4
    assert float(close.float().mean()) > 0.99, float(close.float().mean())


# -- which style image, at which size, at each stage -------------------------------------------------------


@pytest.fixture
def style_targets(monkeypatch: pytest.MonkeyPatch) -> list[list[torch.Tensor]]:
    """The style images each stage's targets are built from (StyleTerms.from_images, as stylize calls it)."""
    seen: list[list[torch.Tensor]] = []
    real = loss_objective.StyleTerms.from_images

    def spy(vgg, styles, layer_weights, **options):
        seen.append([s.detach().clone() for s in styles])
        return real(vgg, styles, layer_weights, **options)

    monkeypatch.setattr(loss_objective.StyleTerms, "from_images", staticmethod(spy))
    return seen


@pytest.mark.parametrize("style_scale,long_side", [(1.0, 48), (0.5, 24), (1.5, 72)])
def test_style_scale_sets_the_style_targets_size(content, style, style_targets, style_scale, long_side) -> None:
    nst.stylize(
        content,
        style,
        steps=1,
        weights="random",
        style_scale=style_scale,
        style_layers=("relu1_1",),
        content_layers=("relu1_1",),
        **CPU,
    )
    (images,) = style_targets
    assert max(images[0].shape[-2:]) == long_side  # the style is square
    torch.testing.assert_close(images[0], nst.resize_image(style, long_side))


def test_scales_rebuild_the_targets_from_the_original_style_at_each_stage(content, style, style_targets) -> None:
    result = nst.stylize(
        content,
        style,
        steps=(2, 1),
        scales=(24,),
        style_scale=0.5,
        weights="random",
        style_layers=("relu1_1",),
        content_layers=("relu1_1",),
        **CPU,
    )
    assert result.settings["stages"] == [((16, 24), 2), ((32, 48), 1)]
    assert [max(s[0].shape[-2:]) for s in style_targets] == [12, 24]
    for images, side in zip(style_targets, (12, 24)):  # each from the original, not from the previous stage's
        torch.testing.assert_close(images[0], nst.resize_image(style, side))


def test_a_later_stage_starts_from_the_photo_plus_the_previous_change_upsampled(content, style) -> None:
    """Oracle: the finer stage's start is photo + upsample(coarse result − photo at the coarse size), clamped."""
    options = dict(
        weights="random", style_layers=("relu1_1",), content_layers=("relu2_1",), init="noise", precision="fp32", **CPU
    )  # "auto" would run the coarse stage in bf16 where that is native
    small = nst.resize_image(content, 24)
    coarse = nst.stylize(small, style, steps=3, **options)
    both = nst.stylize(content, style, steps=(3, 0), scales=(24,), **options)
    change = torch.nn.functional.interpolate(coarse.image - small, size=(32, 48), mode="bilinear", align_corners=False)
    torch.testing.assert_close(both.image, (content + change).clamp(0, 1), rtol=0, atol=1e-6)
    plain = torch.nn.functional.interpolate(coarse.image, size=(32, 48), mode="bilinear", align_corners=False)
    assert (both.image - plain.clamp(0, 1)).abs().max() > 0.05, "the photo's detail is back, not only the blur"


def test_several_styles_blend_and_masks_reach_the_style_term(content, style, style_image) -> None:
    """Σ_i b_i mean(Ĝ − Â_i)² at step 1, and with masks each style only sees its region (recomputed by hand)."""
    other = nst.resize_image(torch.flip(style_image, dims=(-1,)) * 0.5, 48)
    options = dict(
        weights="random",
        init="noise",
        style_layers=("relu1_1",),
        content_layers=("relu1_1",),
        style_weight=1.0,
        steps=1,
        **CPU,
    )
    feats = Features()
    fx = feats(noise(content.shape, 0), ["relu1_1"])["relu1_1"]
    targets = [gram(feats(s, ["relu1_1"])["relu1_1"]) for s in (style, other)]
    blended = nst.stylize(content, [style, other], style_blend=(0.25, 0.75), **options)
    want = sum(b * float(((gram(fx) - a) ** 2).mean()) for b, a in zip((0.25, 0.75), targets))
    assert blended.history["style:relu1_1"][0] == pytest.approx(want, rel=2e-4)
    left = torch.zeros(32, 48)
    left[:, :24] = 1.0
    masked = nst.stylize(content, [style, other], style_masks=[left, 1 - left], **options)
    halves = (fx[..., :, :24], fx[..., :, 24:])  # relu1_1 is at full resolution: the masks cut it exactly
    want = sum(float(((gram(h) - a) ** 2).mean()) for h, a in zip(halves, targets))
    assert masked.history["style:relu1_1"][0] == pytest.approx(want, rel=2e-4)


@pytest.mark.parametrize("stat", ["mean_cov", "w2"])
def test_style_stat_reaches_the_style_term(content, style, stat) -> None:
    result = nst.stylize(
        content,
        style,
        steps=1,
        weights="random",
        init="noise",
        style_stat=stat,
        style_layers=("relu2_1",),
        content_layers=("relu1_1",),
        style_weight=1.0,
        **CPU,
    )
    feats = Features()
    target = nst.StyleTerms([feats(style, ["relu2_1"])], {"relu2_1": 1.0}, stat=stat)
    want = float(target(feats(noise(content.shape, 0), ["relu2_1"]))["style:relu2_1"])
    gram_value = float(
        (
            (gram(feats(noise(content.shape, 0), ["relu2_1"])["relu2_1"]) - gram(feats(style, ["relu2_1"])["relu2_1"]))
            ** 2
        ).mean()
    )
    assert result.history["style:relu2_1"][0] == pytest.approx(want, rel=2e-4)
    assert abs(want - gram_value) > 1e-3 * gram_value  # the statistics differ here, so the test can tell


# -- precision, layout, compile, memory guard -------------------------------------------------------------


def test_fp16_autocast_runs_the_network_low_but_gram_and_losses_in_fp32(content, style, monkeypatch) -> None:
    """Oracle: what reaches gram_matrix and content_loss, and whether autocast is on at that moment."""
    seen: dict[str, list] = {"gram": [], "content": [], "network": []}
    real_gram, real_content = stats.gram_matrix, loss_objective.content_loss

    def gram_spy(features, normalize=None):
        seen["gram"].append((features.dtype, torch.is_autocast_enabled("cpu")))
        return real_gram(features, normalize)

    def content_spy(a, b, **kw):
        seen["content"].append((a.dtype, b.dtype, torch.is_autocast_enabled("cpu")))
        return real_content(a, b, **kw)

    class Recording(nst.VGGFeatures):
        def forward(self, image):
            out = super().forward(image)
            seen["network"].append({f.dtype for f in out.values()})
            return out

    monkeypatch.setattr(stats, "gram_matrix", gram_spy)
    monkeypatch.setattr(loss_objective, "content_loss", content_spy)
    monkeypatch.setattr(request, "VGGFeatures", Recording)
    options = dict(weights="random", init="noise", style_layers=("relu1_1", "relu2_1"), content_layers=("relu2_1",))
    result = nst.stylize(content, style, steps=2, precision="fp16", **options, **CPU)
    assert result.settings["precision"] == "fp16"
    assert {torch.float16} in seen["network"]  # autocast reached the network
    assert seen["gram"] and all(d == torch.float32 and not on for d, on in seen["gram"])
    assert seen["content"] and all(a == b == torch.float32 and not on for a, b, on in seen["content"])


def test_bf16_on_a_cpu_runs_a_bf16_copy_of_the_network_and_the_losses_in_fp32(content, style, monkeypatch) -> None:
    """precision="bf16" on a CPU: no autocast; the objective's network is LowPrecisionFeatures, whose bf16
    features reach the Gram matrices' matmul as they are; the Gram matrices and content losses are float32."""
    seen: dict[str, list] = {"gram": [], "content": [], "low": [], "network": []}
    real_gram, real_content = stats.gram_matrix, loss_objective.content_loss
    real_call = frozen.LowPrecisionFeatures.__call__

    def gram_spy(features, normalize=None):
        out = real_gram(features, normalize)
        seen["gram"].append((features.dtype, torch.is_autocast_enabled("cpu")))
        return out

    def content_spy(a, b, **kw):
        seen["content"].append((a.dtype, b.dtype))
        return real_content(a, b, **kw)

    def low_spy(self, image):
        out = real_call(self, image)
        seen["low"].append({f.dtype for f in out.values()})
        return out

    class Recording(nst.VGGFeatures):
        def forward(self, image):
            seen["network"].append(torch.is_grad_enabled())
            return super().forward(image)

    monkeypatch.setattr(stats, "gram_matrix", gram_spy)
    monkeypatch.setattr(loss_objective, "content_loss", content_spy)
    monkeypatch.setattr(frozen.LowPrecisionFeatures, "__call__", low_spy)
    monkeypatch.setattr(request, "VGGFeatures", Recording)
    options = dict(weights="random", init="noise", style_layers=("relu1_1", "relu2_1"), content_layers=("relu2_1",))
    result = nst.stylize(content, style, steps=2, precision="bf16", **options, **CPU)
    assert result.settings["precision"] == "bf16"
    assert seen["low"] and all(d == {torch.bfloat16} for d in seen["low"])
    assert not any(seen["network"])  # the float32 network only made the targets, without gradients
    steps = [d for d, _ in seen["gram"] if d == torch.bfloat16]
    assert steps and all(not on for _, on in seen["gram"])
    assert seen["content"] and all(a == b == torch.float32 for a, b in seen["content"])
    # and the same run under fp32 never builds the bf16 copy
    seen["low"].clear()
    nst.stylize(content, style, steps=2, precision="fp32", **options, **CPU)
    assert seen["low"] == []


@pytest.mark.parametrize("channels_last", [True, False])
def test_channels_last_sets_the_networks_layout(content, style, monkeypatch, channels_last) -> None:
    layouts: list[bool] = []

    def record(module, args, output):
        layouts.append(output.is_contiguous(memory_format=torch.channels_last) and not output.is_contiguous())

    class Recording(nst.VGGFeatures):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.features[0].register_forward_hook(record)

    monkeypatch.setattr(request, "VGGFeatures", Recording)
    result = nst.stylize(
        content,
        style,
        steps=1,
        weights="random",
        channels_last=channels_last,
        style_layers=("relu1_1",),
        content_layers=("relu1_1",),
        **CPU,
    )
    assert result.settings["channels_last"] is channels_last
    assert layouts and all(v is channels_last for v in layouts)


def test_compile_runs_the_network_through_torch_compile(content, style, monkeypatch) -> None:
    compiled: list[torch.nn.Module] = []

    def fake_compile(module, *args, **kwargs):
        compiled.append(module)
        return module

    monkeypatch.setattr(torch, "compile", fake_compile)
    nst.stylize(
        content,
        style,
        steps=1,
        weights="random",
        compile=True,
        style_layers=("relu1_1",),
        content_layers=("relu1_1",),
        **CPU,
    )
    assert len(compiled) == 1 and isinstance(compiled[0], nst.VGGFeatures)
    nst.stylize(
        content, style, steps=1, weights="random", style_layers=("relu1_1",), content_layers=("relu1_1",), **CPU
    )
    assert len(compiled) == 1


def test_check_memory_refuses_and_can_be_switched_off(content, style, monkeypatch) -> None:
    monkeypatch.setattr(schedule, "available_memory", lambda device=None: 1024)
    options = dict(steps=1, weights="random", style_layers=("relu1_1",), content_layers=("relu1_1",), **CPU)
    with pytest.raises(nst.ResourceError, match="needs"):
        nst.stylize(content, style, **options)
    assert nst.stylize(content, style, check_memory=False, **options).steps_done == 1


# -- reconstruct -----------------------------------------------------------------------------------------


def test_content_reconstruction_first_step(content) -> None:
    layers, gamma = {"relu1_2": 0.3, "relu3_1": 0.7}, 2.0
    result = nst.reconstruct(
        content, layers, steps=1, weights="random:3", pooling="avg", seed=4, tv_weight=gamma, **CPU
    )
    feats = Features("vgg19", "random:3", "avg")
    x = noise(content.shape, 4)
    fx, fc = feats(x, layers), feats(content, layers)
    for name, w in layers.items():
        assert result.history[f"content:{name}"][0] == pytest.approx(
            w * float(((fx[name] - fc[name]) ** 2).mean()), rel=2e-4
        ), name
    assert result.history["tv"][0] == pytest.approx(gamma * float(tv(x)), rel=1e-5)


def test_style_reconstruction_first_step_size_and_weight(style) -> None:
    result = nst.reconstruct(
        style,
        ["relu1_1", "relu2_1"],
        mode="style",
        size=(24, 36),
        style_weight=300.0,
        arch="vgg16",
        steps=1,
        seed=2,
        weights="random",
        **CPU,
    )
    assert result.image.shape == (1, 3, 24, 36)
    feats = Features("vgg16", "random")
    fx, fs = feats(noise((1, 3, 24, 36), 2), ["relu1_1", "relu2_1"]), feats(style, ["relu1_1", "relu2_1"])
    for name in ("relu1_1", "relu2_1"):
        want = 300.0 * 0.5 * float(((gram(fx[name]) - gram(fs[name])) ** 2).mean())
        assert result.history[f"style:{name}"][0] == pytest.approx(want, rel=2e-4), name


def test_reconstruct_init_and_default_style_weight(content) -> None:
    start = nst.reconstruct(content, "relu1_1", steps=0, init="content", weights="random", **CPU).image
    assert torch.equal(start, content)
    style = nst.reconstruct(content, "relu1_1", mode="style", steps=1, weights="random", **CPU)
    assert style.settings["style_weight"] == 5e4
    feats = Features()
    fx, ft = feats(noise(content.shape, 0), ["relu1_1"]), feats(content, ["relu1_1"])
    want = 5e4 * float(((gram(fx["relu1_1"]) - gram(ft["relu1_1"])) ** 2).mean())
    assert style.history["style:relu1_1"][0] == pytest.approx(want, rel=2e-4)


# -- train_transfer_net ------------------------------------------------------------------------------------


def test_transfer_net_first_step_is_the_perceptual_loss(style, images_dir) -> None:
    """One photo of exactly size x size: every crop is the photo, so x is known; Progress.image is f(x)."""
    photo = nst.load_image(images_dir / "astronaut.jpg", size=(24, 24))
    seen: list[torch.Tensor] = []
    alpha, beta, gamma = 2.0, 3e3, 4.0
    result = nst.train_transfer_net(
        style,
        [photo],
        size=24,
        steps=1,
        batch_size=2,
        width=4,
        n_residual=1,
        content_layers=("relu3_3",),
        style_layers=("relu1_2", "relu2_2"),
        content_weight=alpha,
        style_weight=beta,
        tv_weight=gamma,
        weights="random",
        augment=False,  # every crop is the photo itself
        precision="fp32",  # the oracle computes in float32
        callback=lambda p: seen.append(p.image.clone()),
        **CPU,
    )
    (y,) = seen
    x = photo.expand(2, -1, -1, -1)
    feats = Features("vgg16", "random")
    fy, fx = feats(y, ["relu3_3", "relu1_2", "relu2_2"]), feats(x, ["relu3_3"])
    fs = feats(nst.resize_image(style, 24), ["relu1_2", "relu2_2"])
    content_term = alpha * float(((fy["relu3_3"] - fx["relu3_3"]) ** 2).mean())
    style_term = sum(beta * 0.5 * float(((gram(fy[n]) - gram(fs[n])) ** 2).mean()) for n in ("relu1_2", "relu2_2"))
    tv_term = gamma * float(tv(y)) / 2  # the batch mean
    assert result.history["content"][0] == pytest.approx(content_term, rel=2e-4)
    assert result.history["style"][0] == pytest.approx(style_term, rel=2e-4)
    assert result.history["tv"][0] == pytest.approx(tv_term, rel=1e-4)
    assert min(content_term, style_term, tv_term) > 0


def _first_losses(style, photo, **options) -> dict[str, float]:
    base = dict(size=24, steps=1, batch_size=4, width=4, n_residual=1, weights="random", augment=False)
    result = nst.train_transfer_net(style, [photo], **{**base, "precision": "fp32", **options}, **CPU)
    return {k: v[0] for k, v in result.history.items()} | {"precision": result.settings["precision"]}


def test_transfer_net_augment_scales_and_mirrors_the_crops(style, images_dir) -> None:
    """Without augment a 24 px crop of a 24 px photo is the photo; with it, crops of a larger photo are resized
    windows of random size, and mirrored ones appear: the first step's loss changes."""
    photo = nst.load_image(images_dir / "astronaut.jpg", size=(24, 24))
    assert _first_losses(style, photo, augment=True) != _first_losses(style, photo, augment=False)  # mirrored
    big = nst.load_image(images_dir / "astronaut.jpg", size=(48, 60))
    g = torch.Generator().manual_seed(0)
    plain = texnet._random_crops([big], 24, 16, g)
    windows = big.unfold(2, 24, 1).unfold(3, 24, 1)  # (1, 3, 25, 37, 24, 24): every 24x24 window
    windows = windows.permute(0, 2, 3, 1, 4, 5).reshape(-1, 3, 24, 24)
    is_window = [bool((windows == c).all(dim=(1, 2, 3)).any()) for c in plain]
    assert all(is_window)
    varied = texnet._random_crops([big], 24, 16, torch.Generator().manual_seed(0), augment=True)
    assert varied.shape == (16, 3, 24, 24)
    assert sum(bool((windows == c).all(dim=(1, 2, 3)).any()) for c in varied) < 16


def test_transfer_net_precision(style, images_dir) -> None:
    """bf16 runs both networks in bfloat16: the first loss is fp32's within bf16's rounding, not equal to it;
    "auto" is bf16 exactly where it is native."""
    photo = nst.load_image(images_dir / "astronaut.jpg", size=(24, 24))
    fp32, bf16 = _first_losses(style, photo), _first_losses(style, photo, precision="bf16")
    assert (fp32["precision"], bf16["precision"]) == ("fp32", "bf16")
    for key in ("content", "style", "total"):
        assert bf16[key] == pytest.approx(fp32[key], rel=0.05) and bf16[key] != fp32[key], key
    auto = _first_losses(style, photo, precision="auto")
    assert auto["precision"] == ("bf16" if schedule.native_bf16("cpu") else "fp32")
    with pytest.raises(nst.InputError, match="precision"):
        _first_losses(style, photo, precision="fp16")


def test_transfer_net_lr_seed_and_given_net(style, images_dir) -> None:
    """Adam's first update moves each parameter by lr · g / (|g| + ε): |Δp| = lr wherever g is not tiny."""
    photo = nst.load_image(images_dir / "astronaut.jpg", size=(16, 16))
    options = dict(
        size=16,
        steps=1,
        batch_size=1,
        width=4,
        n_residual=0,
        weights="random",
        style_layers=("relu1_2",),
        content_layers=("relu1_2",),
        **CPU,
    )
    with torch.random.fork_rng():
        torch.manual_seed(0)
        net = nst.TransferNet(width=4, n_residual=0)
    before = {k: v.clone() for k, v in net.state_dict().items()}
    result = nst.train_transfer_net(style, [photo], net=net, lr=3e-3, **options)
    assert result.net is net
    steps = torch.cat(
        [
            (p - before[k]).abs().flatten()
            for k, p in net.state_dict().items()
            if k.endswith("weight") and p.dtype.is_floating_point
        ]
    )
    moved = steps[steps > 1e-6]
    assert moved.numel() > 0.5 * steps.numel()
    assert float(moved.median()) == pytest.approx(3e-3, rel=0.05)
    a = nst.train_transfer_net(style, [photo], seed=1, **options)
    b = nst.train_transfer_net(style, [photo], seed=2, **options)
    assert a.history["total"] != b.history["total"]  # the seed picks the network's initial weights


# -- snapshots, progress bars, texture synthesis, dreams ------------------------------------------------


def test_snapshot_every_keeps_exactly_those_steps(content, style) -> None:
    result = nst.stylize(
        content,
        style,
        steps=7,
        snapshot_every=3,
        weights="random",
        style_layers=("relu1_1",),
        content_layers=("relu1_1",),
        **CPU,
    )
    assert sorted(result.snapshots) == [3, 6]


def test_progress_shows_a_bar_only_when_asked(content, style, capsys) -> None:
    options = dict(steps=1, weights="random", device="cpu", style_layers=("relu1_1",), content_layers=("relu1_1",))
    nst.stylize(content, style, progress=False, **options)
    assert "stylize" not in capsys.readouterr().err
    nst.stylize(content, style, progress=True, **options)
    assert "stylize" in capsys.readouterr().err  # tqdm writes its bar to stderr


@pytest.mark.parametrize("stat", nst.STYLE_STATS)
def test_texture_synthesis_first_step(style, stat) -> None:
    """From seeded noise of the asked size: β Σ_l w_l L_stat,l with that statistic, on the oracle's features."""
    layers = {"relu1_1": 0.25, "relu2_1": 0.75}
    result = nst.synthesize_texture(
        style,
        size=(24, 40),
        stat=stat,
        layers=layers,
        style_weight=7.0,
        seed=3,
        weights="random",
        pooling="avg",
        steps=1,
        progress=False,
    )
    assert result.image.shape == (1, 3, 24, 40)
    feats = Features("vgg19", "random", "avg")
    terms = nst.StyleTerms([feats(style, layers)], layers, stat=stat)(feats(noise((1, 3, 24, 40), 3), layers), 7.0)
    for name in layers:
        assert result.history[f"style:{name}"][0] == pytest.approx(float(terms[f"style:{name}"]), rel=2e-4), name
    if stat == "gram":  # and the Gram statistic by hand
        fx, fs = feats(noise((1, 3, 24, 40), 3), layers), feats(style, layers)
        want = 7.0 * 0.75 * float(((gram(fx["relu2_1"]) - gram(fs["relu2_1"])) ** 2).mean())
        assert result.history["style:relu2_1"][0] == pytest.approx(want, rel=2e-4)


def test_deepdream_passes_its_tiling_and_guide_to_each_gradient(monkeypatch) -> None:
    from nstlib.algorithms import dream_gradient

    seen = []
    real = dream_gradient.tiled_gradient

    def spy(net, image, weights, guides, tiling, shift):
        seen.append((tiling, guides is not None, shift))
        return real(net, image, weights, guides, tiling, shift)

    monkeypatch.setattr(dream_gradient, "tiled_gradient", spy)
    image = noise((1, 3, 64, 64), 1)
    nst.deepdream(
        image,
        "vgg19",
        layers="relu2_1",
        octaves=1,
        steps_per_octave=2,
        tile_size=40,
        tile_margin=12,
        jitter=3,
        guide=noise((1, 3, 32, 32), 2),
        weights="random",
        **CPU,
    )
    assert [t[:2] for t in seen] == [(dream_gradient.Tiling(40, 12, 2), True)] * 2
    assert all(abs(s) <= 3 + 40 for t in seen for s in t[2])  # jitter plus the random roll of the tile grid


def test_extra_loss_is_one_more_term_of_the_objective(content, style) -> None:
    """extra_loss(image) joins the objective: its first value is the function of the start image, it is part of
    the total, and a value of the wrong shape is refused."""
    options = dict(steps=2, weights="random", style_layers=("relu1_1",), content_layers=("relu1_1",), **CPU)
    plain = nst.stylize(content, style, **options)
    extra = nst.stylize(content, style, extra_loss=lambda x: 7.0 * (x - 0.25).square().mean(), **options)
    assert "extra" not in plain.history
    assert extra.history["extra"][0] == pytest.approx(7.0 * float((content - 0.25).square().mean()), rel=1e-5)
    others = sum(extra.history[k][0] for k in extra.history if k.startswith(("content:", "style:", "tv")))
    assert extra.history["total"][0] == pytest.approx(others + extra.history["extra"][0], rel=1e-5)
    with pytest.raises(nst.InputError, match="extra_loss"):
        nst.stylize(content, style, extra_loss=lambda x: x.mean(dim=(0, 1)), **options)
