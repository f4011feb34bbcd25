"""Every ``>>>`` example in nstlib's docstrings runs, and prints what the docstring says it prints.

The examples run in a scratch folder that holds the course's images/ (as a link), so that an example may
load ``images/chelsea.jpg`` and write ``outputs/result.png`` without touching the checkout.
"""

from __future__ import annotations

import doctest
import importlib
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
MODULES = sorted(
    ".".join(
        p.relative_to(ROOT).with_suffix("").parts[:-1]
        if p.name == "__init__.py"
        else p.relative_to(ROOT).with_suffix("").parts
    )
    for p in (ROOT / "nstlib").rglob("*.py")
    if p.name != "__main__.py"
)
FINDER = doctest.DocTestFinder(exclude_empty=True)


def examples(name: str) -> list[doctest.DocTest]:
    module = importlib.import_module(name)
    found = [t for t in FINDER.find(module) if t.examples]
    # DocTestFinder also walks names a module imported from elsewhere; each example belongs to its own module.
    return [t for t in found if t.name.startswith(name)]


def test_the_examples_are_found():
    found = {name: len(examples(name)) for name in MODULES}
    assert sum(found.values()) >= 20, found
    for public in ("nstlib", "nstlib.loss.functional", "nstlib.net.layers", "nstlib.optim.memory"):
        assert found[public], f"{public} has no docstring example"


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, tmp_path, monkeypatch):
    tests = examples(name)
    if not tests:
        pytest.skip(f"{name} has no examples")
    (tmp_path / "images").symlink_to(ROOT / "images")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NSTLIB_WEIGHTS", "random")
    monkeypatch.setenv("NSTLIB_COURSE", "")  # unset for nstlib (course.files sets it in its example); restored after
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    failures = []
    for test in tests:
        test.globs.setdefault("torch", torch)
        test.globs.setdefault("nst", importlib.import_module("nstlib"))
        torch.manual_seed(0)
        outcome = runner.run(test, out=failures.append)
        assert outcome.attempted, test.name
    assert not failures, "".join(failures)
