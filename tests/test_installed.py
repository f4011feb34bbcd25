"""nstlib works installed, not only from this checkout: the wheel holds every module, imports outside the checkout,
and finds the course's files (solutions/, images/, notebooks/) only where it is told or where it runs.

The rest of tests/ imports nstlib from the checkout (PYTHONPATH=<checkout>) with NSTLIB_COURSE unset; here the
wheel is built from the checkout into a temporary folder (nothing is written into the checkout), installed with
``pip install --target``, and used from a process whose only PYTHONPATH is that folder and whose current
directory is an empty folder outside the checkout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

import nstlib as nst
from nstlib.bench import baseline
from nstlib.course import files, gallery

ROOT = Path(__file__).resolve().parents[1]


def _pip(*args: str, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", *args, "--no-index", "--disable-pip-version-check", "-q"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(the wheel, the folder it is installed into), built once for this file."""
    tmp = tmp_path_factory.mktemp("installed")
    # setuptools builds in the source tree (build/, nstlib.egg-info/); an extra distutils config file, named by
    # DIST_EXTRA_CONFIG, moves both into the temporary folder so the checkout stays as it is.
    config = tmp / "setup.cfg"
    config.write_text(f"[build]\nbuild_base = {tmp / 'build'}\n[egg_info]\negg_base = {tmp}\n", encoding="utf-8")
    before = set(os.listdir(ROOT))
    _pip(
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "-w",
        str(tmp / "dist"),
        str(ROOT),
        env={**os.environ, "DIST_EXTRA_CONFIG": str(config)},
    )
    left = [name for name in set(os.listdir(ROOT)) - before if name == "build" or name.endswith(".egg-info")]
    assert not left, f"building the wheel wrote {left} into the checkout"
    (wheel,) = (tmp / "dist").glob("nstlib-*.whl")
    _pip("install", "--no-deps", "--target", str(tmp / "site"), str(wheel))
    return wheel, tmp / "site"


def test_the_wheel_holds_every_module_and_nothing_else(installed: tuple[Path, Path]) -> None:
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "nstlib").rglob("*.py") if "__pycache__" not in p.parts}
    packages = {m for m in modules if m.endswith("/__init__.py")}
    assert {"nstlib/__init__.py", "nstlib/course/check/__init__.py", "nstlib/bench/__init__.py"} <= packages
    assert packages - names == set(), "subpackages missing from the wheel"
    assert modules - names == set(), "modules missing from the wheel"
    images = {p.relative_to(ROOT).as_posix() for p in (ROOT / "nstlib" / "weights" / "normalization").iterdir()}
    assert len(images) >= 11 and images - names == set(), "the normalised network's images missing from the wheel"
    nets = {p.relative_to(ROOT).as_posix() for p in (ROOT / "nstlib" / "weights" / "transfer_nets").iterdir()}
    assert "nstlib/weights/transfer_nets/manifest.json" in nets and nets - names == set(), "shipped networks missing"
    assert all(n.startswith("nstlib/") or n.split("/")[0].endswith(".dist-info") for n in names), sorted(names)


# Run in the installed nstlib: a checker's model answer with and without NSTLIB_COURSE, looked up on each call.
_SCRIPT = r"""
import json, os, sys
import nstlib as nst  # NSTLIB_COURSE is unset here: importing never looks for the course folder

out = {"file": nst.__file__}
exercise = nst.check.fc_params


def without():
    try:
        exercise.solution()
    except nst.InputError as exc:
        return str(exc)
    return None


out["without"] = without()
os.environ["NSTLIB_COURSE"] = sys.argv[1]
source = str(exercise.solution())
answers = {}
exec(source, answers)
result = exercise(answers["fc_params"])
out.update(source=source, ok=result.ok, text=str(result))
del os.environ["NSTLIB_COURSE"]
out["without_again"] = without()
print(json.dumps(out))
"""


def test_installed_nstlib_finds_model_answers_through_NSTLIB_COURSE_or_says_to_set_it(
    installed: tuple[Path, Path], tmp_path: Path
) -> None:
    _, site = installed
    empty = tmp_path / "elsewhere"
    empty.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("NSTLIB_COURSE", "PYTHONPATH")}
    env["PYTHONPATH"] = str(site)
    done = subprocess.run(
        [sys.executable, "-s", "-c", _SCRIPT, str(ROOT)],
        cwd=empty,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = json.loads(done.stdout.splitlines()[-1])
    assert Path(out["file"]).resolve() == (site / "nstlib" / "__init__.py").resolve()
    assert out["ok"], out["text"]
    assert out["source"].startswith("# Exercise 1.") and "fc_params =" in out["source"]
    for key in ("without", "without_again"):  # the same call, without NSTLIB_COURSE: one clear error
        message = out[key]
        assert message is not None, f"{key}: found a course folder where there is none"
        assert "NSTLIB_COURSE" in message and "solutions/" in message and "\n" not in message, message


# -- course_folder's order, in this process ---------------------------------------------------------------------


def _course(folder: Path) -> Path:
    for part in files.COURSE_PARTS:
        (folder / part).mkdir(parents=True)
    return folder


def test_NSTLIB_COURSE_comes_first_and_must_be_a_course_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    course = _course(tmp_path / "kit")
    monkeypatch.setenv("NSTLIB_COURSE", str(course))
    assert files.course_folder() == course.resolve()
    (tmp_path / "half" / "solutions").mkdir(parents=True)
    monkeypatch.setenv("NSTLIB_COURSE", str(tmp_path / "half"))
    with pytest.raises(nst.InputError, match=r"NSTLIB_COURSE=.*half.*images/, notebooks/ missing"):
        files.course_folder()


def test_the_current_folder_or_one_above_it_comes_next(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NSTLIB_COURSE", raising=False)
    course = _course(tmp_path / "kit")
    monkeypatch.chdir(course / "notebooks")  # where the lessons run
    assert files.course_folder() == course.resolve()
    monkeypatch.chdir(course)
    assert files.course_folder() == course.resolve()


def test_then_the_checkout_nstlib_was_imported_from(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NSTLIB_COURSE", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "images").mkdir()  # one of the three is not a course folder
    assert files.imported_from() == ROOT
    assert files.course_folder() == ROOT


def test_nowhere_every_user_of_the_course_says_to_set_NSTLIB_COURSE(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NSTLIB_COURSE", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(files, "imported_from", lambda: tmp_path)  # as if installed into site-packages
    for call in (
        files.course_folder,
        nst.check.fc_params.solution,
        lambda: baseline.bench_images(32),
        lambda: gallery.render_gallery(tmp_path / "g", size=64, steps=1, weights="random:1"),
    ):
        with pytest.raises(nst.InputError, match="set NSTLIB_COURSE to"):
            call()
    assert not (tmp_path / "g").exists() or not any((tmp_path / "g").iterdir())
