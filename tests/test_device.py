"""Device choice: CUDA, then MPS, then CPU; an explicit request is honoured or refused, never ignored."""

from __future__ import annotations

import pytest
import torch

import nstlib as nst
from nstlib import device as D


def test_prefers_cuda_then_mps_then_cpu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NSTLIB_DEVICE", raising=False)
    available = {"cuda": False, "mps": True, "cpu": True}
    monkeypatch.setattr(D, "_available", lambda kind: available[kind])
    assert nst.get_device() == torch.device("mps")
    available["cuda"] = True
    assert nst.get_device() == torch.device("cuda")
    available.update(cuda=False, mps=False)
    assert nst.get_device() == torch.device("cpu")


def test_environment_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NSTLIB_DEVICE", "cpu")
    assert nst.get_device("cuda") == torch.device("cpu")


def test_unavailable_or_unknown_device_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NSTLIB_DEVICE", raising=False)
    monkeypatch.setattr(D, "_available", lambda kind: kind == "cpu")
    with pytest.raises(nst.DeviceError, match="'cuda' was requested but is not available"):
        nst.get_device("cuda")
    with pytest.raises(nst.DeviceError, match="Unknown device"):
        nst.get_device("xla")


@pytest.mark.gpu
def test_cuda_features_match_cpu() -> None:
    image = torch.rand(1, 3, 64, 64)
    cpu = nst.VGGFeatures(layers="relu4_2", weights="random", device="cpu")(image)["relu4_2"]
    gpu = nst.VGGFeatures(layers="relu4_2", weights="random", device="cuda")(image.cuda())["relu4_2"]
    assert torch.allclose(gpu.cpu(), cpu, rtol=1e-3, atol=1e-3 * float(cpu.abs().max()))
