"""Weights when things go wrong: corrupt, truncated, wrong architecture, unsafe pickles, offline.

The ImageNet file is never downloaded here: a missing one is provoked with an empty $TORCH_HOME
(the conftest ``torch_home`` fixture), and damaged ones are written under torchvision's own name.
"""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
import torch

import nstlib as nst
from nstlib import weights
from nstlib.net.layers import conv_shapes
from nstlib.weights import cache, imagenet, sources

VGG19_FILE = "vgg19-dcbb9e9d.pth"


def _load(path: Path, arch: str = "vgg19") -> dict:
    cache.clear()
    return sources.load_vgg_state_dict(arch, path)


def _zeros(arch: str) -> dict[str, torch.Tensor]:
    return {k: torch.zeros(shape) for k, shape in conv_shapes(arch).items()}


class _RunsCode:
    """Unpickling this would create a file: the proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (open, (str(self.marker), "w"))


def test_pickle_that_would_run_code_is_refused(tmp_path: Path) -> None:
    marker = tmp_path / "code-ran"
    path = tmp_path / "evil.pth"
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3), "payload": _RunsCode(marker)}, path)
    with pytest.raises(nst.WeightsError, match=r"Refused to load .* could run code .*weights_only=True"):
        _load(path)
    assert not marker.exists()


def test_truncated_weights_file(tmp_path: Path) -> None:
    whole = tmp_path / "whole.pth"
    torch.save({"features.0.weight": torch.randn(64, 3, 3, 3)}, whole)
    cut = tmp_path / "cut.pth"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    with pytest.raises(nst.WeightsError, match="is corrupt or truncated .*download it again"):
        _load(cut)


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", r"is empty \(0 bytes\)"),
        (b"<html>404 Not Found</html>", "corrupt or truncated|not a readable weights file"),
    ],
)
def test_corrupt_weights_file(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.pth"
    path.write_bytes(content)
    with pytest.raises(nst.WeightsError, match=message):
        _load(path)


def test_weights_for_another_vgg_say_which_one(tmp_path: Path) -> None:
    path = tmp_path / "vgg11.pth"
    torch.save(_zeros("vgg11"), path)
    with pytest.raises(nst.WeightsError, match=r"do not fit vgg19 .* They look like vgg11 weights: pass arch='vgg11'"):
        _load(path, "vgg19")


def test_weights_of_another_network(tmp_path: Path) -> None:
    path = tmp_path / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7), "fc.weight": torch.zeros(10, 512)}, path)
    with pytest.raises(nst.WeightsError, match=r"do not fit vgg19 \(missing .*state dict of torchvision's vgg19"):
        _load(path)


@pytest.mark.parametrize(
    "payload, message",
    [
        ([1, 2, 3], "does not hold a state dict"),
        ({"features.0.weight": torch.full((2,), float("nan"))}, "NaN or infinite values"),
    ],
)
def test_files_that_are_not_usable_state_dicts(tmp_path: Path, payload: object, message: str) -> None:
    path = tmp_path / "odd.pth"
    torch.save(payload, path)
    with pytest.raises(nst.WeightsError, match=message):
        weights.read_state_dict_file(path)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(nst.WeightsError, match="does not exist"):
        _load(tmp_path / "nope.pth")
    with pytest.raises(nst.WeightsError, match="is a folder, not a weights file"):
        weights.read_state_dict_file(tmp_path)


def test_damaged_cached_imagenet_file_says_how_to_replace_it(torch_home: Path) -> None:
    cached = torch_home / "hub" / "checkpoints" / VGG19_FILE
    cached.write_bytes(b"PK\x03\x04 half a download")
    with pytest.raises(nst.WeightsError) as info:
        nst.VGGFeatures(layers=("relu1_1",), weights="imagenet", device="cpu")
    message = str(info.value)
    assert str(cached) in message and "delete it" in message and "python -m nstlib fetch-weights" in message


def _assert_offline_message(message: str, torch_home: Path) -> None:
    assert VGG19_FILE in message
    assert str(torch_home / "hub" / "checkpoints") in message
    assert "python -m nstlib fetch-weights" in message and "weights='random'" in message
    assert "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth" in message


def test_offline_without_weights_one_clear_message(torch_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NSTLIB_OFFLINE", "1")
    start = time.perf_counter()
    with pytest.raises(nst.WeightsError, match="cannot be reached") as info:
        nst.VGGFeatures(weights="imagenet", device="cpu")
    seconds = time.perf_counter() - start
    _assert_offline_message(str(info.value), torch_home)
    # Measured well under 1 s (no network probe, no torchvision import). Only a hang guard is
    # asserted, generous because the CI machines are shared; the behaviour is what is tested.
    assert seconds < 20, f"the offline error took {seconds:.1f} s"


def test_no_network_detected_by_the_probe(torch_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NSTLIB_OFFLINE", raising=False)
    tried: list[tuple] = []

    def no_route(address: tuple, timeout: float | None = None) -> socket.socket:
        tried.append(address)
        raise OSError(101, "Network is unreachable")

    monkeypatch.setattr(imagenet.socket, "create_connection", no_route)
    with pytest.raises(nst.WeightsError, match="cannot be reached") as info:
        weights.fetch_weights("vgg19", progress=False)
    assert tried == [("download.pytorch.org", 443)]
    _assert_offline_message(str(info.value), torch_home)


def test_a_hanging_network_is_given_up_on(torch_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NSTLIB_OFFLINE", raising=False)
    release = threading.Event()

    def hang(address: tuple, timeout: float | None = None) -> socket.socket:
        release.wait(30)  # like a DNS lookup that never answers
        raise OSError("gave up")

    monkeypatch.setattr(imagenet.socket, "create_connection", hang)
    monkeypatch.setattr(imagenet, "PROBE_TIMEOUT_S", 0.2)
    try:
        with pytest.raises(nst.WeightsError, match="cannot be reached"):
            weights.fetch_weights("vgg19", progress=False)
    finally:
        release.set()


def test_weights_url_table_matches_torchvision() -> None:
    models = pytest.importorskip("torchvision.models")
    for arch, enum in weights.WEIGHT_ENUMS.items():
        assert weights.weights_url(arch) == getattr(models, enum).IMAGENET1K_V1.url
    assert weights.weights_path("vgg19").name == VGG19_FILE
