"""Command line: ``python -m nstlib stylize CONTENT STYLE -o OUT`` and friends.

Errors are printed as one line (no traceback) with a non-zero exit code, and no output file is
left behind when a run fails.
"""
from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from nstlib.errors import NSTError

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
    run.add_argument("--style-weight", type=float, default=5e4, help="beta (default 5e4)")
    run.add_argument("--content-weight", type=float, default=1.0, help="alpha (default 1)")
    run.add_argument("--tv-weight", type=float, default=10.0, help="total-variation weight (default 10)")
    run.add_argument("--optimizer", choices=("lbfgs", "adam"), default="lbfgs")
    run.add_argument("--init", choices=("content", "noise", "style"), default="content")
    run.add_argument("--weights", default=None, help="imagenet | random[:SEED] | path to a state dict (default: $NSTLIB_WEIGHTS or imagenet)")
    run.add_argument("--arch", choices=("vgg19", "vgg16"), default="vgg19")
    run.add_argument("--device", default=None, help="cuda | mps | cpu (default: best available)")
    run.add_argument("--seed", type=int, default=0)
    run.add_argument("--overwrite", action="store_true", help="replace OUTPUT if it exists")
    run.add_argument("--quiet", action="store_true", help="no progress bar")

    fetch = sub.add_parser("fetch-weights", help="download torchvision's ImageNet weights into the torch cache")
    fetch.add_argument("--arch", choices=("vgg19", "vgg16", "vgg13", "vgg11"), default="vgg19")
    return parser


def _stylize(args: argparse.Namespace) -> int:
    from nstlib.images import load_image, save_image
    from nstlib.transfer import stylize

    if args.output.exists() and not args.overwrite:
        raise NSTError(f"'{args.output}' already exists; nothing was done. Choose another name or pass --overwrite.")
    content = load_image(args.content, size=args.size)
    style = load_image(args.style, size=args.size)
    result = stylize(content, style, steps=args.steps, style_weight=args.style_weight,
                     content_weight=args.content_weight, tv_weight=args.tv_weight, optimizer=args.optimizer,
                     init=args.init, weights=args.weights, arch=args.arch, device=args.device, seed=args.seed,
                     progress=not args.quiet)
    if result.interrupted:
        print(f"interrupted after {result.steps_done} steps; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    path = save_image(result.image, args.output, overwrite=args.overwrite)
    print(f"wrote {path} ({result.image.shape[-1]}x{result.image.shape[-2]} px, {result.steps_done} steps, "
          f"loss {result.history['total'][-1]:.4g}, {result.seconds:.1f} s)")
    return 0


def _fetch(args: argparse.Namespace) -> int:
    from nstlib.weights import fetch_weights

    path = fetch_weights(args.arch)
    print(f"weights ready: {path}")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    warnings.simplefilter("ignore", UserWarning)
    try:
        return {"stylize": _stylize, "fetch-weights": _fetch}[args.command](args)
    except NSTError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("interrupted; nothing was written", file=sys.stderr)
        return EXIT_INTERRUPTED
    except MemoryError:
        print("error: out of memory; try a smaller --size", file=sys.stderr)
        return EXIT_ERROR
