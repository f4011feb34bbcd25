"""The lessons as committed: outputs stripped, quick mode and the random-weights notice through
nst.lesson_setup, exercises checked by nstlib.course.check, and a README row for every lesson."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def _source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def test_the_course_is_all_there() -> None:
    numbers = [int(p.name[:2]) for p in NOTEBOOKS]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) >= 7


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path: Path) -> None:
    code = [c for c in _cells(path) if c["cell_type"] == "code"]
    dirty = [i for i, c in enumerate(code) if c.get("outputs") or c.get("execution_count") is not None]
    assert not dirty, f"{path.name}: code cells {dirty} hold outputs; run `jupyter nbconvert --clear-output --inplace`"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_lesson_shape(path: Path) -> None:
    cells = _cells(path)
    code = "\n".join(_source(c) for c in cells if c["cell_type"] == "code")
    text = "\n".join(_source(c) for c in cells if c["cell_type"] == "markdown")
    assert "import nstlib as nst" in code
    assert "nst.lesson_setup(" in code, "the parameters cell sets quick mode and shows the random-weights notice"
    assert "nst.check." in code, "exercises are checked by nstlib.course.check"
    assert "objectives" in text.lower() and "exercise" in text.lower() and "summary" in text.lower()


def test_readme_lists_every_lesson() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    missing = [p.stem for p in NOTEBOOKS if p.stem not in readme]
    assert not missing, f"README's lesson table lacks {missing}"
