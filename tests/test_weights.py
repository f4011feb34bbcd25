"""Where the weights come from: torchvision's cache (real path, synthetic file), random, a file, offline."""

from __future__ import annotations

import hashlib
import socket
import time
from pathlib import Path

import pytest
import torch
import torchvision

import nstlib as nst
import nstlib.weights as W
from nstlib.weights import imagenet
from nstlib.weights.sources import load_vgg_state_dict


def torchvision_format_state_dict(arch: str = "vgg19", seed: int = 11) -> dict[str, torch.Tensor]:
    """Every key and shape of torchvision's full ``vgg19()`` (features *and* classifier).

    The conv weights are real random tensors; the 120M classifier numbers are a stride-0 view of one
    value so the file stays small while its shapes are exact.
    """
    with torch.device("meta"):
        template = getattr(torchvision.models, arch)(weights=None).state_dict()
    convs = W.random_state_dict(arch, seed)
    state = {}
    for key, value in template.items():
        state[key] = convs[key].clone() if key in convs else torch.full((1,), 0.01).expand(value.shape)
    return state


def write_cached_file(torch_home: Path, arch: str = "vgg19", seed: int = 11) -> tuple[Path, dict]:
    state = torchvision_format_state_dict(arch, seed)
    path = torch_home / "hub" / "checkpoints" / W.weights_path(arch).name
    torch.save(state, path)
    return path, state


def test_cache_location_is_torchvisions(torch_home: Path) -> None:
    path = nst.weights_path("vgg19")
    assert path == torch_home / "hub" / "checkpoints" / "vgg19-dcbb9e9d.pth"
    assert path.name == Path(torchvision.models.VGG19_Weights.IMAGENET1K_V1.url).name
    assert nst.weights_path("vgg16").name == "vgg16-397923af.pth"
    assert not nst.weights_available("vgg19")


def test_synthetic_torchvision_file_loads_without_network(torch_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path, state = write_cached_file(torch_home)
    assert path.stat().st_size < 100_000_000  # the classifier is stored as a broadcast view
    # torchvision itself accepts the file: the format is exact
    with torch.device("meta"):
        model = torchvision.models.vgg19(weights=None)
    model.load_state_dict(torch.load(path, weights_only=True, map_location="meta"), strict=True, assign=True)

    def no_network(*args, **kwargs):
        raise AssertionError("the network must not be touched when the file is cached")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_network)
    monkeypatch.delenv("NSTLIB_OFFLINE", raising=False)
    assert nst.weights_available("vgg19")
    vgg = nst.VGGFeatures(layers=("relu5_1",), weights="imagenet", device="cpu")
    assert torch.equal(vgg.features[0].weight, state["features.0.weight"])
    assert torch.equal(vgg.features[28].weight, state["features.28.weight"])  # conv5_1


def test_default_is_imagenet_and_env_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NSTLIB_WEIGHTS", raising=False)
    assert W.default_weights() == "imagenet"
    monkeypatch.setenv("NSTLIB_WEIGHTS", "random:3")
    assert W.default_weights() == "random:3"


def test_offline_without_file_is_one_clear_error_fast(torch_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NSTLIB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(nst.WeightsError) as info:
        nst.VGGFeatures(weights="imagenet", device="cpu")
    elapsed = time.perf_counter() - start
    message = str(info.value)
    assert "vgg19-dcbb9e9d.pth" in message
    assert str(torch_home / "hub" / "checkpoints") in message
    assert "python -m nstlib fetch-weights" in message and "weights='random'" in message
    assert elapsed < 10, f"took {elapsed:.1f} s"  # hang guard only; it takes well under a second


def test_unreachable_host_does_not_hang(torch_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A network that never answers (DNS or TCP black hole) still gives the error within seconds."""
    monkeypatch.delenv("NSTLIB_OFFLINE", raising=False)

    def black_hole(address, timeout=None, *args, **kwargs):
        time.sleep(60)

    monkeypatch.setattr(socket, "create_connection", black_hole)
    start = time.perf_counter()
    with pytest.raises(nst.WeightsError, match="cannot be reached"):
        load_vgg_state_dict("vgg16", "imagenet")
    assert time.perf_counter() - start < 20  # the probe gives up after 5 s; a hang would be 60 s


def test_download_path_checks_the_hash(torch_home: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """fetch_weights downloads through torch.hub with check_hash; a file whose sha256 does not match the
    prefix in its name is rejected and not left in the cache. (Served from a file:// URL: no network here.)"""
    source = tmp_path / "server"
    source.mkdir()
    payload = source / "payload.pth"
    torch.save(torchvision_format_state_dict("vgg11"), payload)
    digest = hashlib.sha256(payload.read_bytes()).hexdigest()
    monkeypatch.setattr(imagenet, "host_reachable", lambda url, timeout=5.0: True)

    good = source / f"vgg11-{digest[:8]}.pth"
    payload.rename(good)
    monkeypatch.setattr(imagenet, "weights_url", lambda arch="vgg19": good.as_uri())
    path = W.fetch_weights("vgg11", progress=False)
    assert path == torch_home / "hub" / "checkpoints" / good.name and path.is_file()
    assert load_vgg_state_dict("vgg11", "imagenet")["features.0.weight"].shape == (64, 3, 3, 3)

    bad = source / "vgg11-00000000.pth"
    good.rename(bad)
    monkeypatch.setattr(imagenet, "weights_url", lambda arch="vgg19": bad.as_uri())
    with pytest.raises(nst.WeightsError, match="Downloading the weights failed.*hash"):
        W.fetch_weights("vgg11", progress=False)
    assert not (torch_home / "hub" / "checkpoints" / bad.name).exists()


def test_random_weights_are_seeded_and_identical() -> None:
    a = W.random_state_dict("vgg19", 0)
    b = W.random_state_dict("vgg19", 0)
    c = W.random_state_dict("vgg19", 1)
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not torch.equal(a["features.0.weight"], c["features.0.weight"])
    assert torch.equal(load_vgg_state_dict("vgg19", "random")["features.0.weight"], a["features.0.weight"])
    x = torch.rand(1, 3, 32, 32)
    one = nst.VGGFeatures(layers="relu2_1", weights="random", device="cpu")(x)["relu2_1"]
    two = nst.VGGFeatures(layers="relu2_1", weights="random", device="cpu")(x)["relu2_1"]
    assert torch.equal(one, two)
    # Kaiming fan-in: the activations keep their scale through depth instead of vanishing
    deep = nst.VGGFeatures(layers=("relu1_1", "relu5_1"), weights="random", device="cpu")(torch.rand(1, 3, 64, 64))
    ratio = deep["relu5_1"].pow(2).mean() / deep["relu1_1"].pow(2).mean()
    assert 0.01 < float(ratio) < 100


def test_bad_random_seed_spelling() -> None:
    with pytest.raises(nst.WeightsError, match="random:SEED"):
        load_vgg_state_dict("vgg19", "random:abc")


def test_state_dict_file_in_torchvision_or_features_format(tmp_path: Path) -> None:
    full = tmp_path / "full.pth"
    torch.save(torchvision_format_state_dict("vgg16", seed=5), full)
    features_only = tmp_path / "features.pth"
    torch.save({k.removeprefix("features."): v for k, v in W.random_state_dict("vgg16", 5).items()}, features_only)
    a = load_vgg_state_dict("vgg16", full)
    b = load_vgg_state_dict("vgg16", str(features_only))
    assert all(torch.equal(a[k], b[k]) for k in a)
    with pytest.raises(nst.WeightsError, match="do not fit vgg19.*look like vgg16 weights: pass arch='vgg16'"):
        load_vgg_state_dict("vgg19", full)
