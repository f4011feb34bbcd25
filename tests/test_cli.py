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
    return subprocess.run([sys.executable, "-m", "nstlib", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_stylize_writes_a_png(tmp_path: Path) -> None:
    out = tmp_path / "results" / "cat_waves.png"
    done = run_cli("stylize", str(ROOT / "images" / "chelsea.jpg"), str(ROOT / "images" / "style_waves.jpg"),
                   "-o", str(out), "--size", "128", "--steps", "4", "--weights", "random", "--device", "cpu",
                   cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"wrote {out}" in done.stdout
    with Image.open(out) as image:
        assert image.format == "PNG" and max(image.size) == 128 and image.mode == "RGB"
    assert "stylize" in done.stderr  # the tqdm progress bar
    # a second run does not replace the result
    again = run_cli("stylize", str(ROOT / "images" / "chelsea.jpg"), str(ROOT / "images" / "style_waves.jpg"),
                    "-o", str(out), "--size", "128", "--steps", "1", "--weights", "random", cwd=tmp_path)
    assert again.returncode == 1 and "already exists" in again.stderr and "Traceback" not in again.stderr


def test_help_lists_the_options(tmp_path: Path) -> None:
    done = run_cli("stylize", "--help", cwd=tmp_path)
    assert done.returncode == 0
    for flag in ("--size", "--steps", "--style-weight", "--content-weight", "--tv-weight", "--optimizer", "--init",
                 "--weights", "--device", "--seed"):
        assert flag in done.stdout, flag
