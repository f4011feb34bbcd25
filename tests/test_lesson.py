"""lesson_setup: quick mode, and the random-weights notice that lessons must show."""
from __future__ import annotations

import pytest

import nstlib as nst


def test_quick_mode_and_explicit_random(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.setenv("NSTLIB_QUICK", "1")
    monkeypatch.setenv("NSTLIB_WEIGHTS", "random")
    setup = nst.lesson_setup(size=512, steps=400, quick_size=64, quick_steps=20)
    assert (setup.quick, setup.size, setup.steps, setup.weights) == (True, 64, 20, "random")
    out = capsys.readouterr().out
    assert "RANDOM VGG weights" in out and "vgg19-dcbb9e9d.pth" in out and "fetch-weights" in out


def test_full_size_falls_back_visibly_when_weights_are_missing(
        torch_home, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.delenv("NSTLIB_QUICK", raising=False)
    monkeypatch.delenv("NSTLIB_WEIGHTS", raising=False)
    setup = nst.lesson_setup(size=512, steps=400)
    assert (setup.quick, setup.size, setup.steps, setup.weights) == (False, 512, 400, "random")
    assert "RANDOM VGG weights" in capsys.readouterr().out


def test_imagenet_when_cached_says_nothing_about_random(
        torch_home, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    monkeypatch.delenv("NSTLIB_WEIGHTS", raising=False)
    nst.weights_path("vgg19").write_bytes(b"placeholder")  # only its presence is checked here
    setup = nst.lesson_setup()
    assert setup.weights == "imagenet"
    assert "RANDOM" not in capsys.readouterr().out


def test_notice_names_the_network_and_its_file() -> None:
    from nstlib.lesson import random_weights_notice

    notice = random_weights_notice("inception_v3")
    assert "RANDOM Inception v3 weights" in notice and "inception_v3_google-0cc3c7bd.pth" in notice
    assert "fetch-weights --arch inception_v3" in notice
