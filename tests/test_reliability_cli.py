"""The command line when things go wrong: one line on stderr, no traceback, a non-zero exit code,
and no output file (not even a temporary one) left behind.

Three cases run as real subprocesses (``python -m nstlib``), started together because each pays
for importing torch; the rest call ``nstlib.cli.main([...])`` in-process.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from nstlib import cli
from nstlib.algorithms import transfer
from nstlib.loss import objective as loss_objective
from nstlib.optim import schedule

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny images: one thread is as fast, and much faster on a busy shared CPU (see test_reliability_run)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def pictures(tmp_path: Path) -> tuple[Path, Path, Path]:
    """content.png, style.jpg in tmp_path/in, and an empty output folder tmp_path/out."""
    folder, out = tmp_path / "in", tmp_path / "out"
    folder.mkdir()
    out.mkdir()
    rng = np.random.default_rng(0)
    Image.fromarray((rng.random((40, 48, 3)) * 255).astype(np.uint8)).save(folder / "content.png")
    Image.fromarray((rng.random((44, 40, 3)) * 255).astype(np.uint8)).save(folder / "style.jpg")
    return folder / "content.png", folder / "style.jpg", out


def _run(capsys: pytest.CaptureFixture, *args: object) -> tuple[int, str, str]:
    argv = ["stylize", *map(str, args)]
    argv += [] if "--steps" in argv else ["--steps", "1"]
    argv += ["--size", "32"] if "--size" not in argv else []
    code = cli.main([*argv, "--weights", "random", "--device", "cpu", "--quiet"])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# --------------------------------------------------------------------------- inputs


def test_missing_content(capsys: pytest.CaptureFixture, pictures: tuple[Path, Path, Path]) -> None:
    content, style, out = pictures
    code, stdout, err = _run(capsys, content.with_name("nope.png"), style, "-o", out / "r.png")
    assert code == 1 and stdout == ""
    assert _one_line_error(err).startswith("error: No image at") and "does not exist" in err
    assert list(out.iterdir()) == []


def test_text_file_named_jpg_and_folder(capsys: pytest.CaptureFixture, pictures: tuple[Path, Path, Path]) -> None:
    content, style, out = pictures
    fake = content.with_name("fake.jpg")
    fake.write_text("not really a photo\n")
    code, _, err = _run(capsys, content, fake, "-o", out / "r.png")
    assert code == 1 and "look like text" in _one_line_error(err)
    code, _, err = _run(capsys, content.parent, style, "-o", out / "r.png")
    assert code == 1 and "is a folder, not an image file" in _one_line_error(err)
    assert list(out.iterdir()) == []


def test_image_too_small_says_the_minimum(capsys: pytest.CaptureFixture, pictures: tuple[Path, Path, Path]) -> None:
    content, style, out = pictures
    code, _, err = _run(capsys, content, style, "-o", out / "r.png", "--size", "8")
    assert code == 1 and "needs at least 16x16 px" in _one_line_error(err)
    assert list(out.iterdir()) == []


def test_huge_input_is_resized_to_size(capsys: pytest.CaptureFixture, pictures: tuple[Path, Path, Path]) -> None:
    content, style, out = pictures
    y, x = np.mgrid[0:1800, 0:2400]
    big = content.with_name("big.jpg")
    Image.fromarray(np.stack([x % 256, y % 256, (x + y) % 256], -1).astype(np.uint8)).save(big)
    code, stdout, _ = _run(capsys, big, style, "-o", out / "r.png")
    assert code == 0 and "32x24 px" in stdout
    assert Image.open(out / "r.png").size == (32, 24)


# --------------------------------------------------------------------------- the output, checked before any work


def test_existing_output_is_kept_and_checked_first(
    capsys: pytest.CaptureFixture, pictures: tuple[Path, Path, Path]
) -> None:
    content, style, out = pictures
    (out / "r.png").write_bytes(b"precious")
    # The content is missing too: the output is reported, so it was checked before any image was read.
    code, _, err = _run(capsys, content.with_name("nope.png"), style, "-o", out / "r.png")
    assert code == 1 and "already exists; nothing was written" in _one_line_error(err) and "--overwrite" in err
    assert (out / "r.png").read_bytes() == b"precious" and len(list(out.iterdir())) == 1
    code, _, _ = _run(capsys, content, style, "-o", out / "r.png", "--overwrite")
    assert code == 0 and Image.open(out / "r.png").size == (32, 27)


@pytest.mark.parametrize(
    "name, message", [("r.gif", r"use a .png, .jpg or .jpeg"), ("file.txt/r.png", "is a file, not a folder")]
)
def test_unwritable_output(
    capsys: pytest.CaptureFixture, pictures: tuple[Path, Path, Path], name: str, message: str
) -> None:
    content, style, out = pictures
    (out / "file.txt").write_text("x")
    code, _, err = _run(capsys, content, style, "-o", out / name)
    assert code == 1 and message in _one_line_error(err)
    assert sorted(p.name for p in out.iterdir()) == ["file.txt"]


def test_missing_output_folder_is_created(capsys: pytest.CaptureFixture, pictures: tuple[Path, Path, Path]) -> None:
    content, style, out = pictures
    code, stdout, err = _run(capsys, content, style, "-o", out / "new" / "r.jpg")
    assert code == 0 and err == "" and stdout.startswith("wrote ")
    assert Image.open(out / "new" / "r.jpg").size == (32, 27)


# --------------------------------------------------------------------------- failures during the run


def test_device_weights_and_memory_errors(
    capsys: pytest.CaptureFixture, pictures: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    content, style, out = pictures
    if not torch.cuda.is_available():
        code = cli.main(
            [
                "stylize",
                str(content),
                str(style),
                "-o",
                str(out / "r.png"),
                "--device",
                "cuda",
                "--weights",
                "random",
                "--quiet",
            ]
        )
        assert code == 1 and "'cuda' was requested but is not available" in _one_line_error(capsys.readouterr().err)
    broken = out.parent / "broken.pth"
    broken.write_bytes(b"\x00" * 100)
    code = cli.main(
        [
            "stylize",
            str(content),
            str(style),
            "-o",
            str(out / "r.png"),
            "--weights",
            str(broken),
            "--device",
            "cpu",
            "--quiet",
            "--size",
            "32",
        ]
    )
    assert code == 1 and "not a readable weights file" in _one_line_error(capsys.readouterr().err)
    monkeypatch.setattr(schedule, "available_memory", lambda device: 2**30)
    code, _, err = _run(capsys, content, style, "-o", out / "r.png", "--size", "2000")
    line = _one_line_error(err)
    fits = int(line.split("--size ")[1].split()[0])
    assert code == 1 and "only 1.00 GiB are free" in line and 64 <= fits < 2000 and "--no-memory-check" in line
    assert list(out.iterdir()) == []


def test_out_of_memory_mid_run(
    capsys: pytest.CaptureFixture, pictures: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    content, style, out = pictures

    def exhausted(*args: object, **kwargs: object) -> torch.Tensor:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB\nmore details on line two")

    monkeypatch.setattr(loss_objective, "content_loss", exhausted)
    code, _, err = _run(capsys, content, style, "-o", out / "r.png")
    assert code == 1 and "Out of memory on cpu at 27x32 px" in _one_line_error(err) and "size=" in err
    assert list(out.iterdir()) == []


def test_nan_mid_run_is_one_warning_line_and_the_result_is_written(
    capsys: pytest.CaptureFixture, pictures: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    content, style, out = pictures
    calls = {"n": 0}
    tv = loss_objective.tv_loss

    def flaky(image: torch.Tensor, *args: object, **kwargs: object) -> torch.Tensor:
        calls["n"] += 1
        return tv(image, *args, **kwargs) * (float("nan") if calls["n"] == 2 else 1.0)

    monkeypatch.setattr(loss_objective, "tv_loss", flaky)
    code, stdout, err = _run(capsys, content, style, "-o", out / "r.png", "--steps", "3")
    assert code == 0 and "3 steps" in stdout
    assert _one_line_error(err).startswith("warning: The loss became NaN/Inf at step 2")
    assert (out / "r.png").is_file()


def test_interrupt_writes_nothing(
    capsys: pytest.CaptureFixture, pictures: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    content, style, out = pictures
    calls = {"n": 0}
    real = loss_objective.content_loss

    def ctrl_c(*args: object, **kwargs: object) -> torch.Tensor:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(loss_objective, "content_loss", ctrl_c)
    code, _, err = _run(capsys, content, style, "-o", out / "r.png", "--steps", "10")
    assert code == 130 and _one_line_error(err) == "interrupted after 2 steps; nothing was written"
    assert list(out.iterdir()) == []


@pytest.mark.parametrize("failure, code", [(KeyboardInterrupt(), 130), (OSError(28, "No space left on device"), 1)])
def test_failure_while_saving_leaves_no_file(
    capsys: pytest.CaptureFixture,
    pictures: tuple[Path, Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    failure: BaseException,
    code: int,
) -> None:
    content, style, out = pictures

    def broken_save(self: Image.Image, fp: object, *args: object, **kwargs: object) -> None:
        fp.write(b"half")  # type: ignore[attr-defined]
        raise failure

    monkeypatch.setattr(Image.Image, "save", broken_save)
    result, _, err = _run(capsys, content, style, "-o", out / "r.png")
    assert result == code
    _one_line_error(err)
    assert list(out.iterdir()) == []  # no r.png and no .r.png.*.part


def test_unexpected_errors_are_one_line_unless_debugging(
    capsys: pytest.CaptureFixture, pictures: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    content, style, out = pictures

    def bug(*args: object, **kwargs: object) -> None:
        raise ValueError("something nobody foresaw\nwith a second line")

    monkeypatch.setattr(transfer, "stylize", bug)
    code, _, err = _run(capsys, content, style, "-o", out / "r.png")
    assert code == 1
    assert _one_line_error(err) == (
        "error: unexpected ValueError: something nobody foresaw with a second line "
        "(set NSTLIB_DEBUG=1 to see the traceback, and please report it)"
    )
    monkeypatch.setenv("NSTLIB_DEBUG", "1")
    with pytest.raises(ValueError, match="nobody foresaw"):
        cli.main(["stylize", str(content), str(style), "-o", str(out / "r.png"), "--quiet"])


def test_sigterm_is_handled_like_ctrl_c() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(KeyboardInterrupt):
        with cli._terminate_as_interrupt():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the handler runs as soon as the signal arrives and ends the sleep
    assert signal.getsignal(signal.SIGTERM) is before  # restored


# --------------------------------------------------------------------------- real subprocesses


@pytest.fixture(scope="module")
def subprocess_runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[int, str, str, Path]]:
    """Three ``python -m nstlib`` runs started together: a missing input, fetch-weights offline, a success."""
    base = tmp_path_factory.mktemp("cli")
    rng = np.random.default_rng(1)
    Image.fromarray((rng.random((36, 48, 3)) * 255).astype(np.uint8)).save(base / "content.png")
    Image.fromarray((rng.random((36, 36, 3)) * 255).astype(np.uint8)).save(base / "style.png")
    (base / "torch_home").mkdir()
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "NSTLIB_WEIGHTS": "random",
        "NSTLIB_OFFLINE": "1",
        "TORCH_HOME": str(base / "torch_home"),
        "OMP_NUM_THREADS": "1",
    }
    env.pop("NSTLIB_DEBUG", None)
    commands = {
        "missing": ["stylize", str(base / "nope.jpg"), str(base / "style.png"), "-o", str(base / "missing" / "r.png")],
        "offline": ["fetch-weights"],
        "success": [
            "stylize",
            str(base / "content.png"),
            str(base / "style.png"),
            "-o",
            str(base / "ok" / "r.png"),
            "--size",
            "32",
            "--steps",
            "2",
            "--quiet",
            "--device",
            "cpu",
        ],
    }
    for folder in ("missing", "ok"):
        (base / folder).mkdir()
    procs = {
        name: subprocess.Popen(
            [sys.executable, "-m", "nstlib", *args],
            env=env,
            cwd=base,
            text=True,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            preexec_fn=lambda: os.umask(0o022),
        )
        for name, args in commands.items()
    }
    results = {}
    for name, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        results[name] = (proc.returncode, stdout, stderr, base)
    return results


def test_subprocess_missing_input(subprocess_runs: dict) -> None:
    code, stdout, stderr, base = subprocess_runs["missing"]
    assert code == 1 and stdout == ""
    assert _one_line_error(stderr).startswith("error: No image at")
    assert list((base / "missing").iterdir()) == []


def test_subprocess_fetch_weights_offline(subprocess_runs: dict) -> None:
    code, _, stderr, base = subprocess_runs["offline"]
    line = _one_line_error(stderr)
    assert code == 1 and "vgg19-dcbb9e9d.pth" in line and "fetch-weights" in line
    assert str(base / "torch_home" / "hub" / "checkpoints") in line


def test_subprocess_success_writes_a_normal_file(subprocess_runs: dict) -> None:
    code, stdout, stderr, base = subprocess_runs["success"]
    assert code == 0, stderr
    assert stderr == "" and stdout.startswith("wrote ") and "2 steps" in stdout
    assert [p.name for p in (base / "ok").iterdir()] == ["r.png"]  # no temporary file left
    assert (base / "ok" / "r.png").stat().st_mode & 0o777 == 0o644  # umask 022, not mkstemp's 0600
    assert Image.open(base / "ok" / "r.png").size == (32, 24)
