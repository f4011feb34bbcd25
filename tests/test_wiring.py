"""What reaches stylize from the command line, the style explorer and the gallery: every flag and control.

A spy stands in for the computation (these tests are about the wiring; the computation itself is tested
against oracles in test_option_effects.py), so each case takes milliseconds.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

import nstlib as nst
from nstlib import cli
from nstlib.algorithms import transfer
from nstlib.course import gallery

ROOT = Path(__file__).resolve().parents[1]
CHELSEA, WAVES = str(ROOT / "images" / "chelsea.jpg"), str(ROOT / "images" / "style_waves.jpg")


class Spy:
    """Records every call; returns a result whose image is the first argument (the content)."""

    def __init__(self) -> None:
        self.calls: list[tuple[tuple, dict]] = []

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        image = args[0] if args else kwargs["content"]
        return nst.TransferResult(image=image.clone(), history={"total": [1.0]}, steps_done=kwargs.get("steps", 1))

    @property
    def kwargs(self) -> dict:
        ((_, kwargs),) = self.calls
        return kwargs


@pytest.fixture
def spy(monkeypatch: pytest.MonkeyPatch) -> Spy:
    fake = Spy()
    monkeypatch.setattr(transfer, "stylize", fake)  # the CLI imports it from nstlib.algorithms.transfer when it runs
    return fake


# -- the command line --------------------------------------------------------------------------------------


def test_cli_defaults_leave_the_choices_to_stylize(spy: Spy, tmp_path: Path) -> None:
    assert cli.main(["stylize", CHELSEA, WAVES, "-o", str(tmp_path / "out.png")]) == 0
    kw = spy.kwargs
    assert (kw["content_weight"], kw["style_weight"], kw["tv_weight"], kw["weights"], kw["arch"]) == (None,) * 5
    assert (kw["steps"], kw["optimizer"], kw["init"], kw["seed"], kw["progress"], kw["check_memory"]) == (
        300,
        "lbfgs",
        "content",
        0,
        True,
        True,
    )
    (content, style), _ = spy.calls[0]
    assert max(content.shape[-2:]) == 512 and max(style.shape[-2:]) == 512


@pytest.mark.parametrize(
    "flags,expected",
    [
        (["--style-weight", "123.5"], {"style_weight": 123.5}),
        (["--content-weight", "0.25"], {"content_weight": 0.25}),
        (["--tv-weight", "3"], {"tv_weight": 3.0}),
        (["--optimizer", "adam"], {"optimizer": "adam"}),
        (["--init", "noise"], {"init": "noise"}),
        (["--init", "style"], {"init": "style"}),
        (["--arch", "vgg16"], {"arch": "vgg16"}),
        (["--weights", "random:4"], {"weights": "random:4"}),
        (["--seed", "9"], {"seed": 9}),
        (["--steps", "7"], {"steps": 7}),
        (["--device", "cpu"], {"device": "cpu"}),
        (["--quiet"], {"progress": False}),
        (["--no-memory-check"], {"check_memory": False}),
    ],
)
def test_each_cli_flag_reaches_stylize(spy: Spy, tmp_path: Path, flags: list[str], expected: dict) -> None:
    assert cli.main(["stylize", CHELSEA, WAVES, "-o", str(tmp_path / "out.png"), *flags]) == 0
    kw = spy.kwargs
    for key, value in expected.items():
        assert kw[key] == value and type(kw[key]) is type(value), key
    untouched = {
        "style_weight": None,
        "content_weight": None,
        "tv_weight": None,
        "optimizer": "lbfgs",
        "init": "content",
        "seed": 0,
        "steps": 300,
        "progress": True,
        "check_memory": True,
    }
    for key, value in untouched.items():
        if key not in expected:
            assert kw[key] == value, key  # one flag changes one argument


def test_cli_size_sets_both_images_and_the_output(spy: Spy, tmp_path: Path) -> None:
    out = tmp_path / "small.png"
    assert cli.main(["stylize", CHELSEA, WAVES, "-o", str(out), "--size", "40"]) == 0
    (content, style), _ = spy.calls[0]
    assert max(content.shape[-2:]) == 40 and max(style.shape[-2:]) == 40
    assert nst.load_image(out).shape == content.shape  # what stylize returned is what was written


# -- the style explorer ------------------------------------------------------------------------------------

widgets = pytest.importorskip("nstlib.course.widgets", reason="ipywidgets is not installed")


@pytest.fixture
def explorer(images_dir: Path, monkeypatch: pytest.MonkeyPatch):
    fake = Spy()
    monkeypatch.setattr(widgets, "stylize", fake)
    ex = widgets.style_explorer(images_dir=images_dir, size=32, steps=3, weights="random:2", arch="vgg16", device="cpu")
    ex.spy = fake
    return ex


def test_explorer_defaults_reach_stylize(explorer) -> None:
    explorer.run()
    kw = explorer.spy.kwargs
    defaults = nst.weights.sources.weights_source("random").defaults
    assert (kw["content_weight"], kw["style_weight"], kw["tv_weight"]) == (
        defaults.content_weight,
        defaults.style_weight,
        defaults.tv_weight,
    )
    assert (kw["weights"], kw["arch"], kw["device"], kw["steps"]) == ("random:2", "vgg16", "cpu", 3)
    assert kw["content_layers"] == ("relu4_2",) and kw["style_layers"] == tuple(nst.GATYS_STYLE_LAYERS)


@pytest.mark.parametrize(
    "control,value,key,expected",
    [
        ("content_weight", 1e2, "content_weight", 100.0),
        ("style_weight", 1e3, "style_weight", 1000.0),
        ("tv_weight", 1e-1, "tv_weight", 0.1),
        ("steps", 17, "steps", 17),
        ("content_layers", ("relu2_2", "relu3_1"), "content_layers", ("relu2_2", "relu3_1")),
        ("style_layers", ("relu1_2",), "style_layers", ("relu1_2",)),
    ],
)
def test_each_explorer_control_reaches_stylize(explorer, control: str, value, key: str, expected) -> None:
    getattr(explorer, control).value = value
    explorer.run()
    kw = explorer.spy.kwargs
    assert kw[key] == (pytest.approx(expected) if isinstance(expected, float) else expected)
    defaults = nst.weights.sources.weights_source("random").defaults
    for other in ("content_weight", "style_weight", "tv_weight"):
        if other != key:
            assert kw[other] == pytest.approx(getattr(defaults, other)), other  # one control changes one argument


def test_explorer_images_and_size_reach_stylize(explorer, images_dir: Path) -> None:
    explorer.content_choice.value = "astronaut.jpg"
    explorer.style_choice.value = "style_mosaic.jpg"
    explorer.size.value = 48
    explorer.run()
    kw = explorer.spy.kwargs
    torch.testing.assert_close(kw["content"], nst.load_image(images_dir / "astronaut.jpg", size=48))
    torch.testing.assert_close(kw["style"], nst.load_image(images_dir / "style_mosaic.jpg", size=48))


# -- the gallery -------------------------------------------------------------------------------------------


def test_gallery_passes_size_steps_and_weights_to_every_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: dict[str, list] = {"stylize": [], "reconstruct": [], "deepdream": []}

    def fake(kind):
        def run(image, *args, **kwargs):
            calls[kind].append((image, args, kwargs))
            return SimpleNamespace(image=image.clone())

        return run

    for kind in calls:
        monkeypatch.setattr(gallery, kind, fake(kind))
    gallery.render_gallery(tmp_path / "g", size=64, steps=6, weights="random:1", transfer_size=80, log=lambda _: None)
    recon = calls["reconstruct"]
    assert len(recon) == 10 and all(kw["steps"] == 6 and kw["pooling"] == "avg" for _, _, kw in recon)
    assert [a[0] for _, a, kw in recon[:5]] == ["relu1_2", "relu2_2", "relu3_2", "relu4_2", "relu5_2"]
    assert all(kw["mode"] == "style" for _, _, kw in recon[5:])
    assert [list(a[0]) for _, a, _ in recon[5:]] == [list(nst.GATYS_STYLE_LAYERS[:k]) for k in range(1, 6)]
    transfers, balance = calls["stylize"][:4], calls["stylize"][4:]
    assert all("steps" not in kw and max(img.shape[-2:]) == 80 for img, _, kw in transfers)  # all defaults
    assert [kw["style_weight"] for _, _, kw in balance] == [5e4 * f for f in (10.0, 0.1)] * 2  # quick: size < 96
    assert all(
        kw["init"] == "noise" and kw["content_layers"] == "relu4_2" and max(img.shape[-2:]) == 48
        for img, _, kw in balance
    )
    every = [kw for group in calls.values() for _, _, kw in group]
    assert len(every) == 10 + 8 + 3 and all(kw["weights"] == "random:1" for kw in every)
    assert [kw["layers"] for _, _, kw in calls["deepdream"]] == ["relu3_4", "relu4_4", "relu5_4"]
