"""The course as a learner runs it: every lesson notebook executed, seconds per notebook (nbclient)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from nstlib.course.files import imported_from

__all__ = ["run_notebooks"]


def run_notebooks(folder: Path, timeout: int = 900, mode: str = "quick") -> list[dict[str, Any]]:
    """Execute every ``*.ipynb`` in ``folder`` with nbclient; seconds per notebook.

    ``mode="quick"``: CI's quick mode (``NSTLIB_QUICK=1``, random weights). ``mode="laptop"``: as a learner
    runs the course on a CPU, at the sizes and steps each lesson chooses without quick mode, on HED's weights.
    """
    # nbformat and nbclient come with the test extra, not with nstlib: imported only when notebooks are run.
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    if mode not in ("quick", "laptop"):
        raise ValueError(f"mode must be 'quick' or 'laptop', got {mode!r}")
    here = imported_from()  # the kernel imports this same nstlib, installed or not
    path_env = os.pathsep.join(filter(None, [str(here) if here else None, os.environ.get("PYTHONPATH")]))
    env: dict[str, str | None] = {"NSTLIB_OFFLINE": "1", "MPLBACKEND": "Agg", "PYTHONPATH": path_env}
    env.update(
        {"NSTLIB_QUICK": "1", "NSTLIB_WEIGHTS": "random", "NSTLIB_SIZE": None}
        if mode == "quick"
        else {"NSTLIB_QUICK": None, "NSTLIB_WEIGHTS": "hed", "NSTLIB_SIZE": "laptop"}
    )
    saved = {k: os.environ.get(k) for k in env}
    for key, value in env.items():  # the kernel inherits this process's environment
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value
    rows = []
    try:
        for path in sorted(folder.glob("*.ipynb")):
            nb = nbformat.read(path, as_version=4)
            client = NotebookClient(
                nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(folder)}}
            )
            t = time.perf_counter()
            try:
                client.execute()
                status = "ok"
            except CellExecutionError as exc:
                status = f"error: {str(exc).strip().splitlines()[-1][:100]}"
            except Exception as exc:  # a kernel that dies or times out
                status = f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:100] if str(exc) else ''}"
            rows.append({"notebook": path.name, "seconds": time.perf_counter() - t, "status": status, "mode": mode})
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    return rows
