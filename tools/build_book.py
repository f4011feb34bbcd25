"""Build the course as a static book: every lesson executed, rendered with its outputs, one site to read offline.

    make book                                  # laptop size on the best weights this machine has
    python tools/build_book.py --quick         # tiny sizes (what `make test` builds and opens in Chromium)
    python tools/build_book.py --lessons 03 05 # some lessons only (the others keep no page)

Steps: (1) execute each lesson with nbclient in a scratch copy of notebooks/ and images/, so that nothing a learner
saved under notebooks/outputs is touched, with ``NSTLIB_OFFLINE=1`` so that the lessons take the best network that is
already on this machine (torchvision's ImageNet VGG-19 when it is cached, HED's VGG-16 otherwise); an executed lesson
is reused while the lesson, nstlib, the images and the mode are unchanged (``--rerun`` executes again). (2) Render each
with nbconvert's JupyterLab template (tools/book/templates/nstbook): the pages look like the notebooks in JupyterLab,
figures are files, and the formulas are converted to MathML at build time (latex2mathml), which browsers draw
themselves: the site needs no script from a CDN and reads offline, from ``file://``. (3) A landing page with the
gallery, the course map and how to run the lessons, previous/next links and a search box over every section.
(4) Check the site: every link, anchor and image resolves, nothing is fetched from the network, no TeX is left.
The site is built next to the old one and swapped in only when it is complete.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
from book_site import check_site, jupyterlab_css, lesson_page, render_landing, search_entries

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"
TIMES = Path(__file__).with_name("book") / "times.json"  # the landing page's reference times (--record-times)
MARKER = ".nst-kit-book"  # a folder with this file is a book this tool built: it may replace it
MODES = ("quick", "laptop", "paper")


def lessons(selected: list[str] | None = None) -> list[Path]:
    """The lessons, ``NN_name.ipynb`` in order; ``selected`` keeps those whose number or name is listed."""
    found = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if not selected:
        return found
    keep = [p for p in found if any(p.stem == s or p.stem.split("_")[0] == s.zfill(2) for s in selected)]
    unknown = [s for s in selected if not any(p.stem == s or p.stem.split("_")[0] == s.zfill(2) for p in found)]
    if unknown:
        raise SystemExit(f"no lesson called {', '.join(unknown)}: the lessons are {', '.join(p.stem for p in found)}")
    return keep


def machine() -> str:
    """The CPU in words (and the GPU, if torch sees one): the times on the landing page were measured there."""
    cpu = platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    text = f"{cpu}, {os.cpu_count()} cores"
    try:
        import torch

        if torch.cuda.is_available():
            text += f", {torch.cuda.get_device_name(0)}"
    except ImportError:
        pass
    return text


def kernel_environment(mode: str, weights: str | None, online: bool) -> dict[str, str]:
    """The environment the lessons' kernels run in: the mode, the weights, nstlib from this checkout."""
    env = dict(os.environ)
    for name in (
        "NSTLIB_QUICK",
        "NSTLIB_SIZE",
        "NSTLIB_WEIGHTS",
        "NSTLIB_OFFLINE",
        "NSTLIB_STRICT_CLAIMS",
        "MPLBACKEND",
    ):
        env.pop(name, None)  # MPLBACKEND=Agg would hide every figure from the kernel's inline backend
    if mode == "quick":
        env["NSTLIB_QUICK"] = "1"
    else:
        env["NSTLIB_SIZE"] = mode
    if weights:
        env["NSTLIB_WEIGHTS"] = weights
    if not online:
        env["NSTLIB_OFFLINE"] = "1"
    env["TQDM_DISABLE"] = "1"  # progress bars are widgets: in a static page they are only noise
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p and Path(p).resolve() != ROOT]
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT)] + paths)
    return env


def cache_key(lesson: Path, mode: str, env: dict[str, str]) -> str:
    """What an executed lesson depends on: its text, nstlib's code and data, the images, the mode and weights."""
    digest = hashlib.sha256()
    files = [lesson] + sorted((ROOT / "nstlib").rglob("*.py")) + sorted((ROOT / "images").glob("*"))
    files += sorted((ROOT / "nstlib" / "weights" / "transfer_nets").glob("*"))
    for path in files:
        if path.is_file():
            name = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path.name
            digest.update(str(name).encode() + b"\0" + path.read_bytes())
    for name in ("NSTLIB_QUICK", "NSTLIB_SIZE", "NSTLIB_WEIGHTS", "NSTLIB_OFFLINE"):
        digest.update(f"{name}={env.get(name, '')}\0".encode())
    digest.update(mode.encode())
    return digest.hexdigest()[:16]


def execute(lesson: Path, work: Path, env: dict[str, str], timeout: int, log: Path) -> tuple[Any, float]:
    """Run every cell of ``lesson`` in a fresh kernel, in the scratch copy ``work``; the notebook and its seconds.

    What the cells print goes into the notebook; the kernel's own messages (its start-up, a crash) go to ``log``."""
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

    nb = nbformat.read(lesson, as_version=4)
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(env)  # the kernel inherits this process's environment
    start = time.perf_counter()
    try:
        client = NotebookClient(
            nb,
            timeout=timeout,
            kernel_name="python3",
            resources={"metadata": {"path": str(work / "notebooks")}},
            extra_arguments=["--IPKernelApp.log_level=ERROR"],  # not its warning about TCP on this machine's loopback
        )
        with log.open("w") as kernel_log:
            client.execute(stdout=kernel_log, stderr=kernel_log)
    except CellExecutionError as error:
        first = re.sub(r"\x1b\[[0-9;]*m", "", str(error)).strip().splitlines()  # without the colour codes
        raise SystemExit(f"\n{lesson.name} failed while building the book:\n" + "\n".join(first[-12:])) from None
    except CellTimeoutError:
        raise SystemExit(
            f"\n{lesson.name}: a cell ran longer than {timeout} s (--timeout); the last complete site is unchanged"
        ) from None
    except DeadKernelError:
        raise SystemExit(
            f"\n{lesson.name}: the kernel died (out of memory?): its messages are in {log}; try a smaller --mode, "
            "or close other programs"
        ) from None
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return nb, time.perf_counter() - start


def scratch_copy(work: Path) -> None:
    """notebooks/ and images/ as the lessons see them (``../images``), in a folder the build owns."""
    if work.exists():
        shutil.rmtree(work)
    (work / "notebooks").mkdir(parents=True)
    shutil.copytree(ROOT / "images", work / "images")


def executed_lessons(args: argparse.Namespace, out: Path) -> list[tuple[Path, Any, dict[str, Any]]]:
    """Each lesson executed (or its cached execution when nothing it depends on changed), with its timing."""
    env = kernel_environment(args.mode, args.weights, args.online)
    cache = out / "executed" / args.mode
    cache.mkdir(parents=True, exist_ok=True)
    work = out / "run"
    where = machine()
    results = []
    for lesson in lessons(args.lessons):
        key = cache_key(lesson, args.mode, env)
        cached = cache / lesson.name
        if cached.exists() and not args.rerun:
            try:
                nb = nbformat.read(cached, as_version=4)
                info = nb.metadata.get("nst_book", {})
            except Exception:  # an unreadable earlier run is simply run again
                info = {}
            if info.get("key") == key:
                print(f"  {lesson.stem}: unchanged, reusing its run of {info['seconds']:.0f} s", flush=True)
                results.append((lesson, nb, info))
                continue
        print(f"  {lesson.stem}: executing ({args.mode}) ...", end="", flush=True)
        scratch_copy(work)
        (out / "logs").mkdir(exist_ok=True)
        nb, seconds = execute(lesson, work, env, args.timeout, out / "logs" / f"{lesson.stem}.log")
        info = {
            "key": key,
            "seconds": round(seconds, 1),
            "mode": args.mode,
            "machine": where,
            "date": time.strftime("%Y-%m-%d"),
        }
        nb.metadata["nst_book"] = info
        tmp = cached.with_suffix(".partial")
        nbformat.write(nb, tmp)
        tmp.replace(cached)
        print(f" {seconds:.0f} s", flush=True)
        results.append((lesson, nb, info))
    if work.exists():
        shutil.rmtree(work)
    return results


def prepare_out(out: Path) -> None:
    """Refuse to build into a folder that holds something else: nothing a user had is overwritten."""
    if out.exists() and any(out.iterdir()) and not (out / MARKER).exists():
        raise SystemExit(f"{out} exists and is not a book this tool built; choose another --out, or empty it")
    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_text("built by tools/build_book.py; `make book` replaces what is in here\n")


def size_of(folder: Path) -> tuple[int, int]:
    files = [p for p in folder.rglob("*") if p.is_file()]
    return len(files), sum(p.stat().st_size for p in files)


def reference_times() -> dict[str, Any]:
    return dict(json.loads(TIMES.read_text())) if TIMES.exists() else {}


def record_times(runs: list[tuple[Path, Any, dict[str, Any]]], mode: str) -> None:
    """Keep this build's times as the landing page's reference for its kind of machine (``--record-times``)."""
    times = reference_times()
    kind = "gpu" if mode == "paper" else mode
    times[kind] = {
        "machine": runs[0][2]["machine"],
        "date": time.strftime("%Y-%m-%d"),
        "seconds": {lesson.stem: info["seconds"] for lesson, _, info in runs},
    }
    TIMES.write_text(json.dumps(times, indent=1, ensure_ascii=False) + "\n")
    print(f"recorded these times as the {kind} reference in {TIMES}")


def build(args: argparse.Namespace) -> Path:
    out = Path(args.out).resolve()
    prepare_out(out)
    start = time.perf_counter()
    print(f"Building the book in {args.mode} mode into {out}", flush=True)
    runs = executed_lessons(args, out)
    executed_at = time.perf_counter()
    site, partial = out / "site", out / "site.partial"
    if partial.exists():
        shutil.rmtree(partial)
    partial.mkdir()
    shutil.copytree(Path(__file__).with_name("book") / "static", partial / "static")
    (partial / "notebooks").mkdir()
    jupyterlab_css(partial)
    pages = [lesson_page(lesson, nb, info) for lesson, nb, info in runs]
    entries: list[dict[str, str]] = []
    for i, page in enumerate(pages):
        html = page.render(pages, i)
        (partial / page.filename).write_text(html, encoding="utf-8")
        for name, data in page.files.items():
            (partial / name).parent.mkdir(parents=True, exist_ok=True)
            (partial / name).write_bytes(data)
        shutil.copy(page.source, partial / page.download)
        entries += search_entries(page.filename, page.title, html)
    landing = render_landing(pages, reference_times(), args.mode, ROOT / "gallery", partial)
    (partial / "index.html").write_text(landing, encoding="utf-8")
    (partial / "static" / "search_index.js").write_text(
        "window.BOOK_SEARCH = " + json.dumps(entries, ensure_ascii=False) + ";\n", encoding="utf-8"
    )
    problems = check_site(partial)
    if problems:
        raise SystemExit("the book has broken parts (the old site, if any, is kept):\n  " + "\n  ".join(problems))
    if site.exists():
        shutil.rmtree(site)
    partial.replace(site)
    if args.record_times and args.mode != "quick":
        record_times(runs, args.mode)
    files, size = size_of(site)
    total = time.perf_counter() - start
    print(
        f"Built {len(pages)} lessons and the landing page in {total:.0f} s (executing {executed_at - start:.0f} s, "
        f"rendering {total - (executed_at - start):.0f} s): {files} files, {size / 1e6:.1f} MB.\n"
        f"Open {site / 'index.html'} in a browser (it needs no network)."
    )
    return site


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mode", choices=MODES, default="laptop", help="the lessons' size (default: laptop)")
    parser.add_argument("--quick", dest="mode", action="store_const", const="quick", help="the same as --mode quick")
    parser.add_argument("--out", default=str(ROOT / "build" / "book"), help="build folder (default: build/book)")
    parser.add_argument("--lessons", nargs="*", help="lesson numbers or names (default: all)")
    parser.add_argument("--weights", help="NSTLIB_WEIGHTS for the lessons (default: the best this machine has)")
    parser.add_argument("--online", action="store_true", help="let the lessons download ImageNet weights")
    parser.add_argument("--rerun", action="store_true", help="execute every lesson again, even when unchanged")
    parser.add_argument("--timeout", type=int, default=3600, help="seconds one cell may take (default: 3600)")
    parser.add_argument("--record-times", action="store_true", help="keep this build's times as the reference")
    args = parser.parse_args(argv)
    try:
        build(args)
    except KeyboardInterrupt:
        print("\ninterrupted: the site that was there before is unchanged", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
