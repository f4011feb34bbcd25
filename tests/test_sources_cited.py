"""Learner-facing text cites the course's source documents by author and title, and every lesson ends with its
references.

The kit was written from five documents that arrived numbered, in a folder ``seeds/``. Learners do not have them, and
"seed" already means a random seed, so a lesson, solution, docstring or README never names a document by its number
(the word "seed" and three digits) or points into ``seeds/``: it cites the document as ``../shared/SOURCES.md`` says (M. M. I. Bhuiyan's thesis, the
KDAG blog post …) or the paper the document draws on. Each lesson's last cell, "## References", lists the works the
lesson draws on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))

# "seed" and a three-digit number ("Seeds … and …", "seed-…", "seed_…'s"): a source document by its number. "seed 0",
# "--seed 42" and "manual_seed(0)" are random seeds and do not match. (The examples in this file build the numbers at
# run time, so that grepping the kit for them finds nothing here either.)
SEED_NUMBER = re.compile(r"\bseeds?[ _-]?0\d\d\b", re.IGNORECASE)
SEEDS_FOLDER = re.compile(r"\bseeds/")
# A reference-list entry: a bullet (or number) and an italic title, e.g. "* S. Xie & Z. Tu. *Holistically-…*".
ENTRY = re.compile(r"^\s*(?:[*-]|\d+\.)\s+\S.*\*[^*\s][^*]*\*")


def learner_facing_files() -> list[Path]:
    """Every file a learner reads: the lessons, the solutions, the READMEs, BENCHMARKS.md and nstlib's source."""
    files = sorted((ROOT / "notebooks").glob("*.ipynb"))
    files += sorted(p for p in (ROOT / "solutions").iterdir() if p.is_file() and p.suffix in (".py", ".md"))
    files += [ROOT / "README.md", ROOT / "BENCHMARKS.md"]
    files += sorted((ROOT / "nstlib").rglob("*.py"))
    return [p for p in files if p.is_file()]


def _cell_source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def _lines(path: Path) -> Iterator[tuple[str, str]]:
    """(where, line) for every line a learner reads: a notebook's cell sources, any other file's lines."""
    if path.suffix == ".ipynb":
        cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
        for number, cell in enumerate(cells):
            for line_no, line in enumerate(_cell_source(cell).splitlines(), 1):
                yield f"cell {cell.get('id', number)}, line {line_no}", line
    else:
        for line_no, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            yield str(line_no), line


def _shown(path: Path) -> str:
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def seed_references(path: Path) -> list[str]:
    """``file:line: text`` for each line of ``path`` that names a source document by number or its folder."""
    return [
        f"{_shown(path)}:{where}: {line.strip()}"
        for where, line in _lines(path)
        if SEED_NUMBER.search(line) or SEEDS_FOLDER.search(line)
    ]


def references_problem(path: Path) -> str | None:
    """What is wrong with the notebook's references (None when its last cell is a "## References" list)."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    headed = [c for c in cells if c["cell_type"] == "markdown" and _first_line(c) == "## References"]
    if not cells:
        return "the notebook has no cells"
    last = cells[-1]
    if last["cell_type"] != "markdown":
        return f"the last cell is a {last['cell_type']} cell; the lesson should end with a '## References' cell"
    if _first_line(last) != "## References":
        return f"the last cell starts with {_first_line(last)!r}, not with the heading '## References'"
    if len(headed) != 1:
        return f"{len(headed)} cells are headed '## References'; keep one, the last"
    if not any(ENTRY.match(line) for line in _cell_source(last).splitlines()[1:]):
        return "the References cell names no work (a bullet with the author and the *title*)"
    return None


def _first_line(cell: dict) -> str:
    text = _cell_source(cell).strip()
    return text.splitlines()[0].strip() if text else ""


# --------------------------------------------------------------------------------------------------- the kit itself
@pytest.mark.parametrize("path", learner_facing_files(), ids=_shown)
def test_sources_are_cited_by_author_and_title(path: Path) -> None:
    hits = seed_references(path)
    assert not hits, (
        "learner-facing text names a source document by its number; cite it by author and title as "
        "shared/SOURCES.md says (or the paper it draws on), and keep 'seed' for random seeds:\n" + "\n".join(hits)
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_each_lesson_ends_with_its_references(path: Path) -> None:
    problem = references_problem(path)
    assert problem is None, f"{path.name}: {problem}"


def test_the_scan_covers_every_kind_of_learner_facing_file() -> None:
    shown = {_shown(p) for p in learner_facing_files()}
    assert {"README.md", "solutions/lesson05.py", "nstlib/loss/functional.py"} <= shown
    assert {_shown(p) for p in NOTEBOOKS} <= shown and len(NOTEBOOKS) >= 7


# ------------------------------------------------------------------------------------- the checks can fail
def _doc(n: int) -> str:
    """A document's number as the folder spells it: 3 → "003"."""
    return f"{n:03d}"


@pytest.mark.parametrize(
    "text, found",
    [
        (f"as seed {_doc(3)} says, swap the images", True),
        (f"Seeds {_doc(0)} and {_doc(2)} write the objective as", True),
        (f"the loss (seed-{_doc(4)}) adds the activations", True),
        (f"see seeds/{_doc(4)}_blog.md", True),
        ("Gatys et al. start from white noise (seed 0, then seed 1)", False),
        ("torch.manual_seed(0); nst.stylize(..., seed=123); --seed 42", False),
        ("two seeds, one loss", False),
    ],
)
def test_the_scan_finds_a_source_document_named_by_number(tmp_path: Path, text: str, found: bool) -> None:
    path = tmp_path / "lesson.md"
    path.write_text(f"# A lesson\n\n{text}\n", encoding="utf-8")
    hits = seed_references(path)
    assert hits == ([f"{path}:3: {text}"] if found else [])


def _notebook(tmp_path: Path, cells: list[tuple[str, str]]) -> Path:
    path = tmp_path / "01_lesson.ipynb"
    nb = {
        "cells": [
            {"cell_type": kind, "id": f"l01-{i}", "metadata": {}, "source": text.splitlines(keepends=True)}
            | ({"execution_count": None, "outputs": []} if kind == "code" else {})
            for i, (kind, text) in enumerate(cells)
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    path.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    return path


def test_the_scan_reads_notebook_cells(tmp_path: Path) -> None:
    text = f"The loss of seed {_doc(3)}."
    path = _notebook(tmp_path, [("markdown", f"# Lesson\n\n{text}"), ("code", "x = 1  # seed 0")])
    assert seed_references(path) == [f"{path}:cell l01-0, line 3: {text}"]


REFERENCES = "## References\n\n* L. A. Gatys, A. S. Ecker & M. Bethge. *A Neural Algorithm of Artistic Style*. 2015."


@pytest.mark.parametrize(
    "cells, problem",
    [
        ([("markdown", "# Lesson"), ("markdown", REFERENCES)], None),
        ([("markdown", REFERENCES), ("markdown", "## Summary")], "not with the heading '## References'"),
        ([("markdown", REFERENCES), ("code", "print(1)")], "the last cell is a code cell"),
        ([("markdown", "# Lesson"), ("markdown", "## References\n\nTo do.")], "names no work"),
        ([("markdown", REFERENCES), ("markdown", REFERENCES)], "2 cells are headed '## References'"),
    ],
)
def test_the_references_check_names_what_is_wrong(
    tmp_path: Path, cells: list[tuple[str, str]], problem: str | None
) -> None:
    found = references_problem(_notebook(tmp_path, cells))
    if problem is None:
        assert found is None
    else:
        assert found is not None and problem in found
