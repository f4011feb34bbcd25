"""Where the course's files are: the *course folder*, the one holding solutions/, images/ and notebooks/.

``pip install`` installs the nstlib package alone; the lessons, their pictures and the model answers stay in
the nst-kit folder a learner downloaded. Code that needs one of them (a checker showing its model answer, the
gallery, the benchmarks) asks :func:`course_folder` at the moment it needs it, never at import time, so that
``import nstlib`` works anywhere. (Files that belong to the package itself would be read through
:mod:`importlib.resources`; the course's files do not, so they are looked for here.)

    >>> import os
    >>> os.environ["NSTLIB_COURSE"] = str(imported_from())   # here: the checkout nstlib runs from
    >>> (course_folder() / "solutions" / "lesson01.py").is_file()
    True
    >>> del os.environ["NSTLIB_COURSE"]
"""

from __future__ import annotations

import importlib.resources
import os
from pathlib import Path

from nstlib.errors import InputError

__all__ = ["course_folder", "imported_from", "COURSE_PARTS"]

# A folder is the course folder when it holds all three (one alone, e.g. an images/ folder in your home, is not).
COURSE_PARTS = ("solutions", "images", "notebooks")


def _is_course_folder(folder: Path) -> bool:
    return all((folder / part).is_dir() for part in COURSE_PARTS)


def imported_from() -> Path | None:
    """The folder the running nstlib package was imported from, the one holding ``nstlib/``: a source checkout,
    site-packages, or a ``pip install --target`` folder; None when nstlib is not a plain folder (a zip file).

    A child process started with this folder on its ``PYTHONPATH`` imports this same nstlib.
    """
    package = importlib.resources.files("nstlib")
    return package.parent if isinstance(package, Path) else None


def course_folder() -> Path:
    """The course folder, the first found of:

    1. ``$NSTLIB_COURSE``, when it is set (it must hold solutions/, images/ and notebooks/);
    2. the current directory or one of the folders above it (the lessons run with notebooks/ as the current
       directory, so they find the folder above);
    3. the source checkout nstlib was imported from, if it is one (``PYTHONPATH=<checkout>`` or
       ``pip install -e <checkout>``).

    Looked up afresh on every call (a few ``stat`` calls). Raises :class:`~nstlib.errors.InputError`, saying to
    set ``NSTLIB_COURSE``, when none of them is a course folder.
    """
    asked = os.environ.get("NSTLIB_COURSE", "").strip()
    if asked:
        folder = Path(asked).expanduser().resolve()
        if not _is_course_folder(folder):
            missing = ", ".join(f"{part}/" for part in COURSE_PARTS if not (folder / part).is_dir())
            raise InputError(
                f"NSTLIB_COURSE={asked!r} is not nst-kit's course folder ({missing} missing there): "
                "set NSTLIB_COURSE to the nst-kit folder that holds solutions/, images/ and notebooks/."
            )
        return folder
    here = Path.cwd().resolve()
    for folder in (here, *here.parents):
        if _is_course_folder(folder):
            return folder
    checkout = imported_from()
    if checkout is not None and _is_course_folder(checkout):
        return checkout
    raise InputError(
        f"nst-kit's course folder (the one holding solutions/, images/ and notebooks/) is not '{here}', "
        "nor any folder above it, nor the folder nstlib was imported from: set NSTLIB_COURSE to it, "
        "e.g. `export NSTLIB_COURSE=~/nst-kit`, or in Python "
        "`os.environ['NSTLIB_COURSE'] = '/path/to/nst-kit'`."
    )
