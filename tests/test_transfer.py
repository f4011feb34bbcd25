"""stylize and reconstruct: the objective is the documented formula, and optimising lowers it."""

from __future__ import annotations

import pytest
import torch

import nstlib as nst

SMALL = dict(weights="random", device="cpu", progress=False)


def test_stylize_lowers_the_total_loss(content_image: torch.Tensor, style_image: torch.Tensor) -> None:
    result = nst.stylize(content_image, style_image, steps=15, **SMALL)
    total = result.history["total"]
    assert len(total) == result.steps_done == 15
    assert total[-1] < 0.5 * total[0]
    assert result.image.shape == content_image.shape
    assert 0.0 <= float(result.image.min()) and float(result.image.max()) <= 1.0
    for key in ("content", "style", "tv", "content:relu4_2", *(f"style:{n}" for n in nst.GATYS_STYLE_LAYERS)):
        assert len(result.history[key]) == 15, key
    # the group totals add up
    step = 7
    assert result.history["total"][step] == pytest.approx(
        result.history["content"][step] + result.history["style"][step] + result.history["tv"][step], rel=1e-6
    )


def test_first_step_is_the_documented_objective(content_image: torch.Tensor, style_image: torch.Tensor) -> None:
    """Oracle: step 1 evaluates the init image (the content), so its terms follow from the formulas by hand."""
    beta, gamma = 3e4, 5.0
    style_layers = {"relu1_1": 0.7, "relu3_1": 0.3}
    result = nst.stylize(
        content_image, style_image, steps=1, style_weight=beta, tv_weight=gamma, style_layers=style_layers, **SMALL
    )
    vgg = nst.VGGFeatures(layers=tuple(style_layers), weights="random", device="cpu")
    mine, theirs = vgg(content_image), vgg(style_image)
    for name, w in style_layers.items():
        g, a = (nst.gram_matrix(f[name], normalize="chw") for f in (mine, theirs))
        expected = beta * w * float(((g - a) ** 2).mean())
        assert result.history[f"style:{name}"][0] == pytest.approx(expected, rel=1e-4)
    # init = content: the same image through the same network (exactly 0 here); even a 1e-6 relative difference
    # in relu4_2 (scale ~1) would square to ~1e-12
    assert result.history["content:relu4_2"][0] == pytest.approx(0.0, abs=1e-9)
    dy = (content_image[..., 1:, :] - content_image[..., :-1, :]).abs().mean()
    dx = (content_image[..., :, 1:] - content_image[..., :, :-1]).abs().mean()
    assert result.history["tv"][0] == pytest.approx(gamma * 0.5 * float(dy + dx), rel=1e-5)


def test_seeded_runs_repeat_exactly(content_image: torch.Tensor, style_image: torch.Tensor) -> None:
    one = nst.stylize(content_image, style_image, steps=4, init="noise", seed=3, **SMALL)
    two = nst.stylize(content_image, style_image, steps=4, init="noise", seed=3, **SMALL)
    three = nst.stylize(content_image, style_image, steps=4, init="noise", seed=4, **SMALL)
    assert torch.equal(one.image, two.image) and one.history == two.history
    assert not torch.equal(one.image, three.image)


@pytest.mark.parametrize("init", ["noise", "style"])
def test_adam_and_other_inits(content_image: torch.Tensor, style_image: torch.Tensor, init: str) -> None:
    result = nst.stylize(content_image, style_image, steps=12, optimizer="adam", lr=0.05, init=init, **SMALL)
    assert result.history["total"][-1] < result.history["total"][0]
    assert result.settings["optimizer"] == "adam" and result.settings["init"] == init


def test_tensor_init_snapshots_and_callback_stop(content_image: torch.Tensor, style_image: torch.Tensor) -> None:
    seen = []

    def stop_at_five(progress: nst.Progress) -> bool:
        seen.append(progress.step)
        return progress.step == 5

    start = torch.full_like(content_image, 0.5)
    result = nst.stylize(
        content_image, style_image, steps=50, init=start, snapshot_every=2, callback=stop_at_five, **SMALL
    )
    assert seen == [1, 2, 3, 4, 5] and result.steps_done == 5
    assert sorted(result.snapshots) == [2, 4]
    assert result.snapshots[2].shape == content_image.shape and result.snapshots[2].device.type == "cpu"


def test_style_of_another_size_and_paths(images_dir, content_image: torch.Tensor) -> None:
    wide = nst.load_image(images_dir / "style_mosaic.jpg", size=(40, 90))
    result = nst.stylize(content_image, wide, steps=2, style_scale=0.75, **SMALL)
    assert result.image.shape == content_image.shape
    from_paths = nst.stylize(
        images_dir / "chelsea.jpg", images_dir / "style_waves.jpg", steps=1, content_layers={"relu3_2": 1.0}, **SMALL
    )
    assert from_paths.image.shape[1] == 3 and "content:relu3_2" in from_paths.history


def test_bad_options_are_explained(content_image: torch.Tensor, style_image: torch.Tensor) -> None:
    with pytest.raises(nst.InputError, match="optimizer"):
        nst.stylize(content_image, style_image, steps=1, optimizer="sgd", **SMALL)
    with pytest.raises(nst.InputError, match="init"):
        nst.stylize(content_image, style_image, steps=1, init="zeros", **SMALL)
    with pytest.raises(nst.InputError, match="style_scale"):
        nst.stylize(content_image, style_image, steps=1, style_scale=0, **SMALL)


def test_content_reconstruction_from_a_low_layer(content_image: torch.Tensor) -> None:
    result = nst.reconstruct(content_image, "conv1_2", steps=40, **SMALL)
    total = result.history["total"]
    assert total[-1] < 0.05 * total[0]
    assert result.image.shape == content_image.shape
    # a low layer gives the pixels back: the result is much closer to the content than noise is
    noise = torch.rand(content_image.shape, generator=torch.Generator().manual_seed(0))
    assert (result.image - content_image).abs().mean() < 0.5 * (noise - content_image).abs().mean()


def test_style_reconstruction_any_size(style_image: torch.Tensor) -> None:
    result = nst.reconstruct(style_image, ["relu1_1", "relu2_1"], mode="style", size=(48, 48), steps=15, **SMALL)
    assert result.image.shape == (1, 3, 48, 48)
    assert result.history["total"][-1] < 0.5 * result.history["total"][0]
    assert set(result.history) >= {"style", "style:relu1_1", "style:relu2_1"}
    with pytest.raises(nst.InputError, match="mode"):
        nst.reconstruct(style_image, "relu1_1", mode="texture", **SMALL)


def test_layer_weights() -> None:
    from nstlib.algorithms.transfer import layer_weights

    assert layer_weights("relu4_2") == {"relu4_2": 1.0}
    assert layer_weights(["relu1_1", "relu2_1"]) == {"relu1_1": 0.5, "relu2_1": 0.5}
    assert layer_weights({"relu1_1": 2}) == {"relu1_1": 2.0}


@pytest.mark.gpu
def test_cuda_matches_cpu(content_image: torch.Tensor, style_image: torch.Tensor) -> None:
    cpu = nst.stylize(content_image, style_image, steps=3, weights="random", device="cpu", progress=False)
    gpu = nst.stylize(
        content_image.cuda(), style_image.cuda(), steps=3, weights="random", device="cuda", progress=False
    )
    assert gpu.image.device.type == "cuda"
    assert gpu.history["total"][0] == pytest.approx(cpu.history["total"][0], rel=1e-3)
