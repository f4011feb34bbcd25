"""Gatys et al.'s normalised network (weights="…+normalized"): oracles from the scaling's algebra."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest
import torch

import nstlib as nst
from nstlib.errors import WeightsError
from nstlib.net.conventions import IMAGENET_CONVENTION
from nstlib.weights import cache, normalized
from nstlib.weights.seeded import random_state_dict
from nstlib.weights.sources import NORMALIZED_DEFAULTS, SOURCES, load_vgg_state_dict, weights_source
from nstlib.weights.spec import parse_weights

RELUS = [n for n in nst.layer_names("vgg11") if n.startswith("relu")]


def test_the_suffix_is_parsed_for_every_kind_of_weights(tmp_path: Path) -> None:
    spec = parse_weights("hed+normalized")
    assert (spec.kind, spec.key, spec.normalized) == ("hed", "hed+normalized", True)
    spec = parse_weights("random:3+normalized")
    assert (spec.kind, spec.seed, spec.normalized) == ("random", 3, True)
    spec = parse_weights(f"{tmp_path}/w.pth+normalized")
    assert spec.kind == "file" and spec.path == tmp_path / "w.pth" and spec.normalized
    assert not parse_weights("hed").normalized
    with pytest.raises(WeightsError, match="once"):
        parse_weights("hed+normalized+normalized")


def test_every_relu_output_is_the_originals_divided_by_its_filters_mean() -> None:
    state = random_state_dict("vgg11", seed=2)
    means = normalized.filter_means("vgg11", state, IMAGENET_CONVENTION)
    plain = nst.VGGFeatures("vgg11", RELUS, weights="random:2", device="cpu", channels_last=False)
    scaled = nst.VGGFeatures("vgg11", RELUS, weights="random:2+normalized", device="cpu", channels_last=False)
    image = torch.rand(1, 3, 40, 48, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        a, b = plain(image), scaled(image)
    for name in RELUS:
        s = normalized.filter_scales(means[name]).float().view(1, -1, 1, 1)
        torch.testing.assert_close(b[name], a[name] / s, rtol=1e-4, atol=1e-5 * float(b[name].abs().max()))
        # the same ReLU pattern (up to float rounding at exactly zero)
        same = ((a[name] > 1e-6 * a[name].max()) == (b[name] > 0)) | (a[name].abs() < 1e-5 * a[name].max())
        assert bool(same.all()), name


def test_the_means_over_the_shipped_images_become_one_and_match_the_networks_own() -> None:
    state = random_state_dict("vgg11", seed=1)
    images = normalized.normalization_images()
    assert len(images) >= 10 and all(max(i.shape[-2:]) == 224 for i in images)
    means = normalized.filter_means("vgg11", state, IMAGENET_CONVENTION)
    # oracle: the same means through nstlib's nn.Sequential network, image by image, weighted by positions
    vgg = nst.VGGFeatures("vgg11", RELUS, weights="random:1", device="cpu", channels_last=False)
    sums = {n: torch.zeros(means[n].shape, dtype=torch.float64) for n in RELUS}
    counts = dict.fromkeys(RELUS, 0)
    with torch.no_grad():
        for image in images:
            for n, f in vgg(image).items():
                sums[n] += f.double().sum(dim=(0, 2, 3))
                counts[n] += f.shape[2] * f.shape[3]
    for n in RELUS:
        torch.testing.assert_close(means[n], (sums[n] / counts[n]).float(), rtol=1e-4, atol=1e-7)
    after = normalized.filter_means(
        "vgg11", normalized.normalize_state_dict("vgg11", state, means), IMAGENET_CONVENTION
    )
    for n in RELUS:
        median = means[n][means[n] > 0].median()
        common = means[n] >= median  # Gatys et al.'s rule: mean activation 1
        torch.testing.assert_close(after[n][common], torch.ones(int(common.sum())), rtol=1e-4, atol=1e-4)
        # the rarer filters are divided by the median's mean, not blown up: they keep their ratio to it
        torch.testing.assert_close(after[n][~common], (means[n][~common] / median).float(), rtol=1e-3, atol=1e-6)
        assert int(common.sum()) >= int((means[n] > 0).sum()) // 2  # at least half of the filters that fire


def test_filter_scales_floor_rare_filters_at_the_layers_median() -> None:
    means = torch.tensor([0.0, 1e-6, 0.5, 1.0, 2.0, 4.0])
    torch.testing.assert_close(normalized.filter_scales(means), torch.tensor([1.0, 1.0, 1.0, 1.0, 2.0, 4.0]).double())
    assert torch.equal(normalized.filter_scales(torch.zeros(3)), torch.ones(3).double())  # a dead layer: unchanged


def test_a_normalised_source_uses_one_set_of_loss_defaults_and_stylize_runs_on_it() -> None:
    assert weights_source("hed+normalized").defaults == NORMALIZED_DEFAULTS
    assert weights_source("random+normalized").defaults == NORMALIZED_DEFAULTS
    assert weights_source("hed").defaults == SOURCES["hed"].defaults != NORMALIZED_DEFAULTS
    assert weights_source("hed+normalized").convention == SOURCES["hed"].convention
    img = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    result = nst.stylize(img, img.flip(-1), weights="random:0+normalized", arch="vgg11", steps=2, progress=False)
    assert result.settings["weights"] == "random:0+normalized"
    assert result.settings["style_weight"] == NORMALIZED_DEFAULTS.style_weight


def test_the_means_are_kept_on_disk_beside_the_weights_and_a_damaged_file_is_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    weights = tmp_path / "mine.pth"
    torch.save(random_state_dict("vgg11", seed=4), weights)
    cache.clear()
    first = load_vgg_state_dict("vgg11", f"{weights}+normalized")
    [kept] = (tmp_path / "torch" / "hub" / "checkpoints").glob("filter-means-vgg11-*.pt")
    cache.clear()
    monkeypatch.setattr(normalized, "filter_means", lambda *a, **k: pytest.fail("computed again"))
    second = load_vgg_state_dict("vgg11", f"{weights}+normalized")  # read from the file
    assert all(torch.equal(first[k], second[k]) for k in first)
    monkeypatch.undo()
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    kept.write_bytes(b"not a torch file")
    cache.clear()
    third = load_vgg_state_dict("vgg11", f"{weights}+normalized")
    assert all(torch.equal(first[k], third[k]) for k in first)
    assert torch.load(kept, weights_only=True).keys() == set(RELUS)  # replaced by a good one
    cache.clear()


def test_a_read_only_cache_folder_warns_and_still_normalises(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    if os.geteuid() == 0:
        # root writes anywhere: make the write itself fail instead
        monkeypatch.setattr(normalized, "write_atomically", lambda *a, **k: (_ for _ in ()).throw(OSError("read-only")))
    else:
        (tmp_path / "torch" / "hub" / "checkpoints").mkdir(parents=True)
        (tmp_path / "torch" / "hub" / "checkpoints").chmod(0o500)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    weights = tmp_path / "mine.pth"
    torch.save(random_state_dict("vgg11", seed=5), weights)
    cache.clear()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        state = load_vgg_state_dict("vgg11", f"{weights}+normalized")
    assert any("filter means" in str(w.message) for w in caught)
    assert set(state) == set(random_state_dict("vgg11", seed=5))
    cache.clear()


def test_inception_refuses_the_normalised_network_clearly() -> None:
    with pytest.raises(WeightsError, match="VGGs only"):
        nst.deepdream(torch.rand(1, 3, 64, 64), model="googlenet", weights="random+normalized", steps_per_octave=1)


def test_the_command_line_takes_the_normalised_network(tmp_path: Path) -> None:
    from nstlib import cli

    img = tmp_path / "in.png"
    nst.save_image(torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(0)), img)
    out = tmp_path / "out.png"
    argv = ["stylize", str(img), str(img), "-o", str(out), "--steps", "1", "--size", "32", "--arch", "vgg16"]
    assert cli.main([*argv, "--weights", "random:0+normalized"]) == 0
    assert out.is_file()


def test_a_weights_file_replaced_under_the_same_name_is_normalised_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    weights = tmp_path / "mine.pth"
    torch.save(random_state_dict("vgg11", seed=6), weights)
    first = load_vgg_state_dict("vgg11", f"{weights}+normalized")
    torch.save(random_state_dict("vgg11", seed=7), weights)
    os.utime(weights, ns=(weights.stat().st_atime_ns, weights.stat().st_mtime_ns + 10**9))  # a new stamp for sure
    second = load_vgg_state_dict("vgg11", f"{weights}+normalized")
    assert not torch.equal(first["features.0.weight"], second["features.0.weight"])
    cache.clear()
